"""Cinder volume metadata and actions: reset-status, force-detach, extend, set-bootable.

Metadata follows Cinder: POST merges, PUT replaces, and one key can be read, set or
deleted at /metadata/<key>. Actions are POST /volumes/<id>/action with one key
naming the action; reset-status and force-detach are admin-only (403 otherwise).
Attach and detach are compute's (backend.py), not actions here.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.store import Record, Store, current_store, utcnow
from cloudhp_localcloud.volume import backend as vb
from cloudhp_localcloud.volume.quotas import (
    VOLUME,
    V,
    bp,
    check_project,
    check_quota,
    get_volume,
    valid_metadata,
    valid_size,
)

_STATUSES = {
    "creating", "available", "attaching", "in-use", "detaching", "deleting", "error",
    "error_deleting", "error_extending", "reserved", "maintenance",
}  # fmt: skip


# --- metadata ------------------------------------------------------------------------


@bp.get(f"{V}/volumes/<volume_id>/metadata")
def show_metadata(project_id: str, volume_id: str) -> Response:
    check_project(project_id)
    return jsonify({"metadata": get_volume(current_store(), volume_id).get("metadata", {})})


@bp.post(f"{V}/volumes/<volume_id>/metadata")
@bp.put(f"{V}/volumes/<volume_id>/metadata")
def set_metadata(project_id: str, volume_id: str) -> Response:
    """POST merges, PUT replaces, as in Cinder."""
    check_project(project_id)
    s = current_store()
    new = valid_metadata(faults.json_body().get("metadata"))
    with s.transaction():
        record = get_volume(s, volume_id)
        merged = {**record.get("metadata", {}), **new} if request.method == "POST" else new
        s.update(VOLUME, volume_id, {"metadata": merged, "updated_at": utcnow()})
    return jsonify({"metadata": merged})


@bp.get(f"{V}/volumes/<volume_id>/metadata/<key>")
def show_metadata_item(project_id: str, volume_id: str, key: str) -> Response:
    check_project(project_id)
    metadata = get_volume(current_store(), volume_id).get("metadata", {})
    if key not in metadata:
        raise faults.NotFound(f"Volume {volume_id} has no metadata with key {key}.")
    return jsonify({"meta": {key: metadata[key]}})


@bp.put(f"{V}/volumes/<volume_id>/metadata/<key>")
def set_metadata_item(project_id: str, volume_id: str, key: str) -> Response:
    check_project(project_id)
    meta = valid_metadata(faults.json_body("meta")["meta"])
    if list(meta) != [key]:
        raise faults.BadRequest("Request body and URI mismatch")
    s = current_store()
    with s.transaction():
        record = get_volume(s, volume_id)
        s.update(VOLUME, volume_id, {"metadata": {**record.get("metadata", {}), **meta}})
    return jsonify({"meta": meta})


@bp.delete(f"{V}/volumes/<volume_id>/metadata/<key>")
def delete_metadata_item(project_id: str, volume_id: str, key: str) -> Response:
    check_project(project_id)
    s = current_store()
    with s.transaction():
        record = get_volume(s, volume_id)
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
    new_size = valid_size(args.get("new_size"))
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
    return handler(s, get_volume(s, volume_id), args if isinstance(args, dict) else {})
