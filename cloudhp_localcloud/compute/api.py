"""Nova (compute v2.1): the service declaration and its version documents.

The API is split by concern, all on `common.bp`:
    misc.py        flavors, keypairs, limits, os-quota-sets
    create.py      POST /servers: validation before the boot
    servers.py     servers (view, list/show/update/delete)
    meta.py        server metadata and tags
    actions.py     POST /servers/<id>/action and os-volume_attachments
and the containers behind the servers:
    lifecycle.py   the worker pool: boot, power actions, delete, reconcile, reset
    power.py       power-state sync: records follow containers killed or frozen outside
    serverstate.py the states a record shows, and the per-server lock
    snapshots.py   createImage: commit plus a copy of the engine volume
    nodes.py       the Docker objects (names, client, node image, volume copies)

Microversions 2.1 to 2.79 are accepted; the response shapes that changed in that
range and that clients read (embedded flavor at 2.47, tags at 2.26, createImage's
body at 2.45, ...) follow the requested version.
"""

from __future__ import annotations

from flask import Response

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.catalog import (
    Microversion,
    Service,
    version_entry,
    version_response,
    versions_response,
)
from cloudhp_localcloud.compute import actions, create, meta, misc, servers
from cloudhp_localcloud.compute.common import MAX_VERSION, MIN_VERSION, bp
from cloudhp_localcloud.compute.lifecycle import remove_containers

# The route modules register on `bp` when imported; keep them referenced.
_ROUTES = (actions, create, meta, misc, servers)

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
    startup=servers.on_startup,
    reset=remove_containers,
)


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
