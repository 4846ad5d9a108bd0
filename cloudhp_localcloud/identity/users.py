"""Keystone users: create, list, show, update, delete.

Policy, as Keystone's defaults read without system scope: the admin role (on any
project) manages users and lists them; a user may show itself; everything else is
Keystone's 403. Passwords are kept as scrypt hashes (auth.py) and never rendered; a
user made without one cannot authenticate with a password.

A new password, or disabling the user, revokes its tokens; deleting it also removes
its role assignments and application credentials, as Keystone does.
"""

from __future__ import annotations

from flask import Response, g, jsonify

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.identity.common import (
    ASSIGNMENT,
    bp,
    checked,
    deny,
    filters,
    fixed,
    get_or_fail,
    links,
    member_body,
    require_admin,
    require_name,
    revoke_tokens,
    self_link,
)
from cloudhp_localcloud.store import Record, Store, current_store

USER = "user"
NAME_MAX = 255  # Keystone's schema for user names
_OPTIONAL = (("description", str), ("email", str))  # Keystone keeps these as "extras"


def user_view(u: Record) -> Record:
    keys = ("id", "name", "domain_id", "enabled", "default_project_id", "password_expires_at")
    view = {k: u.get(k) for k in keys}
    view.update({k: u[k] for k, _ in _OPTIONAL if u.get(k) is not None})
    return {**view, "options": dict(u.get("options") or {}), "links": self_link(f"users/{u['id']}")}


def _unique_name(store: Store, name: str, domain_id: str, user_id: str | None = None) -> None:
    if [u for u in store.list(USER, name=name, domain_id=domain_id) if u["id"] != user_id]:
        raise faults.Conflict(
            "Conflict occurred attempting to store user - Duplicate entry found with name "
            f"{name} at domain ID {domain_id}."
        )


def _password_hash(spec: Record) -> str:
    """The hash of the password the body sets; "" (matches no password) for none."""
    password = checked(spec, "password", str, nullable=True)
    return auth.hash_secret(password) if password else ""


def _changes(store: Store, spec: Record) -> Record:
    """What a create or update body sets besides the name and the password."""
    changes: Record = {}
    if "enabled" in spec:
        changes["enabled"] = checked(spec, "enabled", bool)
    if "options" in spec:
        changes["options"] = checked(spec, "options", dict)
    for key, kind in _OPTIONAL:
        if key in spec:
            changes[key] = checked(spec, key, kind, nullable=True)
    if "default_project_id" in spec:
        project_id = checked(spec, "default_project_id", str, nullable=True)
        if project_id is not None:
            get_or_fail(store, "project", project_id)
        changes["default_project_id"] = project_id
    return changes


@bp.get("/v3/users")
def list_users() -> Response:
    require_admin("list_users")
    found = current_store().list(USER, **filters("name", "domain_id", "enabled"))
    return jsonify({"users": [user_view(u) for u in found], "links": links("users")})


@bp.get("/v3/users/<user_id>")
def get_user(user_id: str) -> Response:
    if not g.is_admin and user_id != g.user_id:
        raise deny("get_user")
    return jsonify({"user": user_view(get_or_fail(current_store(), USER, user_id))})


@bp.post("/v3/users")
def create_user() -> tuple[Response, int]:
    require_admin("create_user")
    spec = member_body(USER)
    name = require_name(spec, USER, NAME_MAX)
    domain_id = checked(spec, "domain_id", str) if "domain_id" in spec else "default"
    password_hash = _password_hash(spec) if "password" in spec else ""
    store = current_store()
    with store.transaction():
        get_or_fail(store, "domain", domain_id)
        _unique_name(store, name, domain_id)
        doc: Record = {
            "domain_id": domain_id,
            "enabled": True,
            "password_expires_at": None,
            "default_project_id": None,
            "options": {},
            "password_hash": password_hash,
            **_changes(store, spec),
        }
        user = store.insert(USER, doc, name=name)
    return jsonify({"user": user_view(user)}), 201


@bp.patch("/v3/users/<user_id>")
def update_user(user_id: str) -> Response:
    require_admin("update_user")
    spec = member_body(USER)
    store = current_store()
    with store.transaction():
        user = get_or_fail(store, USER, user_id)
        fixed(spec, user, ("id", "domain_id"))
        changes = _changes(store, spec)
        if "name" in spec:
            changes["name"] = require_name(spec, USER, NAME_MAX)
            _unique_name(store, changes["name"], user["domain_id"], user_id)
        if "password" in spec:
            changes["password_hash"] = _password_hash(spec)
        user = store.update(USER, user_id, changes)
        if "password" in spec or changes.get("enabled") is False:
            revoke_tokens(store, user_id=user_id)
    return jsonify({"user": user_view(user)})


@bp.delete("/v3/users/<user_id>")
def delete_user(user_id: str) -> tuple[str, int]:
    require_admin("delete_user")
    store = current_store()
    with store.transaction():
        get_or_fail(store, USER, user_id)
        for kind in (ASSIGNMENT, "application_credential"):
            for record in store.list(kind, user_id=user_id):
                store.delete(kind, record["id"])
        revoke_tokens(store, user_id=user_id)
        store.delete(USER, user_id)
    return "", 204
