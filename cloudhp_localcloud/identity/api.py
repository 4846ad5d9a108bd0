"""Keystone v3, the part openstacksdk and the `openstack` CLI need.

Tokens (password, application_credential and token methods; project scope), token
validation and revocation, the catalog, projects, users, domains, roles, and
application credentials. Resource types in the store: domain, project, user, role,
role_assignment (project_id column + user_id, role_id), application_credential
(project_id column + user_id), token (see auth.py). Tokens and the catalog are in
tokens.py, application credentials in appcreds.py, what they share in common.py.

`bootstrap()` seeds one domain ("default"), projects "admin" and "demo", users "admin"
(role admin on admin) and "demo" (member and reader on demo) with random passwords,
written only to the 0600 `clouds.yaml` in the data dir.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Response, g, jsonify

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.catalog import Service, version_entry
from cloudhp_localcloud.config import (
    ADMIN_CLOUD_NAME,
    CLOUD_NAME,
    LocalCloudConfig,
    cloud_entry,
    read_clouds_yaml,
    write_private_yaml,
)
from cloudhp_localcloud.identity import appcreds, tokens
from cloudhp_localcloud.identity.common import (
    bp,
    deny,
    filters,
    get_or_fail,
    links,
    project_view,
    projects_of,
    self_link,
)
from cloudhp_localcloud.store import Record, Store, current_store

# The route modules register on `bp` when imported; keep them referenced.
_ROUTES = (tokens, appcreds)


def _bootstrap(store: Store, config: LocalCloudConfig) -> None:
    bootstrap(store, config)


SERVICE = Service(
    name="keystone",
    types=("identity",),
    prefix="/identity",
    endpoint="/identity",
    blueprint=bp,
    fault_style=faults.KEYSTONE,
    startup=_bootstrap,  # first: the other services' seeds need the admin project
    unscoped_tokens=True,  # its own views check scope where it matters
)


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


# --- projects, users, domains, roles ---------------------------------------------------


@bp.get("/v3/auth/projects")
def auth_projects() -> Response:
    projects = projects_of(current_store(), g.user_id)
    return jsonify({"projects": projects, "links": links("auth/projects")})


@bp.get("/v3/auth/domains")
def auth_domains() -> Response:
    return jsonify({"domains": [], "links": links("auth/domains")})


def _user_view(u: Record) -> Record:
    keys = ("id", "name", "domain_id", "enabled", "default_project_id", "password_expires_at")
    return {
        **{k: u.get(k) for k in keys},
        "options": {},
        "links": self_link(f"users/{u['id']}"),
    }


@bp.get("/v3/projects")
def list_projects() -> Response:
    if not g.is_admin:
        raise deny("list_projects")
    found = current_store().list("project", **filters("name", "domain_id", "enabled"))
    return jsonify({"projects": [project_view(p) for p in found], "links": links("projects")})


@bp.get("/v3/projects/<project_id>")
def get_project(project_id: str) -> Response:
    if not g.is_admin and project_id != g.project_id:
        raise deny("get_project")
    return jsonify({"project": project_view(get_or_fail(current_store(), "project", project_id))})


@bp.get("/v3/users")
def list_users() -> Response:
    if not g.is_admin:
        raise deny("list_users")
    found = current_store().list("user", **filters("name", "domain_id", "enabled"))
    return jsonify({"users": [_user_view(u) for u in found], "links": links("users")})


@bp.get("/v3/users/<user_id>")
def get_user(user_id: str) -> Response:
    if not g.is_admin and user_id != g.user_id:
        raise deny("get_user")
    return jsonify({"user": _user_view(get_or_fail(current_store(), "user", user_id))})


@bp.get("/v3/users/<user_id>/projects")
def list_user_projects(user_id: str) -> Response:
    if not g.is_admin and user_id != g.user_id:
        raise deny("list_user_projects")
    projects = projects_of(current_store(), user_id)
    return jsonify({"projects": projects, "links": links(f"users/{user_id}/projects")})


@bp.get("/v3/domains")
def list_domains() -> Response:
    found = current_store().list("domain", **filters("name", "enabled"))
    views = [_domain_view(d) for d in found if g.is_admin or d["id"] == "default"]
    return jsonify({"domains": views, "links": links("domains")})


@bp.get("/v3/domains/<domain_id>")
def get_domain(domain_id: str) -> Response:
    return jsonify({"domain": _domain_view(get_or_fail(current_store(), "domain", domain_id))})


def _domain_view(d: Record) -> Record:
    return {
        "id": d["id"],
        "name": d["name"],
        "description": d.get("description", ""),
        "enabled": d["enabled"],
        "tags": [],
        "options": {},
        "links": self_link(f"domains/{d['id']}"),
    }


@bp.get("/v3/roles")
def list_roles() -> Response:
    found = current_store().list("role", **filters("name"))
    roles = [
        {
            "id": r["id"],
            "name": r["name"],
            "domain_id": None,
            "description": None,
            "options": {},
            "links": self_link(f"roles/{r['id']}"),
        }
        for r in found
    ]
    return jsonify({"roles": roles, "links": links("roles")})
