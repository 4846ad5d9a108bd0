"""Keystone v3, the part openstacksdk and the `openstack` CLI need.

Tokens (password, application_credential and token methods; project scope), token
validation and revocation, the catalog, projects, users, domains, roles, and
application credentials. Resource types in the store: domain, project, user, role,
role_assignment (project_id column + user_id, role_id), application_credential
(project_id column + user_id), token (see auth.py).

`bootstrap()` seeds one domain ("default"), projects "admin" and "demo", users "admin"
(role admin on admin) and "demo" (member and reader on demo) with random passwords,
written only to the 0600 `clouds.yaml` in the data dir.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from cloudhp.localcloud import auth, faults
from cloudhp.localcloud.catalog import Service, build_catalog, registered_services, version_entry
from cloudhp.localcloud.config import (
    ADMIN_CLOUD_NAME,
    CLOUD_NAME,
    LocalCloudConfig,
    cloud_entry,
    current_config,
    read_clouds_yaml,
    write_private_yaml,
)
from cloudhp.localcloud.store import Record, Store, current_store

bp = Blueprint("identity", __name__)

SERVICE = Service(
    name="keystone",
    types=("identity",),
    prefix="/identity",
    endpoint="/identity",
    blueprint=bp,
    fault_style=faults.KEYSTONE,
)

DEFAULT_DOMAIN = {"id": "default", "name": "Default"}
_AUTH_FAILED = "The request you have made requires authentication."


# --- seeding -------------------------------------------------------------------------


def bootstrap(store: Store, config: LocalCloudConfig) -> bool:
    """Seed the first start; later starts only refresh the auth URL in the creds file.

    Returns True when it seeded (and so generated new passwords).
    """
    with store.transaction():
        if store.get("domain", "default") is not None:
            _refresh_credentials(config)
            return False
        store.insert(
            "domain",
            {"description": "The default domain", "enabled": True},
            id="default",
            name="Default",
        )
        roles = {
            n: store.insert("role", {"domain_id": None}, name=n)["id"]
            for n in ("admin", "member", "reader")
        }
        passwords = {}
        for name, granted in (
            ("admin", ("admin", "member", "reader")),
            ("demo", ("member", "reader")),
        ):
            project = store.insert("project", _project_doc(f"{name} project"), name=name)
            passwords[name] = secrets.token_urlsafe(18)
            user = store.insert(
                "user",
                {
                    "domain_id": "default",
                    "enabled": True,
                    "password_expires_at": None,
                    "default_project_id": project["id"],
                    "password_hash": auth.hash_secret(passwords[name]),
                },
                name=name,
            )
            for role in granted:
                store.insert(
                    "role_assignment",
                    {"user_id": user["id"], "role_id": roles[role]},
                    project_id=project["id"],
                )
    write_private_yaml(
        config.credentials_path,
        {
            "clouds": {
                CLOUD_NAME: cloud_entry(
                    config.auth_url, "demo", passwords["demo"], "demo", config.region
                ),
                ADMIN_CLOUD_NAME: cloud_entry(
                    config.auth_url, "admin", passwords["admin"], "admin", config.region
                ),
            }
        },
    )
    return True


def _project_doc(description: str) -> Record:
    return {
        "domain_id": "default",
        "parent_id": "default",
        "description": description,
        "enabled": True,
        "is_domain": False,
        "tags": [],
        "options": {},
    }


def _refresh_credentials(config: LocalCloudConfig) -> None:
    doc = read_clouds_yaml(config.credentials_path)
    clouds = doc.get("clouds") or {}
    if not clouds or all(
        c.get("auth", {}).get("auth_url") == config.auth_url for c in clouds.values()
    ):
        return
    for cloud in clouds.values():
        cloud.setdefault("auth", {})["auth_url"] = config.auth_url
    write_private_yaml(config.credentials_path, doc)


# --- version discovery ---------------------------------------------------------------


def _v3_entry() -> dict[str, Any]:
    entry = version_entry("v3.14", "/identity/v3/", status="stable", updated="2020-04-07T00:00:00Z")
    entry["media-types"] = [
        {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
    ]
    return entry


@bp.get("")
@bp.get("/")
@auth.public
def versions() -> Response:
    response = jsonify({"versions": {"values": [_v3_entry()]}})
    response.status_code = 300
    return response


@bp.get("/v3")
@bp.get("/v3/")
@auth.public
def version_v3() -> Response:
    return jsonify({"version": _v3_entry()})


# --- tokens --------------------------------------------------------------------------


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
        record, user = _authenticate_app_cred(store, identity.get("application_credential"))
        project_id = record["project_id"]
        roles = _app_cred_roles(store, record, user)
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
        user = _get_or_fail(store, "user", previous.user_id)
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
    user = _find_user(store, spec)
    if (
        user is None
        or not user["enabled"]
        or not auth.verify_secret(spec["password"], user["password_hash"])
    ):
        raise faults.Unauthorized(_AUTH_FAILED)
    return user


def _find_user(store: Store, spec: dict[str, Any]) -> Record | None:
    if spec.get("id"):
        return store.get("user", spec["id"])
    domain = _find_domain(spec.get("domain"))
    if not spec.get("name") or domain is None:
        return None
    found = store.list("user", name=spec["name"], domain_id=domain["id"])
    return found[0] if found else None


def _find_domain(spec: Any) -> Record | None:
    if not isinstance(spec, dict):
        return None
    store = current_store()
    if spec.get("id"):
        return store.get("domain", spec["id"])
    found = store.list("domain", name=spec.get("name"))
    return found[0] if found else None


def _scope(store: Store, user: Record, scope: Any) -> tuple[str | None, list[dict[str, str]]]:
    """Project and roles of the token; unscoped falls back to the default project."""
    if scope in (None, "unscoped", {}):
        project_id = user.get("default_project_id")
        roles = _roles_on(store, user["id"], project_id) if project_id else []
        return (project_id, roles) if roles and scope is None else (None, [])
    spec = scope.get("project") if isinstance(scope, dict) else None
    if not isinstance(spec, dict):
        raise faults.Unauthorized("Only project scope is supported by localcloud.")
    if spec.get("id"):
        project = store.get("project", spec["id"])
    else:
        domain = _find_domain(spec.get("domain"))
        found = (
            store.list("project", name=spec.get("name"), domain_id=domain["id"]) if domain else []
        )
        project = found[0] if found else None
    if project is None or not project["enabled"]:
        raise faults.Unauthorized(_AUTH_FAILED)
    roles = _roles_on(store, user["id"], project["id"])
    if not roles:
        raise faults.Unauthorized(f"User {user['id']} has no access to project {project['id']}")
    return project["id"], roles


def _roles_on(store: Store, user_id: str, project_id: str) -> list[dict[str, str]]:
    roles = []
    for grant in store.list("role_assignment", project_id=project_id, user_id=user_id):
        role = store.get("role", grant["role_id"])
        if role:
            roles.append({"id": role["id"], "name": role["name"]})
    return roles


def _token_body(store: Store, caller: auth.Caller, nocatalog: bool = False) -> dict[str, Any]:
    user = _get_or_fail(store, "user", caller.user_id)
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
        project = _get_or_fail(store, "project", caller.project_id)
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
    return jsonify({"catalog": _catalog(g.project_id), "links": _links("auth/catalog")})


@bp.get("/v3/auth/projects")
def auth_projects() -> Response:
    store = current_store()
    ids = {a["project_id"] for a in store.list("role_assignment", user_id=g.user_id)}
    projects = [_project_view(p) for p in store.list("project") if p["id"] in ids]
    return jsonify({"projects": projects, "links": _links("auth/projects")})


@bp.get("/v3/auth/domains")
def auth_domains() -> Response:
    return jsonify({"domains": [], "links": _links("auth/domains")})


# --- projects, users, domains, roles ---------------------------------------------------


def _links(path: str) -> dict[str, Any]:
    return {"self": f"{request.host_url}identity/v3/{path}", "previous": None, "next": None}


def _deny(action: str) -> faults.Forbidden:
    return faults.Forbidden(
        f"You are not authorized to perform the requested action: identity:{action}."
    )


def _get_or_fail(store: Store, kind: str, rid: str) -> Record:
    record = store.get(kind, rid)
    if record is None:
        raise faults.NotFound(f"Could not find {kind}: {rid}.")
    return record


def _project_view(p: Record) -> Record:
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
    return {**{k: p.get(k) for k in keys}, "links": {"self": _links(f"projects/{p['id']}")["self"]}}


def _user_view(u: Record) -> Record:
    keys = ("id", "name", "domain_id", "enabled", "default_project_id", "password_expires_at")
    return {
        **{k: u.get(k) for k in keys},
        "options": {},
        "links": {"self": _links(f"users/{u['id']}")["self"]},
    }


def _filters(*names: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        if name in request.args:
            value: Any = request.args[name]
            out[name] = value.lower() == "true" if name == "enabled" else value
    return out


@bp.get("/v3/projects")
def list_projects() -> Response:
    if not g.is_admin:
        raise _deny("list_projects")
    found = current_store().list("project", **_filters("name", "domain_id", "enabled"))
    return jsonify({"projects": [_project_view(p) for p in found], "links": _links("projects")})


@bp.get("/v3/projects/<project_id>")
def get_project(project_id: str) -> Response:
    if not g.is_admin and project_id != g.project_id:
        raise _deny("get_project")
    return jsonify({"project": _project_view(_get_or_fail(current_store(), "project", project_id))})


@bp.get("/v3/users")
def list_users() -> Response:
    if not g.is_admin:
        raise _deny("list_users")
    found = current_store().list("user", **_filters("name", "domain_id", "enabled"))
    return jsonify({"users": [_user_view(u) for u in found], "links": _links("users")})


@bp.get("/v3/users/<user_id>")
def get_user(user_id: str) -> Response:
    if not g.is_admin and user_id != g.user_id:
        raise _deny("get_user")
    return jsonify({"user": _user_view(_get_or_fail(current_store(), "user", user_id))})


@bp.get("/v3/users/<user_id>/projects")
def list_user_projects(user_id: str) -> Response:
    if not g.is_admin and user_id != g.user_id:
        raise _deny("list_user_projects")
    store = current_store()
    ids = {a["project_id"] for a in store.list("role_assignment", user_id=user_id)}
    projects = [_project_view(p) for p in store.list("project") if p["id"] in ids]
    return jsonify({"projects": projects, "links": _links(f"users/{user_id}/projects")})


@bp.get("/v3/domains")
def list_domains() -> Response:
    found = current_store().list("domain", **_filters("name", "enabled"))
    views = [_domain_view(d) for d in found if g.is_admin or d["id"] == "default"]
    return jsonify({"domains": views, "links": _links("domains")})


@bp.get("/v3/domains/<domain_id>")
def get_domain(domain_id: str) -> Response:
    return jsonify({"domain": _domain_view(_get_or_fail(current_store(), "domain", domain_id))})


def _domain_view(d: Record) -> Record:
    return {
        "id": d["id"],
        "name": d["name"],
        "description": d.get("description", ""),
        "enabled": d["enabled"],
        "tags": [],
        "options": {},
        "links": {"self": _links(f"domains/{d['id']}")["self"]},
    }


@bp.get("/v3/roles")
def list_roles() -> Response:
    found = current_store().list("role", **_filters("name"))
    roles = [
        {
            "id": r["id"],
            "name": r["name"],
            "domain_id": None,
            "description": None,
            "options": {},
            "links": {"self": _links(f"roles/{r['id']}")["self"]},
        }
        for r in found
    ]
    return jsonify({"roles": roles, "links": _links("roles")})


# --- application credentials ---------------------------------------------------------

APP_CRED = "application_credential"


def _authenticate_app_cred(store: Store, spec: Any) -> tuple[Record, Record]:
    """The credential and its user, by id or by name + user; 401 on any mismatch."""
    if not isinstance(spec, dict) or not isinstance(spec.get("secret"), str):
        raise faults.BadRequest("Invalid input for field 'identity/application_credential'.")
    record = None
    if spec.get("id"):
        record = store.get(APP_CRED, spec["id"])
    elif spec.get("name") and isinstance(spec.get("user"), dict):
        user = _find_user(store, spec["user"])
        found = store.list(APP_CRED, name=spec["name"], user_id=user["id"]) if user else []
        record = found[0] if found else None
    if record is None or not auth.verify_secret(spec["secret"], record["secret_hash"]):
        raise faults.Unauthorized(_AUTH_FAILED)
    if record["expires_at"] and auth.parse_time(record["expires_at"]) <= datetime.now(UTC):
        raise faults.Unauthorized("The application credential has expired.")
    user = store.get("user", record["user_id"])
    if user is None or not user["enabled"]:
        raise faults.Unauthorized(_AUTH_FAILED)
    return record, user


def _app_cred_roles(store: Store, record: Record, user: Record) -> list[dict[str, str]]:
    """The credential's roles the user still holds: revoking a role disarms it too."""
    held = {r["id"] for r in _roles_on(store, user["id"], record["project_id"])}
    roles = [r for r in record["roles"] if r["id"] in held]
    if not roles:
        raise faults.Unauthorized(_AUTH_FAILED)
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
        "links": {
            "self": _links(f"users/{record['user_id']}/application_credentials/{record['id']}")[
                "self"
            ]
        },
    }
    if secret is not None:
        view["secret"] = secret
    return view


def _own_credentials(user_id: str, action: str) -> None:
    if user_id != g.user_id:
        raise _deny(action)


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
                "access_rules": spec.get("access_rules") or [],
                "secret_hash": auth.hash_secret(secret),
            },
            name=name,
            project_id=caller.project_id,
        )
    return jsonify({APP_CRED: _app_cred_view(record, secret)}), 201


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
    found = current_store().list(APP_CRED, user_id=user_id, **_filters("name"))
    return jsonify(
        {
            "application_credentials": [_app_cred_view(r) for r in found],
            "links": _links(f"users/{user_id}/application_credentials"),
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
