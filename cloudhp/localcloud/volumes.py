"""Cinder (Block Storage API v3) on loop devices: volumes, metadata, admin actions.

Mounted at /volume, advertised as /volume/v3/<project_id> under the types
"block-storage" and "volumev3" (as DevStack does), microversions 3.0-3.70. Quotas,
limits, types and zones are in volumes_quotas.py; files, loop devices and device
nodes in volumes_backend.py (read its docstring for how an attachment looks inside
a server, and how that differs from Cinder).

Statuses follow Cinder: creating -> available -> attaching -> in-use -> detaching ->
available, deleting; `error` only through os-reset_status. Creating and deleting are
synchronous here (a sparse file is instant), so clients that poll see the end state
at once. What compute calls is re-exported: attach_volume, detach_volume,
restore_server_devices. Not supported (400): volumes from images, snapshots or other
volumes; snapshots, backups, transfers, groups, multiattach.
"""

from __future__ import annotations

import ast
import json
import logging
import shutil
from typing import Any

from flask import Response, g, jsonify, request

from cloudhp.localcloud import auth, daemon, faults
from cloudhp.localcloud import volumes_backend as vb
from cloudhp.localcloud.catalog import (
    Microversion,
    Service,
    version_entry,
    version_response,
    versions_response,
)
from cloudhp.localcloud.config import LocalCloudConfig
from cloudhp.localcloud.store import Record, Store, current_store, utcnow
from cloudhp.localcloud.volumes_backend import (
    attach_volume,
    detach_volume,
    reconcile,
    restore_server_devices,
)
from cloudhp.localcloud.volumes_quotas import V, bp, check_project, check_quota, resolve_type

__all__ = ["SERVICE", "attach_volume", "detach_volume", "reconcile", "restore_server_devices"]

log = logging.getLogger(__name__)

VOLUME = "volume"
MICROVERSION = Microversion("volume", "3.0", "3.70")
SERVICE = Service(
    name="cinderv3",
    types=("block-storage", "volumev3"),
    prefix="/volume",
    endpoint="/volume/v3/{project_id}",
    blueprint=bp,
    fault_style=faults.CINDER,
    microversion=MICROVERSION,
)
_STATUSES = {
    "creating", "available", "attaching", "in-use", "detaching", "deleting", "error",
    "error_deleting", "error_extending", "reserved", "maintenance",
}  # fmt: skip
_DELETABLE = {"available", "error", "error_restoring", "error_extending", "error_managing"}
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
        if fixed := reconcile(s):
            log.info("restored %d volume attachment(s)", fixed)
    except Exception:
        log.exception("reconciling volume attachments failed")


# --- views ---------------------------------------------------------------------------


def volume_view(record: Record) -> dict[str, Any]:
    link = f"{request.host_url.rstrip('/')}/volume/v3/{record['project_id']}/volumes/{record['id']}"
    view = {
        "id": record["id"],
        "name": record["name"],
        "description": record.get("description"),
        "status": record["status"],
        "size": record["size"],
        "availability_zone": "nova",
        "created_at": record["created_at"].rstrip("Z") + ".000000",
        "updated_at": (record.get("updated_at") or record["created_at"]).rstrip("Z") + ".000000",
        "bootable": "true" if record.get("bootable") else "false",
        "encrypted": False,
        "multiattach": False,
        "metadata": dict(record.get("metadata", {})),
        "volume_type": record.get("volume_type", "__DEFAULT__"),
        "volume_type_id": record.get("volume_type_id"),
        "snapshot_id": None,
        "source_volid": None,
        "consistencygroup_id": None,
        "group_id": None,
        "provider_id": None,
        "attachments": list(record.get("attachments", [])),
        "user_id": record.get("user_id"),
        "os-vol-tenant-attr:tenant_id": record["project_id"],
        "os-vol-mig-status-attr:migstat": None,
        "os-vol-mig-status-attr:name_id": None,
        "replication_status": None,
        "migration_status": None,
        "shared_targets": False,
        "service_uuid": None,
        "cluster_name": None,
        "consumes_quota": True,
        "volume_image_metadata": None,
        "links": [{"href": link, "rel": "self"}, {"href": link, "rel": "bookmark"}],
    }
    if g.get("is_admin"):
        view["os-vol-host-attr:host"] = "localcloud@loop#loop"
    return view


def _get(s: Store, volume_id: str) -> Record:
    volume = s.get(VOLUME, volume_id, project_id=None if g.get("is_admin") else g.project_id)
    if volume is None:
        raise faults.NotFound(f"Volume {volume_id} could not be found.")
    return volume


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise faults.BadRequest("Invalid input received: Metadata must be a dict.")
    for key, val in value.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise faults.BadRequest("Invalid input received: Metadata keys must be 1-255 chars.")
        if not isinstance(val, str) or len(val) > 255:
            raise faults.BadRequest(
                f"Invalid input received: Metadata value for {key} must be a string of at "
                "most 255 characters."
            )
    return dict(value)


def _size(value: Any) -> int:
    try:
        size = int(value)
        if str(size) != str(value).strip() or size <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise faults.BadRequest(
            f"Invalid input received: Volume size '{value}' must be an integer and greater than 0."
        ) from None
    return size


# --- volumes -------------------------------------------------------------------------


@bp.post(f"{V}/volumes")
def create_volume(project_id: str) -> Response:
    check_project(project_id)
    body = faults.json_body("volume")["volume"]
    for unsupported in ("imageRef", "snapshot_id", "source_volid", "backup_id"):
        if body.get(unsupported):
            raise faults.BadRequest(
                f"Invalid input received: localcloud cannot create a volume from "
                f"{unsupported}; only empty volumes are supported."
            )
    size = _size(body.get("size"))
    vtype = resolve_type(body.get("volume_type"))
    s = current_store()
    with s.transaction():
        check_quota(s, g.project_id, 1, size)
        doc = {
            "description": body.get("description"),
            "size": size,
            "status": "creating",
            "attach_status": "detached",
            "metadata": _metadata(body.get("metadata")),
            "volume_type": vtype["name"],
            "volume_type_id": vtype["id"],
            "bootable": False,
            "attachments": [],
            "user_id": g.user_id,
            "updated_at": utcnow(),
            "lc_loop": None,
        }
        record = s.insert(VOLUME, doc, project_id=g.project_id, name=body.get("name"))
        path = vb.volume_path(s, record["id"])
        record = s.update(VOLUME, record["id"], {"lc_path": str(path)})
    try:
        vb.create_file(s, record["id"], size)
    except OSError as exc:
        log.error("creating volume file %s: %s", path, exc)
        s.update(VOLUME, record["id"], {"status": "error", "updated_at": utcnow()})
    else:
        s.update(VOLUME, record["id"], {"status": "available", "updated_at": utcnow()})
    response = jsonify({"volume": volume_view(record)})
    response.status_code = 202
    return response


def _filtered(records: list[Record]) -> list[Record]:
    args = request.args
    out = records
    if name := args.get("name"):
        out = [r for r in out if r.get("name") == name]
    if name_like := args.get("name~"):
        out = [r for r in out if name_like in (r.get("name") or "")]
    if status := args.get("status"):
        out = [r for r in out if r["status"] == status]
    if "metadata" in args:
        wanted = _parse_metadata_filter(args["metadata"])
        out = [r for r in out if all(r.get("metadata", {}).get(k) == v for k, v in wanted.items())]
    if marker := args.get("marker"):
        ids = [r["id"] for r in out]
        if marker not in ids:
            raise faults.BadRequest(f"Invalid input received: marker [{marker}] not found")
        out = out[ids.index(marker) + 1 :]
    if (limit := args.get("limit", type=int)) is not None:
        out = out[: max(limit, 0)]
    return out


def _parse_metadata_filter(text: str) -> dict[str, str]:
    """Cinder takes a Python-literal dict ("{'k': 'v'}"); JSON is accepted too."""
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    raise faults.BadRequest(f"Invalid input received: invalid metadata filter {text!r}")


def _listed() -> list[Record]:
    s = current_store()
    all_tenants = request.args.get("all_tenants", "0").lower() in ("1", "true")
    if g.get("is_admin") and all_tenants:
        return s.list(VOLUME)
    return s.list(VOLUME, project_id=g.project_id)


@bp.get(f"{V}/volumes")
def list_volumes(project_id: str) -> Response:
    check_project(project_id)
    out = []
    for record in _filtered(_listed()):
        view = volume_view(record)
        out.append({"id": view["id"], "name": view["name"], "links": view["links"]})
    return jsonify({"volumes": out})


@bp.get(f"{V}/volumes/detail")
def list_volumes_detail(project_id: str) -> Response:
    check_project(project_id)
    return jsonify({"volumes": [volume_view(r) for r in _filtered(_listed())]})


@bp.get(f"{V}/volumes/<volume_id>")
def show_volume(project_id: str, volume_id: str) -> Response:
    check_project(project_id)
    return jsonify({"volume": volume_view(_get(current_store(), volume_id))})


@bp.put(f"{V}/volumes/<volume_id>")
def update_volume(project_id: str, volume_id: str) -> Response:
    check_project(project_id)
    s = current_store()
    record = _get(s, volume_id)
    body = faults.json_body("volume")["volume"]
    changes: dict[str, Any] = {"updated_at": utcnow()}
    for key in ("name", "description", "display_name", "display_description"):
        if key in body:
            changes[key.removeprefix("display_")] = body[key]
    if "metadata" in body:
        changes["metadata"] = _metadata(body["metadata"])
    record = s.update(VOLUME, record["id"], changes)
    return jsonify({"volume": volume_view(record)})


@bp.delete(f"{V}/volumes/<volume_id>")
def delete_volume(project_id: str, volume_id: str) -> Response:
    check_project(project_id)
    s = current_store()
    with s.transaction():
        record = _get(s, volume_id)
        if record["status"] not in _DELETABLE or record.get("attachments"):
            raise faults.BadRequest(
                "Invalid volume: Volume status must be available or error or error_restoring "
                "or error_extending or error_managing and must not be migrating, attached, "
                "belong to a group, have snapshots, awaiting a transfer, or be disassociated "
                "from snapshots after volume transfer."
            )
        s.update(VOLUME, volume_id, {"status": "deleting", "updated_at": utcnow()})
    vb.release(record, None)
    vb.delete_file(s, volume_id)
    s.delete(VOLUME, volume_id)
    return Response(status=202)


# --- metadata ------------------------------------------------------------------------


@bp.get(f"{V}/volumes/<volume_id>/metadata")
def show_metadata(project_id: str, volume_id: str) -> Response:
    check_project(project_id)
    return jsonify({"metadata": _get(current_store(), volume_id).get("metadata", {})})


@bp.post(f"{V}/volumes/<volume_id>/metadata")
@bp.put(f"{V}/volumes/<volume_id>/metadata")
def set_metadata(project_id: str, volume_id: str) -> Response:
    """POST merges, PUT replaces, as in Cinder."""
    check_project(project_id)
    s = current_store()
    new = _metadata(faults.json_body().get("metadata"))
    with s.transaction():
        record = _get(s, volume_id)
        merged = {**record.get("metadata", {}), **new} if request.method == "POST" else new
        s.update(VOLUME, volume_id, {"metadata": merged, "updated_at": utcnow()})
    return jsonify({"metadata": merged})


@bp.get(f"{V}/volumes/<volume_id>/metadata/<key>")
def show_metadata_item(project_id: str, volume_id: str, key: str) -> Response:
    check_project(project_id)
    metadata = _get(current_store(), volume_id).get("metadata", {})
    if key not in metadata:
        raise faults.NotFound(f"Volume {volume_id} has no metadata with key {key}.")
    return jsonify({"meta": {key: metadata[key]}})


@bp.put(f"{V}/volumes/<volume_id>/metadata/<key>")
def set_metadata_item(project_id: str, volume_id: str, key: str) -> Response:
    check_project(project_id)
    meta = _metadata(faults.json_body("meta")["meta"])
    if list(meta) != [key]:
        raise faults.BadRequest("Request body and URI mismatch")
    s = current_store()
    with s.transaction():
        record = _get(s, volume_id)
        s.update(VOLUME, volume_id, {"metadata": {**record.get("metadata", {}), **meta}})
    return jsonify({"meta": meta})


@bp.delete(f"{V}/volumes/<volume_id>/metadata/<key>")
def delete_metadata_item(project_id: str, volume_id: str, key: str) -> Response:
    check_project(project_id)
    s = current_store()
    with s.transaction():
        record = _get(s, volume_id)
        metadata = dict(record.get("metadata", {}))
        if key not in metadata:
            raise faults.NotFound(f"Volume {volume_id} has no metadata with key {key}.")
        del metadata[key]
        s.update(VOLUME, volume_id, {"metadata": metadata, "updated_at": utcnow()})
    return Response(status=200)


# --- actions -------------------------------------------------------------------------


def _admin(action: str) -> None:
    if not g.get("is_admin"):
        raise faults.Forbidden(
            f"Policy doesn't allow volume_extension:volume_admin_actions:{action} to be performed."
        )


def _reset_status(s: Store, record: Record, args: dict[str, Any]) -> Response:
    _admin("reset_status")
    changes: dict[str, Any] = {"updated_at": utcnow()}
    if "status" in args:
        if args["status"] not in _STATUSES:
            raise faults.BadRequest(f"Invalid input received: status {args['status']!r}")
        changes["status"] = args["status"]
    if "attach_status" in args:
        if args["attach_status"] not in ("attached", "detached"):
            raise faults.BadRequest("Invalid input received: attach_status must be "
                                    "'attached' or 'detached'")  # fmt: skip
        changes["attach_status"] = args["attach_status"]
    s.update(VOLUME, record["id"], changes)
    return Response(status=202)


def _force_detach(s: Store, record: Record, args: dict[str, Any]) -> Response:
    """Admin cleanup: undo every attachment (or one) whatever the server's state."""
    _admin("force_detach")
    wanted = args.get("attachment_id")
    keep = []
    for attachment in record.get("attachments", []):
        if wanted and attachment["attachment_id"] != wanted:
            keep.append(attachment)
            continue
        vb.remove_node(attachment["server_id"], attachment["device"])
    if wanted and len(keep) == len(record.get("attachments", [])):
        raise faults.NotFound(f"Attachment {wanted} could not be found.")
    if not keep:
        vb.release(record, None)
    s.update(
        VOLUME,
        record["id"],
        {"attachments": keep, "status": "in-use" if keep else "available",
         "attach_status": "attached" if keep else "detached",
         "lc_loop": record.get("lc_loop") if keep else None, "updated_at": utcnow()},
    )  # fmt: skip
    return Response(status=202)


def _extend(s: Store, record: Record, args: dict[str, Any]) -> Response:
    new_size = _size(args.get("new_size"))
    if record["status"] != "available":
        raise faults.BadRequest(
            f"Invalid volume: Volume {record['id']} status must be 'available' to extend, "
            f"currently {record['status']}."
        )
    if new_size <= record["size"]:
        raise faults.BadRequest(
            "Invalid input received: New size for extend must be greater than current size. "
            f"(current: {record['size']}, extended: {new_size})."
        )
    with s.transaction():
        check_quota(s, record["project_id"], 0, new_size - record["size"])
        vb.create_file(s, record["id"], new_size)
        s.update(VOLUME, record["id"], {"size": new_size, "updated_at": utcnow()})
    return Response(status=202)


def _set_bootable(s: Store, record: Record, args: dict[str, Any]) -> Response:
    value = str(args.get("bootable", "")).lower()
    if value not in ("true", "false"):
        raise faults.BadRequest("Invalid input received: bootable must be true or false")
    s.update(VOLUME, record["id"], {"bootable": value == "true"})
    return Response(status=200)


_ACTIONS = {
    "os-reset_status": _reset_status,
    "os-force_detach": _force_detach,
    "os-extend": _extend,
    "os-set_bootable": _set_bootable,
}


@bp.post(f"{V}/volumes/<volume_id>/action")
def volume_action(project_id: str, volume_id: str) -> Response:
    check_project(project_id)
    body = faults.json_body()
    if len(body) != 1:
        raise faults.BadRequest("Malformed request body")
    name, args = next(iter(body.items()))
    handler = _ACTIONS.get(name)
    if handler is None:
        raise faults.BadRequest(f"There is no such action: {name}")
    s = current_store()
    return handler(s, _get(s, volume_id), args if isinstance(args, dict) else {})


# --- reset ---------------------------------------------------------------------------


def reset_loop_devices(config: LocalCloudConfig) -> None:
    """Reset hook: free the loop devices backed by this data dir, then delete the files.

    Runs after compute's hook removed the server containers, so no device node is left
    pointing at a freed loop device.
    """
    vb.detach_all_loops(config.data_dir)
    shutil.rmtree(config.data_dir / "volumes", ignore_errors=True)


if reset_loop_devices not in daemon.RESET_HOOKS:
    daemon.RESET_HOOKS.append(reset_loop_devices)
