"""Cinder (Block Storage API v3) on loop devices: the service and its discovery.

Mounted at /volume, advertised as /volume/v3/<project_id> under the types
"block-storage" and "volumev3" (as DevStack does), microversions 3.0-3.70.

    volumes.py   the volume view and CRUD
    actions.py   metadata and actions (reset-status, force-detach, extend, bootable)
    quotas.py    the blueprint, quotas, limits, types, zones, shared checks
    backend.py   files, loop devices and device nodes (read its docstring for how an
                 attachment looks inside a server, and how that differs from Cinder)

What compute calls is backend.py's: attach_volume, detach_volume,
restore_server_devices. Not supported (400): volumes from images, snapshots or other
volumes; snapshots, backups, transfers, groups, multiattach.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from flask import Response

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.catalog import (
    Microversion,
    Service,
    version_entry,
    version_response,
    versions_response,
)
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.store import current_store
from cloudhp_localcloud.volume import actions, volumes
from cloudhp_localcloud.volume import backend as vb
from cloudhp_localcloud.volume.quotas import bp

log = logging.getLogger(__name__)

# The route modules register on `bp` when imported; keep them referenced.
_ROUTES = (volumes, actions)


def reset_loop_devices(config: LocalCloudConfig) -> None:
    """Reset: free the loop devices backed by this data dir, then delete the files.

    After compute's reset removed the server containers (registry.py), so no device
    node is left pointing at a freed loop device; before the networks'.
    """
    vb.detach_all_loops(config.data_dir)
    shutil.rmtree(config.data_dir / "volumes", ignore_errors=True)


MICROVERSION = Microversion("volume", "3.0", "3.70")
SERVICE = Service(
    name="cinderv3",
    types=("block-storage", "volumev3"),
    prefix="/volume",
    endpoint="/volume/v3/{project_id}",
    blueprint=bp,
    fault_style=faults.CINDER,
    microversion=MICROVERSION,
    reset=reset_loop_devices,
)
_reconciled: set[str] = set()


# --- discovery -----------------------------------------------------------------------


def _version() -> dict[str, Any]:
    entry = version_entry(
        "v3.0",
        "/volume/v3/",
        version=MICROVERSION.max_version,
        min_version=MICROVERSION.min_version,
    )
    media = {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
    entry["media-types"] = [media]
    return entry


@bp.get("")
@bp.get("/")
@auth.public
def versions() -> Response:
    return versions_response([_version()])


@bp.get("/v3")
@bp.get("/v3/")
@auth.public
def version_root() -> Response:
    return version_response(_version())


@bp.before_request
def _reconcile_once() -> None:
    """Rebind attachments lost while the daemon was down (first request only)."""
    s = current_store()
    if str(s.path) in _reconciled:
        return
    _reconciled.add(str(s.path))
    try:
        if fixed := vb.reconcile(s):
            log.info("restored %d volume attachment(s)", fixed)
    except Exception:
        log.exception("reconciling volume attachments failed")
