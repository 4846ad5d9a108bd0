"""What the Keystone modules share: the blueprint, lookups, policy, effective roles.

api.py declares the service, seeds it and serves domains; projects.py, users.py,
roles.py and grants.py are the admin API; tokens.py issues, validates and revokes
tokens; appcreds.py keeps application credentials. All of them add their views to
`bp` here.

Store types: "project", "user", "role", "implied_role" (prior_role_id,
implied_role_id), "role_assignment" (project_id column + user_id, role_id).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.store import Record, Store, current_store

bp = Blueprint("identity", __name__)

AUTH_FAILED = "The request you have made requires authentication."

ROLE = "role"
IMPLIED_ROLE = "implied_role"
ASSIGNMENT = "role_assignment"

_KINDS = {str: "a string", bool: "a boolean", list: "a list", dict: "an object"}


def links(path: str) -> dict[str, Any]:
    return {"self": f"{request.host_url}identity/v3/{path}", "previous": None, "next": None}


def self_link(path: str) -> dict[str, str]:
    """The `links` of one resource: {"self": <its URL>}."""
    return {"self": links(path)["self"]}


def deny(action: str) -> faults.Forbidden:
    return faults.Forbidden(
        f"You are not authorized to perform the requested action: identity:{action}."
    )


def require_admin(action: str) -> None:
    """Keystone's default `admin_required`: the admin role, on whatever project.

    localcloud has no system scope, so this is the rule Keystone's defaults fall back
    to for every admin API call (a project's member gets 403 in Keystone's shape).
    """
    if not g.is_admin:
        raise deny(action)


def member_body(member: str) -> dict[str, Any]:
    """The object under `member` of a create or update body (400 otherwise)."""
    body: dict[str, Any] = faults.json_body(member)[member]
    return body


def checked(
    spec: dict[str, Any],
    key: str,
    kind: type,
    *,
    max_len: int | None = None,
    nullable: bool = False,
) -> Any:
    """`spec[key]` if it passes Keystone's schema for the field, else Keystone's 400.

    `max_len` makes it a name: 1 to `max_len` characters, not only blanks.
    """
    value = spec[key]
    if value is None and nullable:
        return None
    ok = isinstance(value, kind)
    if ok and max_len is not None:
        ok = bool(value.strip()) and len(value) <= max_len
    if not ok:
        what = f"a name of 1 to {max_len} characters" if max_len else _KINDS[kind]
        raise faults.BadRequest(f"Invalid input for field '{key}': expected {what}.")
    return value


def require_name(spec: dict[str, Any], member: str, max_len: int) -> str:
    if "name" not in spec:
        raise faults.BadRequest(
            f"Invalid input for field '{member}': 'name' is a required property"
        )
    name: str = checked(spec, "name", str, max_len=max_len)
    return name


def fixed(spec: dict[str, Any], record: Record, keys: tuple[str, ...]) -> None:
    """Keystone's 400 for an update that would change what cannot change."""
    for key in keys:
        if key in spec and spec[key] != record.get(key):
            raise faults.BadRequest(f"Update of `{key}` is not allowed.")


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


def effective_roles(store: Store, direct: list[str]) -> dict[str, str | None]:
    """The roles `direct` role ids give, each once: role id -> None for a direct one,
    else the role that implies it (Keystone's implied roles, followed transitively)."""
    found: dict[str, str | None] = dict.fromkeys(direct)
    todo = list(found)
    while todo:
        prior = todo.pop(0)
        for rule in store.list(IMPLIED_ROLE, prior_role_id=prior):
            if rule["implied_role_id"] not in found:
                found[rule["implied_role_id"]] = prior
                todo.append(rule["implied_role_id"])
    return found


def roles_on(store: Store, user_id: str, project_id: str) -> list[dict[str, str]]:
    """A user's roles on a project as a token carries them: granted ones and the roles
    they imply (a member is a reader too, as in Keystone's tokens)."""
    grants = store.list(ASSIGNMENT, project_id=project_id, user_id=user_id)
    roles = []
    for role_id in effective_roles(store, [a["role_id"] for a in grants]):
        role = store.get(ROLE, role_id)
        if role:
            roles.append({"id": role["id"], "name": role["name"]})
    return roles


def revoke_tokens(
    store: Store,
    *,
    user_id: str | None = None,
    project_id: str | None = None,
    role_id: str | None = None,
) -> None:
    """Delete the tokens a change made wrong (those of the user, on the project, carrying
    the role, as given), as Keystone revokes them.

    Tokens here carry their roles from issue time, so a removed grant, a disabled user
    or project, a new password or a deleted role must take them away, not wait for
    their expiry.
    """
    match = {"user_id": user_id} if user_id else {}
    for token in store.list(auth.TOKEN, project_id=project_id, **match):
        if role_id is None or any(r["id"] == role_id for r in token["roles"]):
            store.delete(auth.TOKEN, token["id"])


def role_view(role: Record) -> Record:
    return {
        "id": role["id"],
        "name": role["name"],
        "domain_id": None,
        "description": role.get("description"),
        "options": dict(role.get("options") or {}),
        "links": self_link(f"roles/{role['id']}"),
    }


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
    ids = {a["project_id"] for a in store.list(ASSIGNMENT, user_id=user_id)}
    return [project_view(p) for p in store.list("project") if p["id"] in ids]
