"""Cinder's blueprint, quotas, limits, volume types and availability zones.

Also what the volume routes share (volumes.py, actions.py): finding the
caller's volume and Cinder's checks on sizes and metadata.

Quotas (Cinder's defaults: 10 volumes, 1000 GiB) are enforced on create and extend
with Cinder's 413 overLimit bodies; admins change them with os-quota-sets, kept in
the store as type "volume_quota" (one per project, by project_id column).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.store import Record, Store, current_store

bp = Blueprint("volume", __name__)

V = "/v3/<project_id>"
QUOTA = "volume_quota"
VOLUME = "volume"
DEFAULT_TYPE = {
    "id": "5f6d0c56-6c3f-4b8e-9a0b-1c0e9b1d2a11",
    "name": "__DEFAULT__",
    "description": "Default Volume Type",
    "is_public": True,
    "os-volume-type-access:is_public": True,
    "extra_specs": {},
    "qos_specs_id": None,
}
DEFAULTS: dict[str, int] = {
    "volumes": 10,
    "gigabytes": 1000,
    "snapshots": 10,
    "backups": 10,
    "backup_gigabytes": 1000,
    "per_volume_gigabytes": -1,
    "groups": 10,
}


def check_project(project_id: str) -> None:
    """The project in the URL must be the token's (Cinder: 400 otherwise)."""
    if project_id != g.project_id and not g.get("is_admin"):
        raise faults.BadRequest("Malformed request url")


def _override(s: Store, project_id: str) -> Record | None:
    found = s.list(QUOTA, project_id=project_id)
    return found[0] if found else None


def limits(s: Store, project_id: str) -> dict[str, int]:
    out = dict(DEFAULTS)
    if (override := _override(s, project_id)) is not None:
        out.update(override.get("limits", {}))
    return out


def usage(s: Store, project_id: str) -> dict[str, int]:
    volumes = s.list(VOLUME, project_id=project_id)
    used = dict.fromkeys(DEFAULTS, 0)
    used["volumes"] = len(volumes)
    used["gigabytes"] = sum(int(v["size"]) for v in volumes)
    return used


def check_quota(s: Store, project_id: str, volumes: int, gigabytes: int) -> None:
    """Raise Cinder's 413 if `volumes` more volumes of `gigabytes` in all would not fit."""
    lim, used = limits(s, project_id), usage(s, project_id)
    per_volume = lim["per_volume_gigabytes"]
    if volumes and 0 <= per_volume < gigabytes:
        raise faults.OverLimit(
            f"VolumeSizeExceedsLimit: Requested volume size {gigabytes}G is larger than "
            f"maximum allowed limit {per_volume}G."
        )
    if volumes and 0 <= lim["volumes"] < used["volumes"] + volumes:
        raise faults.OverLimit(
            f"VolumeLimitExceeded: Maximum number of volumes allowed ({lim['volumes']}) "
            "exceeded for quota 'volumes'."
        )
    if 0 <= lim["gigabytes"] < used["gigabytes"] + gigabytes:
        raise faults.OverLimit(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
            f"gigabytes quota. Requested {gigabytes}G, quota is {lim['gigabytes']}G and "
            f"{used['gigabytes']}G has been consumed."
        )


def _quota_body(project_id: str, with_usage: bool) -> dict[str, Any]:
    s = current_store()
    lim, used = limits(s, project_id), usage(s, project_id)
    body: dict[str, Any] = {"id": project_id}
    for key in DEFAULTS:
        body[key] = (
            {"limit": lim[key], "in_use": used[key], "reserved": 0, "allocated": 0}
            if with_usage
            else lim[key]
        )
    return body


@bp.get(f"{V}/os-quota-sets/<target>")
def show_quota(project_id: str, target: str) -> Response:
    check_project(project_id)
    if target != g.project_id and not g.get("is_admin"):
        raise faults.Forbidden("Policy doesn't allow volume_extension:quotas:show to be performed.")
    with_usage = request.args.get("usage", "false").lower() in ("true", "1")
    return jsonify({"quota_set": _quota_body(target, with_usage)})


@bp.get(f"{V}/os-quota-sets/<target>/defaults")
def show_default_quota(project_id: str, target: str) -> Response:
    check_project(project_id)
    return jsonify({"quota_set": {"id": target, **DEFAULTS}})


@bp.put(f"{V}/os-quota-sets/<target>")
def update_quota(project_id: str, target: str) -> Response:
    check_project(project_id)
    if not g.get("is_admin"):
        raise faults.Forbidden(
            "Policy doesn't allow volume_extension:quotas:update to be performed."
        )
    body = faults.json_body("quota_set")["quota_set"]
    changes = {}
    for key, value in body.items():
        if key not in DEFAULTS:
            continue  # Cinder ignores per-type keys it does not know; so do we
        try:
            changes[key] = int(value)
        except (TypeError, ValueError):
            raise faults.BadRequest(
                f"Invalid input received: Quota value {value} for {key} must be an integer."
            ) from None
    s = current_store()
    with s.transaction():
        current = _override(s, target)
        if current is None:
            s.insert(QUOTA, {"limits": changes}, project_id=target)
        else:
            s.update(QUOTA, current["id"], {"limits": {**current.get("limits", {}), **changes}})
    body = _quota_body(target, False)
    body.pop("id")
    return jsonify({"quota_set": body})


@bp.delete(f"{V}/os-quota-sets/<target>")
def revert_quota(project_id: str, target: str) -> Response:
    check_project(project_id)
    if not g.get("is_admin"):
        raise faults.Forbidden(
            "Policy doesn't allow volume_extension:quotas:delete to be performed."
        )
    s = current_store()
    for record in s.list(QUOTA, project_id=target):
        s.delete(QUOTA, record["id"])
    return Response(status=200)


@bp.get(f"{V}/limits")
def show_limits(project_id: str) -> Response:
    check_project(project_id)
    s = current_store()
    lim, used = limits(s, g.project_id), usage(s, g.project_id)
    absolute = {
        "maxTotalVolumes": lim["volumes"],
        "maxTotalVolumeGigabytes": lim["gigabytes"],
        "maxTotalSnapshots": lim["snapshots"],
        "maxTotalBackups": lim["backups"],
        "maxTotalBackupGigabytes": lim["backup_gigabytes"],
        "totalVolumesUsed": used["volumes"],
        "totalGigabytesUsed": used["gigabytes"],
        "totalSnapshotsUsed": 0,
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }
    return jsonify({"limits": {"rate": [], "absolute": absolute}})


@bp.get(f"{V}/types")
def list_types(project_id: str) -> Response:
    check_project(project_id)
    return jsonify({"volume_types": [DEFAULT_TYPE]})


@bp.get(f"{V}/types/<type_id>")
def show_type(project_id: str, type_id: str) -> Response:
    check_project(project_id)
    if type_id not in ("default", DEFAULT_TYPE["id"], DEFAULT_TYPE["name"]):
        raise faults.NotFound(f"Volume type {type_id} could not be found.")
    return jsonify({"volume_type": DEFAULT_TYPE})


def resolve_type(name_or_id: str | None) -> dict[str, Any]:
    """The volume type asked for; localcloud has Cinder's one default type."""
    if name_or_id in (None, "", DEFAULT_TYPE["id"], DEFAULT_TYPE["name"]):
        return DEFAULT_TYPE
    raise faults.NotFound(f"Volume type with name {name_or_id} could not be found.")


@bp.get(f"{V}/os-availability-zone")
def list_zones(project_id: str) -> Response:
    check_project(project_id)
    return jsonify(
        {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]}
    )


# --- what the volume routes share ----------------------------------------------------


def get_volume(s: Store, volume_id: str) -> Record:
    volume = s.get(VOLUME, volume_id, project_id=None if g.get("is_admin") else g.project_id)
    if volume is None:
        raise faults.NotFound(f"Volume {volume_id} could not be found.")
    return volume


def valid_metadata(value: Any) -> dict[str, str]:
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


def valid_size(value: Any) -> int:
    try:
        size = int(value)
        if str(size) != str(value).strip() or size <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise faults.BadRequest(
            f"Invalid input received: Volume size '{value}' must be an integer and greater than 0."
        ) from None
    return size
