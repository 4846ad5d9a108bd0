"""Cinder volumes: the volume view, create, list (with Cinder's filters), show, update, delete.

Statuses follow Cinder: creating -> available -> attaching -> in-use -> detaching ->
available, deleting; `error` only through os-reset_status. Creating and deleting are
synchronous here (a sparse file is instant), so clients that poll see the end state
at once. Not supported (400): volumes from images, snapshots or other volumes.
"""

from __future__ import annotations

import ast
import json
import logging
from typing import Any

from flask import Response, g, jsonify, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.store import Record, current_store, utcnow
from cloudhp_localcloud.volume import backend as vb
from cloudhp_localcloud.volume.quotas import (
    VOLUME,
    V,
    bp,
    check_project,
    check_quota,
    get_volume,
    resolve_type,
    valid_metadata,
    valid_size,
)

log = logging.getLogger(__name__)

_DELETABLE = {"available", "error", "error_restoring", "error_extending", "error_managing"}


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
    size = valid_size(body.get("size"))
    vtype = resolve_type(body.get("volume_type"))
    s = current_store()
    with s.transaction():
        check_quota(s, g.project_id, 1, size)
        doc = {
            "description": body.get("description"),
            "size": size,
            "status": "creating",
            "attach_status": "detached",
            "metadata": valid_metadata(body.get("metadata")),
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
    return jsonify({"volume": volume_view(get_volume(current_store(), volume_id))})


@bp.put(f"{V}/volumes/<volume_id>")
def update_volume(project_id: str, volume_id: str) -> Response:
    check_project(project_id)
    s = current_store()
    record = get_volume(s, volume_id)
    body = faults.json_body("volume")["volume"]
    changes: dict[str, Any] = {"updated_at": utcnow()}
    for key in ("name", "description", "display_name", "display_description"):
        if key in body:
            changes[key.removeprefix("display_")] = body[key]
    if "metadata" in body:
        changes["metadata"] = valid_metadata(body["metadata"])
    record = s.update(VOLUME, record["id"], changes)
    return jsonify({"volume": volume_view(record)})


@bp.delete(f"{V}/volumes/<volume_id>")
def delete_volume(project_id: str, volume_id: str) -> Response:
    check_project(project_id)
    s = current_store()
    with s.transaction():
        record = get_volume(s, volume_id)
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
