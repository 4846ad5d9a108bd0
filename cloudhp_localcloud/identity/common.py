"""What the Keystone modules share: the blueprint, lookups, list links and filters.

api.py declares the service and serves projects, users, domains and roles;
tokens.py issues, validates and revokes tokens; appcreds.py keeps application
credentials. All of them add their views to `bp` here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.store import Record, Store, current_store

bp = Blueprint("identity", __name__)

AUTH_FAILED = "The request you have made requires authentication."


def links(path: str) -> dict[str, Any]:
    return {"self": f"{request.host_url}identity/v3/{path}", "previous": None, "next": None}


def self_link(path: str) -> dict[str, str]:
    """The `links` of one resource: {"self": <its URL>}."""
    return {"self": links(path)["self"]}


def deny(action: str) -> faults.Forbidden:
    return faults.Forbidden(
        f"You are not authorized to perform the requested action: identity:{action}."
    )


def get_or_fail(store: Store, kind: str, rid: str) -> Record:
    record = store.get(kind, rid)
    if record is None:
        raise faults.NotFound(f"Could not find {kind}: {rid}.")
    return record


def filters(*names: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        if name in request.args:
            value: Any = request.args[name]
            out[name] = value.lower() == "true" if name == "enabled" else value
    return out


def find_user(store: Store, spec: dict[str, Any]) -> Record | None:
    if spec.get("id"):
        return store.get("user", spec["id"])
    domain = find_domain(spec.get("domain"))
    if not spec.get("name") or domain is None:
        return None
    found = store.list("user", name=spec["name"], domain_id=domain["id"])
    return found[0] if found else None


def find_domain(spec: Any) -> Record | None:
    if not isinstance(spec, dict):
        return None
    store = current_store()
    if spec.get("id"):
        return store.get("domain", spec["id"])
    found = store.list("domain", name=spec.get("name"))
    return found[0] if found else None


def roles_on(store: Store, user_id: str, project_id: str) -> list[dict[str, str]]:
    roles = []
    for grant in store.list("role_assignment", project_id=project_id, user_id=user_id):
        role = store.get("role", grant["role_id"])
        if role:
            roles.append({"id": role["id"], "name": role["name"]})
    return roles


def project_view(p: Record) -> Record:
    keys = (
        "id",
        "name",
        "domain_id",
        "parent_id",
        "description",
        "enabled",
        "is_domain",
        "tags",
        "options",
    )
    return {**{k: p.get(k) for k in keys}, "links": self_link(f"projects/{p['id']}")}


def projects_of(store: Store, user_id: str) -> list[Record]:
    """The views of the projects `user_id` holds a role on."""
    ids = {a["project_id"] for a in store.list("role_assignment", user_id=user_id)}
    return [project_view(p) for p in store.list("project") if p["id"] in ids]
