"""POST /servers/<id>/action and the os-volume_attachments sub-resource.

Actions: os-stop, os-start, reboot, os-getConsoleOutput, createImage. Power actions
answer 202 and run in lifecycle.py's pool, like Nova's casts to the compute host;
a wrong state is Nova's 409 ("Cannot 'stop' instance ... while it is in vm_state
stopped"). createImage makes the Glance image record here (queued) so its id can be
returned at once; the commit and volume copy happen in the background (snapshots.py).

Volume attachments call the volume service (volume/backend.py): `attach_volume` returns the
device path, which the server record keeps for listing and for detach on delete, under
the same attachment id as the volume's view. A detach works on an ACTIVE or SHUTOFF
server with no task in progress (Nova's rule); a paused container refuses both (409). A
requested `device` must match Nova's pattern; the server gets it only if it is a free
/dev/vd[b-z] (the backend runs commands with it as root in the server), else the next.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, jsonify, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.compute import lifecycle, nodes, snapshots
from cloudhp_localcloud.compute.common import V, bp, get_server, mv
from cloudhp_localcloud.store import Record, Store, current_store, new_id, utcnow
from cloudhp_localcloud.volume.backend import attach_volume, detach_volume

# Nova's request schema for volumeAttachment.device (from nova/block_device.py).
DEVICE_PATTERN = "(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"


def _requested_device(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(DEVICE_PATTERN, value):
        raise faults.BadRequest(
            f"Invalid input for field/attribute device. Value: {value!r}. "
            f"It does not match '{DEVICE_PATTERN}'."
        )
    return value


def _conflict(record: Record, action: str) -> faults.Conflict:
    attr, state = (
        ("task_state", record["task_state"])
        if record.get("task_state")
        else ("vm_state", record["vm_state"])
    )
    return faults.Conflict(
        f"Cannot '{action}' instance {record['id']} while it is in {attr} {state}"
    )


def _require(record: Record, action: str, vm_states: tuple[str, ...]) -> None:
    if record.get("task_state") or record["vm_state"] not in vm_states:
        raise _conflict(record, action)


@bp.post(f"{V}/servers/<server_id>/action")
def server_action(server_id: str) -> Any:
    store = current_store()
    record = get_server(store, server_id)
    body = faults.json_body()
    if len(body) != 1:
        raise faults.BadRequest("There is no such action: " + ",".join(body) or "none")
    action, args = next(iter(body.items()))
    handler = _ACTIONS.get(action)
    if handler is None:
        raise faults.BadRequest(f"There is no such action: {action}")
    return handler(store, record, args if isinstance(args, dict) else {})


def _stop(store: Store, record: Record, args: dict[str, Any]) -> tuple[str, int]:
    _require(record, "stop", ("active", "error"))
    store.update("server", record["id"], {"task_state": "powering-off", "updated": utcnow()})
    lifecycle.submit(lifecycle.stop, store, record["id"])
    return "", 202


def _start(store: Store, record: Record, args: dict[str, Any]) -> tuple[str, int]:
    _require(record, "start", ("stopped",))
    store.update("server", record["id"], {"task_state": "powering-on", "updated": utcnow()})
    lifecycle.submit(lifecycle.start, store, record["id"])
    return "", 202


def _reboot(store: Store, record: Record, args: dict[str, Any]) -> tuple[str, int]:
    kind = str(args.get("type", "SOFT")).upper()
    if kind not in ("SOFT", "HARD"):
        raise faults.BadRequest("Invalid input for field/attribute type.")
    _require(record, "reboot", ("active", "stopped", "error") if kind == "HARD" else ("active",))
    store.update(
        "server",
        record["id"],
        {
            "status": "REBOOT" if kind == "SOFT" else "HARD_REBOOT",
            "task_state": "rebooting" if kind == "SOFT" else "rebooting_hard",
            "updated": utcnow(),
        },
    )
    lifecycle.submit(lifecycle.reboot, store, record["id"])
    return "", 202


def _console(store: Store, record: Record, args: dict[str, Any]) -> Response:
    length = args.get("length")
    if length is not None:
        try:
            length = int(length)
        except (TypeError, ValueError):
            raise faults.BadRequest("Invalid input for field/attribute length.") from None
        if length < -1:
            raise faults.BadRequest("Invalid input for field/attribute length.")
    if record["vm_state"] == "building" and nodes.get_container(record["id"]) is None:
        raise faults.Conflict(f"Instance {record['id']} is not ready yet.", kind=None)
    output = lifecycle.console_output(record["id"], length)
    return jsonify({"output": output})


def _create_image(store: Store, record: Record, args: dict[str, Any]) -> Any:
    name = args.get("name")
    if not isinstance(name, str) or not name.strip():
        raise faults.BadRequest("Invalid input for field/attribute name.")
    metadata = args.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise faults.BadRequest("Invalid input for field/attribute metadata.")
    _require(record, "createImage", ("active", "stopped"))
    source = store.get("image", record["image_id"]) or {}
    image_id = new_id()
    now = utcnow()
    doc = {
        "status": "queued",
        "visibility": "private",
        "protected": False,
        "os_hidden": False,
        "disk_format": source.get("disk_format", "raw"),
        "container_format": source.get("container_format", "bare"),
        "min_disk": record["flavor"]["disk"],
        "min_ram": int(source.get("min_ram") or 0),
        "size": None,
        "virtual_size": None,
        "checksum": None,
        "tags": [],
        "updated_at": now,
        "properties": {
            **{k: str(v) for k, v in metadata.items()},
            "image_type": "snapshot",
            "instance_uuid": record["id"],
            "base_image_ref": record["image_id"],
            "user_id": g.user_id,
            "owner_project_name": None,
        },
        "_snapshot_of": record["id"],
    }
    with store.transaction():
        store.insert("image", doc, id=image_id, project_id=record["project_id"], name=name)
        store.update("server", record["id"], {"task_state": "image_snapshot"})
    lifecycle.submit(snapshots.snapshot, store, record["id"], image_id)
    location = f"{request.host_url.rstrip('/')}/image/v2/images/{image_id}"
    if mv("2.45"):
        return jsonify({"image_id": image_id}), 202, {"Location": location}
    return "", 202, {"Location": location}


_ACTIONS = {
    "os-stop": _stop,
    "os-start": _start,
    "reboot": _reboot,
    "os-getConsoleOutput": _console,
    "createImage": _create_image,
}


# --- volume attachments ----------------------------------------------------------------


def _attachment_view(server_id: str, a: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "device": a["device"],
        "serverId": server_id,
        "volumeId": a["volume_id"],
    }
    if mv("2.89"):
        view.update(attachment_id=a.get("attachment_id"), bdm_uuid=a.get("bdm_uuid"))
    else:
        view["id"] = a["volume_id"]
    if mv("2.70"):
        view["tag"] = a.get("tag")
    if mv("2.79"):
        view["delete_on_termination"] = bool(a.get("delete_on_termination", False))
    return view


@bp.get(f"{V}/servers/<server_id>/os-volume_attachments")
def list_attachments(server_id: str) -> Response:
    record = get_server(current_store(), server_id)
    return jsonify(
        {
            "volumeAttachments": [
                _attachment_view(server_id, a) for a in record.get("volume_attachments") or []
            ]
        }
    )


@bp.get(f"{V}/servers/<server_id>/os-volume_attachments/<volume_id>")
def show_attachment(server_id: str, volume_id: str) -> Response:
    record = get_server(current_store(), server_id)
    for a in record.get("volume_attachments") or []:
        if a["volume_id"] == volume_id:
            return jsonify({"volumeAttachment": _attachment_view(server_id, a)})
    raise faults.NotFound(f"Volume {volume_id} is not attached to the instance {server_id}.")


@bp.post(f"{V}/servers/<server_id>/os-volume_attachments")
def attach(server_id: str) -> Response:
    store = current_store()
    record = get_server(store, server_id)
    body = faults.json_body("volumeAttachment")["volumeAttachment"]
    volume_id = body.get("volumeId")
    if not isinstance(volume_id, str) or not volume_id:
        raise faults.BadRequest("Invalid input for field/attribute volumeId.")
    device = _requested_device(body.get("device"))
    if record.get("task_state") or record["vm_state"] not in ("active", "stopped"):
        raise _conflict(record, "attach_volume")
    if any(a["volume_id"] == volume_id for a in record.get("volume_attachments") or []):
        raise faults.BadRequest(f"Invalid volume: volume {volume_id} already attached")
    attachment_id = new_id()
    device = attach_volume(store, volume_id, server_id, device, attachment_id)
    attachment = {
        "volume_id": volume_id,
        "device": device,
        "tag": body.get("tag") if mv("2.49") else None,
        "delete_on_termination": bool(body.get("delete_on_termination")) if mv("2.79") else False,
        "attachment_id": attachment_id,
        "bdm_uuid": new_id(),
    }
    with store.transaction():
        current = store.get("server", server_id) or record
        store.update(
            "server",
            server_id,
            {
                "volume_attachments": [*(current.get("volume_attachments") or []), attachment],
            },
        )
    return jsonify({"volumeAttachment": _attachment_view(server_id, attachment)})


@bp.delete(f"{V}/servers/<server_id>/os-volume_attachments/<volume_id>")
def detach(server_id: str, volume_id: str) -> tuple[str, int]:
    store = current_store()
    record = get_server(store, server_id)
    attachments = record.get("volume_attachments") or []
    if not any(a["volume_id"] == volume_id for a in attachments):
        raise faults.NotFound(f"Volume {volume_id} is not attached to the instance {server_id}.")
    # Nova's states for a detach; "stopped" included: a fenced server gives up its disks.
    _require(record, "detach_volume", ("active", "stopped", "paused"))
    detach_volume(store, volume_id, server_id)
    with store.transaction():
        current = store.get("server", server_id) or record
        store.update(
            "server",
            server_id,
            {
                "volume_attachments": [
                    a
                    for a in current.get("volume_attachments") or []
                    if a["volume_id"] != volume_id
                ]
            },
        )
    return "", 202
