"""Nova (compute v2.1): the service declaration and its version documents.

The API is split by concern, all on `compute_common.bp`:
    compute_misc.py     flavors, keypairs, limits, os-quota-sets
    compute_create.py   POST /servers: validation before the boot
    compute_servers.py  servers (view, list/show/update/delete)
    compute_meta.py     server metadata and tags
    compute_actions.py  POST /servers/<id>/action and os-volume_attachments
    servers_backend.py  the containers behind the servers (worker pool, snapshots)

Microversions 2.1 to 2.79 are accepted; the response shapes that changed in that
range and that clients read (embedded flavor at 2.47, tags at 2.26, createImage's
body at 2.45, ...) follow the requested version.
"""

from __future__ import annotations

from typing import cast

from flask import Flask, Response

from cloudhp_localcloud import (
    auth,
    compute_actions,  # noqa: F401  (registers routes)
    compute_create,  # noqa: F401  (registers routes)
    compute_meta,  # noqa: F401  (registers routes)
    compute_misc,  # noqa: F401  (registers routes)
    compute_servers,
    daemon,
    faults,
    servers_backend,
)
from cloudhp_localcloud.catalog import (
    Microversion,
    Service,
    version_entry,
    version_response,
    versions_response,
)
from cloudhp_localcloud.compute_common import MAX_VERSION, MIN_VERSION, bp

SERVICE = Service(
    name="nova",
    types=("compute",),
    prefix="/compute",
    endpoint="/compute/v2.1",
    blueprint=bp,
    fault_style=faults.NOVA,
    microversion=Microversion(
        "compute", MIN_VERSION, MAX_VERSION, legacy_header="X-OpenStack-Nova-API-Version"
    ),
)

if servers_backend.reset_hook not in daemon.RESET_HOOKS:
    daemon.RESET_HOOKS.append(servers_backend.reset_hook)

bp.record_once(lambda state: compute_servers.on_startup(cast(Flask, state.app)))


def _v21() -> dict:
    entry = version_entry(
        "v2.1",
        "/compute/v2.1/",
        version=MAX_VERSION,
        min_version=MIN_VERSION,
        updated="2013-07-23T11:33:21Z",
    )
    entry["media-types"] = [
        {
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2.1",
        }
    ]
    return entry


@bp.get("")
@bp.get("/")
@auth.public
def versions() -> Response:
    return versions_response([_v21()], status=200)


@bp.get("/v2.1")
@bp.get("/v2.1/")
@auth.public
def version_v21() -> Response:
    return version_response(_v21())
