"""Keystone projects: create, list, show, update, delete; the projects of a user.

Policy, as Keystone's defaults read without system scope: the admin role (on any
project) manages projects and lists them all; any token may show its own project and
list its own user's projects (what keystoneauth and the CLI do with an unscoped
token); everything else is Keystone's 403.

Deleting a project takes its role assignments, application credentials and tokens
with it, as Keystone does. What the other services keep for it stays, as in
OpenStack: an admin deletes a project's servers and networks first. Disabling one
revokes its tokens; no new token can be scoped to it.
"""

from __future__ import annotations

from flask import Response, g, jsonify

from cloudhp_localcloud import faults
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
    project_view,
    projects_of,
    require_admin,
    require_name,
    revoke_tokens,
)
from cloudhp_localcloud.store import Record, Store, current_store

PROJECT = "project"
NAME_MAX = 64  # Keystone's schema for project names
_UPDATABLE = (("description", str), ("enabled", bool), ("tags", list), ("options", dict))


def project_doc(
    description: str | None, domain_id: str = "default", parent_id: str | None = None
) -> Record:
    """A new project's document (its name goes in the store's name column)."""
    return {
        "domain_id": domain_id,
        "parent_id": parent_id or domain_id,
        "description": description,
        "enabled": True,
        "is_domain": False,
        "tags": [],
        "options": {},
    }


def _unique_name(store: Store, name: str, domain_id: str, project_id: str | None = None) -> None:
    clash = [
        p for p in store.list(PROJECT, name=name, domain_id=domain_id) if p["id"] != project_id
    ]
    if clash:
        raise faults.Conflict(
            "Conflict occurred attempting to store project - it is not permitted to have "
            f"two projects with the same name in the same domain : {name}."
        )


def _tags(value: list[object]) -> list[str]:
    if not all(isinstance(t, str) and 0 < len(t) <= 255 and not set(t) & {"/", ","} for t in value):
        raise faults.BadRequest(
            "Invalid input for field 'tags': each tag is 1 to 255 characters, without '/' or ','."
        )
    return [str(t) for t in value]


@bp.get("/v3/auth/projects")
def auth_projects() -> Response:
    projects = projects_of(current_store(), g.user_id)
    return jsonify({"projects": projects, "links": links("auth/projects")})


@bp.get("/v3/users/<user_id>/projects")
def list_user_projects(user_id: str) -> Response:
    if not g.is_admin and user_id != g.user_id:
        raise deny("list_user_projects")
    projects = projects_of(current_store(), user_id)
    return jsonify({"projects": projects, "links": links(f"users/{user_id}/projects")})


@bp.get("/v3/projects")
def list_projects() -> Response:
    require_admin("list_projects")
    found = current_store().list(PROJECT, **filters("name", "domain_id", "enabled", "parent_id"))
    return jsonify({"projects": [project_view(p) for p in found], "links": links("projects")})


@bp.get("/v3/projects/<project_id>")
def get_project(project_id: str) -> Response:
    if not g.is_admin and project_id != g.project_id:
        raise deny("get_project")
    return jsonify({"project": project_view(get_or_fail(current_store(), PROJECT, project_id))})


@bp.post("/v3/projects")
def create_project() -> tuple[Response, int]:
    require_admin("create_project")
    spec = member_body(PROJECT)
    name = require_name(spec, PROJECT, NAME_MAX)
    domain_id = checked(spec, "domain_id", str) if "domain_id" in spec else "default"
    if spec.get("is_domain"):
        raise faults.BadRequest("localcloud has one domain: a project cannot be a domain.")
    parent_id = checked(spec, "parent_id", str, nullable=True) if "parent_id" in spec else None
    store = current_store()
    with store.transaction():
        get_or_fail(store, "domain", domain_id)
        if parent_id not in (None, domain_id):
            parent = get_or_fail(store, PROJECT, parent_id)
            if parent["domain_id"] != domain_id:
                raise faults.BadRequest("Cannot create project, the parent is in another domain.")
        _unique_name(store, name, domain_id)
        doc = project_doc(None, domain_id, parent_id)
        for key, kind in _UPDATABLE:
            if key in spec:
                doc[key] = checked(spec, key, kind, nullable=key == "description")
        doc["tags"] = _tags(doc["tags"])
        project = store.insert(PROJECT, doc, name=name)
    return jsonify({"project": project_view(project)}), 201


@bp.patch("/v3/projects/<project_id>")
def update_project(project_id: str) -> Response:
    require_admin("update_project")
    spec = member_body(PROJECT)
    store = current_store()
    with store.transaction():
        project = get_or_fail(store, PROJECT, project_id)
        fixed(spec, project, ("id", "domain_id", "is_domain", "parent_id"))
        changes: Record = {}
        if "name" in spec:
            changes["name"] = require_name(spec, PROJECT, NAME_MAX)
            _unique_name(store, changes["name"], project["domain_id"], project_id)
        for key, kind in _UPDATABLE:
            if key in spec:
                changes[key] = checked(spec, key, kind, nullable=key == "description")
        if "tags" in changes:
            changes["tags"] = _tags(changes["tags"])
        project = store.update(PROJECT, project_id, changes)
        if changes.get("enabled") is False:
            revoke_tokens(store, project_id=project_id)
    return jsonify({"project": project_view(project)})


@bp.delete("/v3/projects/<project_id>")
def delete_project(project_id: str) -> tuple[str, int]:
    require_admin("delete_project")
    store = current_store()
    with store.transaction():
        get_or_fail(store, PROJECT, project_id)
        if store.list(PROJECT, parent_id=project_id):
            raise faults.Forbidden(
                f"Cannot delete the project {project_id} since it is not a leaf in the "
                "hierarchy. Use the cascade option if you want to delete a whole subtree."
            )
        for kind in (ASSIGNMENT, "application_credential"):
            for record in store.list(kind, project_id=project_id):
                store.delete(kind, record["id"])
        revoke_tokens(store, project_id=project_id)
        store.delete(PROJECT, project_id)
    return "", 204
