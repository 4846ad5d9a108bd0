"""Keystone tokens: issue (password, application_credential, token), validate, revoke.

Tokens are project scoped (or unscoped); the body carries the catalog of every
registered service unless `nocatalog` is asked. A token issued from an application
credential keeps the credential's expiry and cannot be rescoped. The token records
themselves live in auth.py.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.catalog import build_catalog, registered_services
from cloudhp_localcloud.config import current_config
from cloudhp_localcloud.identity.appcreds import app_cred_roles, authenticate_app_cred
from cloudhp_localcloud.identity.common import (
    AUTH_FAILED,
    bp,
    find_domain,
    find_user,
    get_or_fail,
    links,
    roles_on,
)
from cloudhp_localcloud.store import Record, Store, current_store


@bp.post("/v3/auth/tokens")
@auth.public
def issue_token() -> tuple[Response, int, dict[str, str]]:
    body = faults.json_body("auth")["auth"]
    identity = body.get("identity")
    if not isinstance(identity, dict) or not identity.get("methods"):
        raise faults.BadRequest("Invalid input for field 'identity': 'methods' is required.")
    methods = list(identity["methods"])
    store, config = current_store(), current_config()
    scope = body.get("scope")
    app_cred = None
    expires_at = None
    if methods == ["application_credential"]:
        if scope:
            raise faults.Unauthorized("Application credentials cannot request a scope.")
        record, user = authenticate_app_cred(store, identity.get("application_credential"))
        project_id = record["project_id"]
        roles = app_cred_roles(store, record, user)
        app_cred = {
            "id": record["id"],
            "name": record["name"],
            "restricted": not record["unrestricted"],
        }
        expires_at = auth.parse_time(record["expires_at"]) if record["expires_at"] else None
    elif methods == ["password"]:
        user = _authenticate_password(store, identity.get("password"))
        project_id, roles = _scope(store, user, scope)
    elif methods == ["token"]:
        token = (identity.get("token") or {}).get("id")
        previous = auth.validate_token(store, token)
        if previous.application_credential:
            raise faults.Forbidden("Application credential tokens cannot be rescoped.")
        user = get_or_fail(store, "user", previous.user_id)
        project_id, roles = _scope(store, user, scope)
        expires_at = auth.parse_time(previous.expires_at)
    else:
        raise faults.Unauthorized(f"Unsupported authentication method: {', '.join(methods)}")
    secret, caller = auth.issue_token(
        store,
        user_id=user["id"],
        project_id=project_id,
        roles=roles,
        methods=methods,
        lifetime=config.token_lifetime,
        application_credential=app_cred,
        expires_at=expires_at,
    )
    nocatalog = "nocatalog" in request.args
    return (
        jsonify({"token": _token_body(store, caller, nocatalog)}),
        201,
        {"X-Subject-Token": secret},
    )


def _authenticate_password(store: Store, method: Any) -> Record:
    spec = (method or {}).get("user") if isinstance(method, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("password"), str):
        raise faults.BadRequest("Invalid input for field 'identity/password/user'.")
    user = find_user(store, spec)
    if (
        user is None
        or not user["enabled"]
        or not auth.verify_secret(spec["password"], user["password_hash"])
    ):
        raise faults.Unauthorized(AUTH_FAILED)
    return user


def _scope(store: Store, user: Record, scope: Any) -> tuple[str | None, list[dict[str, str]]]:
    """Project and roles of the token; unscoped falls back to the default project."""
    if scope in (None, "unscoped", {}):
        project_id = user.get("default_project_id")
        roles = roles_on(store, user["id"], project_id) if project_id else []
        return (project_id, roles) if roles and scope is None else (None, [])
    spec = scope.get("project") if isinstance(scope, dict) else None
    if not isinstance(spec, dict):
        raise faults.Unauthorized("Only project scope is supported by localcloud.")
    if spec.get("id"):
        project = store.get("project", spec["id"])
    else:
        domain = find_domain(spec.get("domain"))
        found = (
            store.list("project", name=spec.get("name"), domain_id=domain["id"]) if domain else []
        )
        project = found[0] if found else None
    if project is None or not project["enabled"]:
        raise faults.Unauthorized(AUTH_FAILED)
    roles = roles_on(store, user["id"], project["id"])
    if not roles:
        raise faults.Unauthorized(f"User {user['id']} has no access to project {project['id']}")
    return project["id"], roles


def _token_body(store: Store, caller: auth.Caller, nocatalog: bool = False) -> dict[str, Any]:
    user = get_or_fail(store, "user", caller.user_id)
    body: dict[str, Any] = {
        "methods": list(caller.methods),
        "user": {
            "id": user["id"],
            "name": user["name"],
            "domain": _domain_ref(user["domain_id"]),
            "password_expires_at": None,
        },
        "audit_ids": [caller.audit_id],
        "expires_at": caller.expires_at,
        "issued_at": caller.issued_at,
    }
    if caller.project_id:
        project = get_or_fail(store, "project", caller.project_id)
        body["project"] = {
            "id": project["id"],
            "name": project["name"],
            "domain": _domain_ref(project["domain_id"]),
        }
        body["is_domain"] = False
        body["roles"] = list(caller.roles)
        if not nocatalog:
            body["catalog"] = _catalog(caller.project_id)
    if caller.application_credential:
        body["application_credential"] = caller.application_credential
    return body


def _catalog(project_id: str | None) -> list[dict[str, Any]]:
    config = current_config()
    return build_catalog(registered_services(), config.base_url, config.region, project_id)


def _domain_ref(domain_id: str) -> dict[str, str]:
    domain = current_store().get("domain", domain_id)
    return {"id": domain_id, "name": domain["name"] if domain else domain_id}


def _subject() -> auth.Caller:
    """The token named by X-Subject-Token, which only its owner or an admin may see."""
    try:
        subject = auth.validate_token(current_store(), request.headers.get("X-Subject-Token"))
    except faults.Unauthorized:
        raise faults.NotFound("Could not find token.") from None
    if subject.user_id != g.user_id and not g.is_admin:
        raise faults.Forbidden("You are not authorized to perform the requested action.")
    return subject


@bp.get("/v3/auth/tokens")
def validate_token() -> tuple[Response, int, dict[str, str]]:
    subject = _subject()
    body = _token_body(current_store(), subject, "nocatalog" in request.args)
    return jsonify({"token": body}), 200, {"X-Subject-Token": request.headers["X-Subject-Token"]}


@bp.delete("/v3/auth/tokens")
def revoke_token() -> tuple[str, int]:
    _subject()
    auth.revoke_token(current_store(), request.headers["X-Subject-Token"])
    return "", 204


@bp.get("/v3/auth/catalog")
def auth_catalog() -> Response:
    if not g.project_id:
        raise faults.Forbidden("A catalog needs a project-scoped token.")
    return jsonify({"catalog": _catalog(g.project_id), "links": links("auth/catalog")})
