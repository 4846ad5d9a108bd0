"""Neutron quotas: per-project limits with Neutron's defaults, the API, and the check.

Overrides live in the store as type "network_quota", one per project (project_id
column; ids are unique across all types, so not the project id itself). Every
limit can be read; all are enforced at create time with Neutron's 409 OverQuota
("Quota exceeded for resources: ['floatingip'].").
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from cloudhp_localcloud import faults
from cloudhp_localcloud.network.common import bp, caller_project, empty, is_admin, store
from cloudhp_localcloud.store import Record, Store

QUOTA = "network_quota"

DEFAULTS: dict[str, int] = {
    "network": 100,
    "subnet": 100,
    "subnetpool": -1,
    "port": 500,
    "router": 10,
    "floatingip": 10,
    "security_group": 10,
    "security_group_rule": 100,
    "rbac_policy": 10,
}

# quota name -> store type whose records count against it
_COUNTED = {
    "network": "network",
    "subnet": "subnet",
    "port": "port",
    "router": "router",
    "floatingip": "floatingip",
    "security_group": "security_group",
    "security_group_rule": "security_group_rule",
}


def limits(s: Store, project_id: str) -> dict[str, int]:
    override = _override(s, project_id)
    out = dict(DEFAULTS)
    if override:
        out.update({k: int(v) for k, v in override.get("limits", {}).items() if k in out})
    return out


def _override(s: Store, project_id: str) -> Record | None:
    found = s.list(QUOTA, project_id=project_id)
    return found[0] if found else None


def usage(s: Store, project_id: str) -> dict[str, int]:
    return {
        name: len(s.list(type_, project_id=project_id)) if type_ else 0
        for name, type_ in ((n, _COUNTED.get(n)) for n in DEFAULTS)
    }


def check_quota(s: Store, project_id: str, resource: str, used: int, wanted: int = 1) -> None:
    """Raise Neutron's 409 OverQuota if `wanted` more would pass the project's limit."""
    limit = limits(s, project_id)[resource]
    if limit >= 0 and used + wanted > limit:
        raise faults.OverLimit(
            f"Quota exceeded for resources: ['{resource}'].", code=409, kind="OverQuota"
        )


def _may_read(project_id: str) -> None:
    if not is_admin() and project_id != caller_project():
        raise faults.Forbidden(
            "(rule:get_quota) is disallowed by policy", kind="PolicyNotAuthorized"
        )


def _admin_only(action: str) -> None:
    if not is_admin():
        raise faults.Forbidden(
            f"(rule:{action}_quota) is disallowed by policy", kind="PolicyNotAuthorized"
        )


@bp.get("/v2.0/quotas")
def list_quotas() -> Response:
    _admin_only("get")
    out = []
    for record in store().list(QUOTA):
        pid = record["project_id"]
        out.append({**limits(store(), pid), "project_id": pid, "tenant_id": pid})
    return jsonify({"quotas": out})


@bp.get("/v2.0/quotas/<project_id>")
def show_quota(project_id: str) -> Response:
    _may_read(project_id)
    return jsonify({"quota": limits(store(), project_id)})


@bp.get("/v2.0/quotas/<project_id>/default")
def show_default_quota(project_id: str) -> Response:
    _may_read(project_id)
    return jsonify({"quota": dict(DEFAULTS)})


@bp.get("/v2.0/quotas/<project_id>/details")
@bp.get("/v2.0/quotas/<project_id>/details.json")
def show_quota_details(project_id: str) -> Response:
    _may_read(project_id)
    s = store()
    lim, used = limits(s, project_id), usage(s, project_id)
    return jsonify(
        {"quota": {k: {"limit": lim[k], "used": used[k], "reserved": 0} for k in DEFAULTS}}
    )


@bp.put("/v2.0/quotas/<project_id>")
def update_quota(project_id: str) -> Response:
    _admin_only("update")
    body = faults.json_body("quota")["quota"]
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key not in DEFAULTS:
            raise faults.BadRequest(f"Unrecognized attribute(s) '{key}'", kind="HTTPBadRequest")
        try:
            changes[key] = int(value)
        except (TypeError, ValueError):
            raise faults.BadRequest(
                f"Invalid input for {key}. Reason: '{value}' is not an integer.",
                kind="HTTPBadRequest",
            ) from None
    s = store()
    with s.transaction():
        current = _override(s, project_id)
        if current is None:
            s.insert(QUOTA, {"limits": changes}, project_id=project_id)
        else:
            s.update(QUOTA, current["id"], {"limits": {**current.get("limits", {}), **changes}})
    return jsonify({"quota": limits(s, project_id)})


@bp.delete("/v2.0/quotas/<project_id>")
def reset_quota(project_id: str) -> Response:
    _admin_only("delete")
    for record in store().list(QUOTA, project_id=project_id):
        store().delete(QUOTA, record["id"])
    return empty()
