"""Keystone application credentials: create, list, show, delete, and authenticate.

A credential belongs to its user and the project of the token that made it; its
roles are a subset of that token's. It authenticates only while the user still
holds those roles, and deleting it revokes the tokens it issued, as in Keystone. Its
access rules (optional) limit its tokens to the requests they name (auth.py enforces
them, access_rules.py says how); unlike Keystone, rules live in their credential only
(no /v3/users/{id}/access_rules API).
Store type "application_credential" (project_id column + user_id).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Response, g, jsonify

from cloudhp_localcloud import access_rules, auth, faults
from cloudhp_localcloud.identity.common import (
    AUTH_FAILED,
    bp,
    deny,
    filters,
    find_user,
    links,
    roles_on,
    self_link,
)
from cloudhp_localcloud.store import Record, Store, current_store

APP_CRED = auth.APP_CRED


def authenticate_app_cred(store: Store, spec: Any) -> tuple[Record, Record]:
    """The credential and its user, by id or by name + user; 401 on any mismatch."""
    if not isinstance(spec, dict) or not isinstance(spec.get("secret"), str):
        raise faults.BadRequest("Invalid input for field 'identity/application_credential'.")
    record = None
    if spec.get("id"):
        record = store.get(APP_CRED, spec["id"])
    elif spec.get("name") and isinstance(spec.get("user"), dict):
        user = find_user(store, spec["user"])
        found = store.list(APP_CRED, name=spec["name"], user_id=user["id"]) if user else []
        record = found[0] if found else None
    if record is None or not auth.verify_secret(spec["secret"], record["secret_hash"]):
        raise faults.Unauthorized(AUTH_FAILED)
    if record["expires_at"] and auth.parse_time(record["expires_at"]) <= datetime.now(UTC):
        raise faults.Unauthorized("The application credential has expired.")
    user = store.get("user", record["user_id"])
    if user is None or not user["enabled"]:
        raise faults.Unauthorized(AUTH_FAILED)
    return record, user


def app_cred_roles(store: Store, record: Record, user: Record) -> list[dict[str, str]]:
    """The credential's roles the user still holds: revoking a role disarms it too."""
    held = {r["id"] for r in roles_on(store, user["id"], record["project_id"])}
    roles = [r for r in record["roles"] if r["id"] in held]
    if not roles:
        raise faults.Unauthorized(AUTH_FAILED)
    return [{"id": r["id"], "name": r["name"]} for r in roles]


def _app_cred_view(record: Record, secret: str | None = None) -> Record:
    view = {
        "id": record["id"],
        "name": record["name"],
        "description": record.get("description"),
        "user_id": record["user_id"],
        "project_id": record["project_id"],
        "expires_at": record["expires_at"],
        "unrestricted": record["unrestricted"],
        "roles": [{**r, "domain_id": None} for r in record["roles"]],
        "access_rules": record.get("access_rules", []),
        "links": self_link(f"users/{record['user_id']}/application_credentials/{record['id']}"),
    }
    if secret is not None:
        view["secret"] = secret
    return view


def _own_credentials(user_id: str, action: str) -> None:
    if user_id != g.user_id:
        raise deny(action)


@bp.post("/v3/users/<user_id>/application_credentials")
def create_app_cred(user_id: str) -> tuple[Response, int]:
    _own_credentials(user_id, "create_application_credential")
    caller: auth.Caller = g.caller
    if caller.application_credential and caller.application_credential["restricted"]:
        raise faults.Forbidden(
            "Using method 'application_credential' is not allowed for managing additional "
            "application credentials."
        )
    if not caller.project_id:
        raise faults.Forbidden("An application credential needs a project-scoped token.")
    spec = faults.json_body(APP_CRED)[APP_CRED]
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise faults.BadRequest("Invalid input for field 'name': a name is required.")
    roles = _requested_roles(spec.get("roles"), caller)
    expires_at = spec.get("expires_at")
    if expires_at:
        try:
            expires_at = auth.format_time(auth.parse_time(str(expires_at)))
        except ValueError:
            raise faults.BadRequest(f"Invalid input for field 'expires_at': {expires_at}") from None
    secret = spec.get("secret") or secrets.token_urlsafe(64)
    store = current_store()
    with store.transaction():
        if store.list(APP_CRED, name=name, user_id=user_id):
            raise faults.Conflict(
                "Conflict occurred attempting to store application_credential - "
                f"Duplicate entry found with name {name}."
            )
        record = store.insert(
            APP_CRED,
            {
                "user_id": user_id,
                "description": spec.get("description"),
                "expires_at": expires_at,
                "unrestricted": bool(spec.get("unrestricted", False)),
                "roles": roles,
                "access_rules": _requested_rules(spec.get("access_rules")),
                "secret_hash": auth.hash_secret(secret),
            },
            name=name,
            project_id=caller.project_id,
        )
    return jsonify({APP_CRED: _app_cred_view(record, secret)}), 201


def _requested_rules(wanted: Any) -> list[dict[str, str]]:
    """The credential's access rules, each with an id (the one given, else a new one);
    enforced on its tokens by auth.py."""
    if wanted is None:
        return []
    if not isinstance(wanted, list):
        raise faults.BadRequest(f"Invalid input for field 'access_rules': {wanted!r} is not a list")
    rules = []
    for index, rule in enumerate(wanted):
        problem = access_rules.rule_problem(index, rule)
        if problem:
            raise faults.BadRequest(problem)
        rules.append(
            {
                "id": str(rule.get("id") or uuid.uuid4().hex),
                "service": rule["service"],
                "method": rule["method"],
                "path": rule["path"],
            }
        )
    return rules


def _requested_roles(wanted: Any, caller: auth.Caller) -> list[dict[str, str]]:
    if not wanted:
        return [dict(r) for r in caller.roles]
    roles = []
    for spec in wanted:
        match = [
            r
            for r in caller.roles
            if isinstance(spec, dict)
            and spec.get("id", r["id"]) == r["id"]
            and spec.get("name", r["name"]) == r["name"]
        ]
        if not match:
            raise faults.Forbidden(
                "Cannot create an application credential with a role you do not hold."
            )
        roles.append(dict(match[0]))
    return roles


@bp.get("/v3/users/<user_id>/application_credentials")
def list_app_creds(user_id: str) -> Response:
    _own_credentials(user_id, "list_application_credentials")
    found = current_store().list(APP_CRED, user_id=user_id, **filters("name"))
    return jsonify(
        {
            "application_credentials": [_app_cred_view(r) for r in found],
            "links": links(f"users/{user_id}/application_credentials"),
        }
    )


def _own_app_cred(user_id: str, cred_id: str, action: str) -> Record:
    _own_credentials(user_id, action)
    record = current_store().get(APP_CRED, cred_id)
    if record is None or record["user_id"] != user_id:
        raise faults.NotFound(f"Could not find Application Credential: {cred_id}.")
    return record


@bp.get("/v3/users/<user_id>/application_credentials/<cred_id>")
def get_app_cred(user_id: str, cred_id: str) -> Response:
    record = _own_app_cred(user_id, cred_id, "get_application_credential")
    return jsonify({APP_CRED: _app_cred_view(record)})


@bp.delete("/v3/users/<user_id>/application_credentials/<cred_id>")
def delete_app_cred(user_id: str, cred_id: str) -> tuple[str, int]:
    _own_app_cred(user_id, cred_id, "delete_application_credential")
    caller: auth.Caller = g.caller
    if caller.application_credential and caller.application_credential["restricted"]:
        raise faults.Forbidden("A restricted application credential cannot delete credentials.")
    store = current_store()
    with store.transaction():
        store.delete(APP_CRED, cred_id)
        # Keystone invalidates the tokens a deleted credential issued.
        for token in store.list(auth.TOKEN):
            if (token.get("application_credential") or {}).get("id") == cred_id:
                store.delete(auth.TOKEN, token["id"])
    return "", 204
