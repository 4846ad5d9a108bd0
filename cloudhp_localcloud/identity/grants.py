"""Keystone role assignments: grant, check, revoke and list a user's roles on a project,
and GET /v3/role_assignments with its filters.

localcloud has users and projects only (no groups, no domain or system grants), so
`group.id`, `scope.domain.id` and `scope.system` filters match nothing. `effective`
adds the roles the granted ones imply, each with the grant it comes from and a
`prior_role` link, as Keystone lists them; `include_names` adds names.

Policy: the admin role (on any project) only, as Keystone's defaults without system
or domain scope. Revoking a grant revokes the user's tokens on that project (they
carry the role), and an application credential holding the role stops
authenticating (appcreds.py), as in Keystone.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.identity.common import (
    ASSIGNMENT,
    ROLE,
    bp,
    effective_roles,
    get_or_fail,
    links,
    require_admin,
    revoke_tokens,
    role_view,
)
from cloudhp_localcloud.store import Record, Store, current_store

_GRANT = "/v3/projects/<project_id>/users/<user_id>/roles"


def _targets(store: Store, project_id: str, user_id: str, role_id: str | None = None) -> None:
    """Keystone's 404 for a project, user or role that does not exist."""
    get_or_fail(store, "project", project_id)
    get_or_fail(store, "user", user_id)
    if role_id is not None:
        get_or_fail(store, ROLE, role_id)


def _grant(store: Store, project_id: str, user_id: str, role_id: str) -> Record:
    found = store.list(ASSIGNMENT, project_id=project_id, user_id=user_id, role_id=role_id)
    if not found:
        raise faults.NotFound(
            f"Could not find role assignment with role: {role_id}, user or group: {user_id}, "
            f"project, domain, or system: {project_id}."
        )
    return found[0]


@bp.put(f"{_GRANT}/<role_id>")
def create_grant(project_id: str, user_id: str, role_id: str) -> tuple[str, int]:
    require_admin("create_grant")
    store = current_store()
    with store.transaction():
        _targets(store, project_id, user_id, role_id)
        if not store.list(ASSIGNMENT, project_id=project_id, user_id=user_id, role_id=role_id):
            store.insert(
                ASSIGNMENT, {"user_id": user_id, "role_id": role_id}, project_id=project_id
            )
    return "", 204


@bp.get(f"{_GRANT}/<role_id>")  # Flask answers HEAD from this view too
def check_grant(project_id: str, user_id: str, role_id: str) -> tuple[str, int]:
    require_admin("check_grant")
    store = current_store()
    _targets(store, project_id, user_id, role_id)
    _grant(store, project_id, user_id, role_id)
    return "", 204


@bp.delete(f"{_GRANT}/<role_id>")
def revoke_grant(project_id: str, user_id: str, role_id: str) -> tuple[str, int]:
    require_admin("revoke_grant")
    store = current_store()
    with store.transaction():
        _targets(store, project_id, user_id, role_id)
        store.delete(ASSIGNMENT, _grant(store, project_id, user_id, role_id)["id"])
        revoke_tokens(store, user_id=user_id, project_id=project_id)
    return "", 204


@bp.get(_GRANT)
def list_grants(project_id: str, user_id: str) -> Response:
    require_admin("list_grants")
    store = current_store()
    _targets(store, project_id, user_id)
    grants = store.list(ASSIGNMENT, project_id=project_id, user_id=user_id)
    roles = [role_view(r) for g in grants if (r := store.get(ROLE, g["role_id"]))]
    return jsonify({"roles": roles, "links": links(f"projects/{project_id}/users/{user_id}/roles")})


# --- GET /v3/role_assignments -------------------------------------------------------------


def _flag(name: str) -> bool:
    """Keystone's query_filter_is_true: present, and not "0" or "false"."""
    return name in request.args and request.args[name].lower() not in ("0", "false")


def _refuse_contradictions(args: Any) -> None:
    for one, other, what in (
        ("scope.domain.id", "scope.project.id", "a domain or project"),
        ("scope.system", "scope.project.id", "system or project"),
        ("scope.system", "scope.domain.id", "system or domain"),
        ("user.id", "group.id", "a user or group"),
    ):
        if args.get(one) and args.get(other):
            raise faults.BadRequest(f"Specify {what}, not both")
    if _flag("effective") and args.get("group.id"):
        raise faults.BadRequest(
            "Combining effective and group filter will always result in an empty list."
        )


def _entry(store: Store, user: str, project: str, role: str, prior: str | None) -> Record:
    """One assignment as Keystone lists it; an implied role links the grant of its prior."""
    base = request.host_url + "identity/v3"
    entry: Record = {
        "role": {"id": role},
        "user": {"id": user},
        "scope": {"project": {"id": project}},
        "links": {"assignment": f"{base}/projects/{project}/users/{user}/roles/{prior or role}"},
    }
    if prior is not None:
        entry["links"]["prior_role"] = f"{base}/roles/{prior}/implies/{role}"
    if _flag("include_names"):
        domain = {"id": "default", "name": get_or_fail(store, "domain", "default")["name"]}
        entry["role"]["name"] = get_or_fail(store, ROLE, role)["name"]
        entry["user"].update(name=get_or_fail(store, "user", user)["name"], domain=domain)
        entry["scope"]["project"].update(
            name=get_or_fail(store, "project", project)["name"], domain=domain
        )
    return entry


@bp.get("/v3/role_assignments")
def list_role_assignments() -> Response:
    require_admin("list_role_assignments")
    args = request.args
    _refuse_contradictions(args)
    store = current_store()
    entries: list[Record] = []
    if not any(args.get(k) for k in ("group.id", "scope.domain.id", "scope.system")):
        match = {"user_id": args["user.id"]} if args.get("user.id") else {}
        held: dict[tuple[str, str], list[str]] = {}
        for grant in store.list(
            ASSIGNMENT, project_id=args.get("scope.project.id") or None, **match
        ):
            held.setdefault((grant["user_id"], grant["project_id"]), []).append(grant["role_id"])
        for (user, project), direct in held.items():
            given = effective_roles(store, direct) if _flag("effective") else dict.fromkeys(direct)
            for role, prior in given.items():
                if args.get("role.id") in (None, "", role):
                    entries.append(_entry(store, user, project, role, prior))
    return jsonify({"role_assignments": entries, "links": links("role_assignments")})
