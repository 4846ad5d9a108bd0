"""Keystone v3, the part openstacksdk and the `openstack` CLI need, and its admin API.

Tokens (password, application_credential and token methods; project scope), token
validation and revocation, the catalog, domains (the default one), and, as Keystone's
reference defines them, projects, users, roles and role assignments with Keystone's
default policy (only admin manages them; a token reads its own user and project).
Tokens and the catalog are in tokens.py, application credentials in appcreds.py, the
admin API in projects.py, users.py, roles.py and grants.py, what they share (store
types, policy, effective roles) in common.py.

`bootstrap()` seeds one domain ("default"), Keystone's default roles (roles.py),
projects "admin" and "demo", users "admin" (admin, member and reader on admin) and
"demo" (member and reader on demo) with random passwords, written only to the 0600
`clouds.yaml` in the data dir.
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
from cloudhp_localcloud.identity import appcreds, grants, projects, roles, tokens, users
from cloudhp_localcloud.identity.common import (
    ASSIGNMENT,
    bp,
    filters,
    get_or_fail,
    links,
    self_link,
)
from cloudhp_localcloud.store import Record, Store, current_store

# The route modules register on `bp` when imported; keep them referenced.
_ROUTES = (tokens, appcreds, projects, users, roles, grants)


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
        seeded = store.get("domain", "default") is not None
        if not seeded:
            store.insert(
                "domain",
                {"description": "The default domain", "enabled": True},
                id="default",
                name="Default",
            )
        role_ids = roles.ensure_default_roles(store)
        if seeded:
            _refresh_credentials(config)
            return False
        passwords = {}
        for name, granted in (
            ("admin", ("admin", "member", "reader")),
            ("demo", ("member", "reader")),
        ):
            project = store.insert("project", projects.project_doc(f"{name} project"), name=name)
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
                    ASSIGNMENT,
                    {"user_id": user["id"], "role_id": role_ids[role]},
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


# --- domains ---------------------------------------------------------------------------


@bp.get("/v3/auth/domains")
def auth_domains() -> Response:
    return jsonify({"domains": [], "links": links("auth/domains")})


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
