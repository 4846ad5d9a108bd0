"""Keystone's admin API, projects and users as its reference defines them (paths,
bodies, status codes), and Keystone's default policy over the whole admin API: only
the admin role manages it, a token reads its own user and project, the rest is 403.
Roles and role assignments: test_identity_roles.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Api
from .keystone_people import (
    V3,
    alive,
    cheap_hashes,
    make_person,
    make_project,
    password_auth,
    role_id,
    token,
)


@pytest.fixture(scope="module", autouse=True)
def _cheap_hashes() -> Iterator[None]:
    with cheap_hashes():
        yield


def _admin(api: Api) -> dict[str, str]:
    return api.headers("admin")


def _forbidden(resp: Any, action: str) -> None:
    assert resp.status_code == 403, resp.get_json()
    error = resp.get_json()["error"]
    assert error == {
        "code": 403,
        "title": "Forbidden",
        "message": f"You are not authorized to perform the requested action: identity:{action}.",
    }


# --- projects ---------------------------------------------------------------------------


def test_project_lifecycle(api: Api) -> None:
    admin = _admin(api)
    body = {"project": {"name": "lab", "description": "a lab", "tags": ["x"]}}
    created = api.client.post(f"{V3}/projects", json=body, headers=admin)
    assert created.status_code == 201
    project = created.get_json()["project"]
    assert project["name"] == "lab" and project["domain_id"] == "default"
    assert project["parent_id"] == "default" and project["enabled"] is True
    assert project["description"] == "a lab" and project["tags"] == ["x"]
    url = f"{V3}/projects/{project['id']}"
    assert api.client.post(f"{V3}/projects", json=body, headers=admin).status_code == 409
    listed = api.client.get(f"{V3}/projects?name=lab", headers=admin).get_json()["projects"]
    assert [p["id"] for p in listed] == [project["id"]]
    patch = {"project": {"name": "lab2", "enabled": False, "description": None}}
    updated = api.client.patch(url, json=patch, headers=admin)
    assert updated.status_code == 200
    assert updated.get_json()["project"] | patch["project"] == updated.get_json()["project"]
    assert api.client.get(url, headers=admin).get_json()["project"]["name"] == "lab2"
    assert api.client.delete(url, headers=admin).status_code == 204
    gone = api.client.get(url, headers=admin)
    assert gone.status_code == 404
    assert gone.get_json()["error"]["message"] == f"Could not find project: {project['id']}."


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"project": {}}, 400),
        ({"project": {"name": "x" * 65}}, 400),
        ({"project": {"name": "   "}}, 400),
        ({"project": {"name": "ok", "enabled": "yes"}}, 400),
        ({"project": {"name": "ok", "domain_id": "nowhere"}}, 404),
        ({"project": {"name": "ok", "parent_id": "nowhere"}}, 404),
        ({"name": "ok"}, 400),
    ],
)
def test_project_create_checks_its_body(api: Api, body: dict[str, Any], status: int) -> None:
    resp = api.client.post(f"{V3}/projects", json=body, headers=_admin(api))
    assert resp.status_code == status, resp.get_json()


def test_project_update_refuses_what_cannot_change(api: Api) -> None:
    project_id = make_project(api, "fixed")
    url = f"{V3}/projects/{project_id}"
    for key in ("domain_id", "parent_id", "is_domain"):
        resp = api.client.patch(url, json={"project": {key: "other"}}, headers=_admin(api))
        assert resp.status_code == 400
        assert resp.get_json()["error"]["message"] == f"Update of `{key}` is not allowed."
    renamed = api.client.patch(url, json={"project": {"name": "demo"}}, headers=_admin(api))
    assert renamed.status_code == 409


def test_a_parent_project_is_deleted_after_its_children(api: Api) -> None:
    parent = make_project(api, "parent")
    body = {"project": {"name": "child", "parent_id": parent}}
    child = api.client.post(f"{V3}/projects", json=body, headers=_admin(api)).get_json()["project"]
    assert child["parent_id"] == parent
    assert api.client.delete(f"{V3}/projects/{parent}", headers=_admin(api)).status_code == 403
    assert api.client.delete(f"{V3}/projects/{child['id']}", headers=_admin(api)).status_code == 204
    assert api.client.delete(f"{V3}/projects/{parent}", headers=_admin(api)).status_code == 204


def test_deleting_a_project_takes_its_grants_and_tokens(api: Api) -> None:
    project_id = make_project(api, "doomed")
    person = make_person(api, "doomed-user", project_id, "member")
    tok = token(api, person)
    assert api.client.delete(f"{V3}/projects/{project_id}", headers=_admin(api)).status_code == 204
    assert alive(api, tok) == 401
    left = api.client.get(f"{V3}/role_assignments?user.id={person.user_id}", headers=_admin(api))
    assert left.get_json()["role_assignments"] == []


def test_disabling_a_project_revokes_its_tokens(api: Api) -> None:
    project_id = make_project(api, "paused")
    person = make_person(api, "paused-user", project_id, "member")
    tok = token(api, person)
    off = {"project": {"enabled": False}}
    resp = api.client.patch(f"{V3}/projects/{project_id}", json=off, headers=_admin(api))
    assert resp.status_code == 200
    assert alive(api, tok) == 401
    assert api.client.post(f"{V3}/auth/tokens", json=password_auth(person)).status_code == 401


# --- users ------------------------------------------------------------------------------


def test_user_lifecycle(api: Api) -> None:
    admin = _admin(api)
    project_id = make_project(api, "users-home")
    body = {
        "user": {
            "name": "alice",
            "password": "s3cret-pass",
            "default_project_id": project_id,
            "email": "alice@example.org",
        }
    }
    created = api.client.post(f"{V3}/users", json=body, headers=admin)
    assert created.status_code == 201
    user = created.get_json()["user"]
    assert user["name"] == "alice" and user["domain_id"] == "default" and user["enabled"]
    assert user["default_project_id"] == project_id and user["email"] == "alice@example.org"
    assert "password" not in user and "password_hash" not in user
    assert api.client.post(f"{V3}/users", json=body, headers=admin).status_code == 409
    listed = api.client.get(f"{V3}/users?name=alice", headers=admin).get_json()["users"]
    assert [u["id"] for u in listed] == [user["id"]]
    url = f"{V3}/users/{user['id']}"
    patched = api.client.patch(url, json={"user": {"name": "alice2"}}, headers=admin)
    assert patched.status_code == 200 and patched.get_json()["user"]["name"] == "alice2"
    assert api.client.delete(url, headers=admin).status_code == 204
    assert api.client.get(url, headers=admin).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"user": {}},
        {"user": {"name": ""}},
        {"user": {"name": "x", "password": 7}},
        {"user": {"name": "x", "enabled": 1}},
    ],
)
def test_user_create_checks_its_body(api: Api, body: dict[str, Any]) -> None:
    resp = api.client.post(f"{V3}/users", json=body, headers=_admin(api))
    assert resp.status_code == 400 and "Invalid input" in resp.get_json()["error"]["message"]


def test_user_default_project_must_exist(api: Api) -> None:
    body = {"user": {"name": "lost", "default_project_id": "nowhere"}}
    assert api.client.post(f"{V3}/users", json=body, headers=_admin(api)).status_code == 404


def test_a_new_password_revokes_tokens_and_replaces_the_old_one(api: Api) -> None:
    person = make_person(api, "rotating", make_project(api, "rotating-home"), "member")
    tok = token(api, person)
    new = {"user": {"password": "the-new-one"}}
    url = f"{V3}/users/{person.user_id}"
    assert api.client.patch(url, json=new, headers=_admin(api)).status_code == 200
    assert alive(api, tok) == 401
    assert api.client.post(f"{V3}/auth/tokens", json=password_auth(person)).status_code == 401
    renewed = password_auth(person, "the-new-one")
    assert api.client.post(f"{V3}/auth/tokens", json=renewed).status_code == 201


def test_a_disabled_or_deleted_user_loses_its_tokens(api: Api) -> None:
    home = make_project(api, "leaving-home")
    for gone in ({"json": {"user": {"enabled": False}}}, None):
        person = make_person(api, f"leaving-{bool(gone)}", home, "member")
        tok = token(api, person)
        url = f"{V3}/users/{person.user_id}"
        if gone:
            assert api.client.patch(url, headers=_admin(api), **gone).status_code == 200
        else:
            assert api.client.delete(url, headers=_admin(api)).status_code == 204
        assert alive(api, tok) == 401
        assert api.client.post(f"{V3}/auth/tokens", json=password_auth(person)).status_code == 401


def test_a_user_without_password_cannot_log_in(api: Api) -> None:
    body = {"user": {"name": "nopass"}}
    user = api.client.post(f"{V3}/users", json=body, headers=_admin(api)).get_json()["user"]
    identity = {"methods": ["password"], "password": {"user": {"id": user["id"], "password": ""}}}
    resp = api.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": identity}})
    assert resp.status_code == 401


# --- policy -------------------------------------------------------------------------------


def _denied_calls(api: Api) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    admin_user = api.token("admin")[1]["user"]["id"]
    admin_project = api.project_id("admin")
    demo_user = api.token()[1]["user"]["id"]
    reader = role_id(api, "reader")
    grant = f"{V3}/projects/{api.project_id()}/users/{demo_user}/roles/{reader}"
    return [
        ("GET", f"{V3}/projects", None, "list_projects"),
        ("GET", f"{V3}/projects/{admin_project}", None, "get_project"),
        ("POST", f"{V3}/projects", {"project": {"name": "mine"}}, "create_project"),
        (
            "PATCH",
            f"{V3}/projects/{api.project_id()}",
            {"project": {"name": "x"}},
            "update_project",
        ),
        ("DELETE", f"{V3}/projects/{admin_project}", None, "delete_project"),
        ("GET", f"{V3}/users", None, "list_users"),
        ("GET", f"{V3}/users/{admin_user}", None, "get_user"),
        ("GET", f"{V3}/users/{admin_user}/projects", None, "list_user_projects"),
        ("POST", f"{V3}/users", {"user": {"name": "mine"}}, "create_user"),
        ("PATCH", f"{V3}/users/{demo_user}", {"user": {"enabled": True}}, "update_user"),
        ("DELETE", f"{V3}/users/{admin_user}", None, "delete_user"),
        ("GET", f"{V3}/roles", None, "list_roles"),
        ("GET", f"{V3}/roles/{reader}", None, "get_role"),
        ("POST", f"{V3}/roles", {"role": {"name": "mine"}}, "create_role"),
        ("PATCH", f"{V3}/roles/{reader}", {"role": {"name": "x"}}, "update_role"),
        ("DELETE", f"{V3}/roles/{reader}", None, "delete_role"),
        ("GET", f"{V3}/role_inferences", None, "list_role_inference_rules"),
        ("PUT", grant.replace(reader, role_id(api, "admin")), None, "create_grant"),
        ("GET", grant, None, "check_grant"),
        ("DELETE", grant, None, "revoke_grant"),
        ("GET", grant.rsplit("/", 1)[0], None, "list_grants"),
        ("GET", f"{V3}/role_assignments", None, "list_role_assignments"),
    ]


def test_a_member_gets_keystones_403_for_the_admin_api(api: Api) -> None:
    demo = api.headers()
    calls = _denied_calls(api)
    for method, url, body, action in calls:
        _forbidden(api.client.open(url, method=method, json=body, headers=demo), action)
    admin_project = api.project_id("admin")
    still = api.client.get(f"{V3}/projects/{admin_project}", headers=_admin(api))
    assert still.status_code == 200
    held = api.client.get(
        f"{V3}/role_assignments?scope.project.id={api.project_id()}", headers=_admin(api)
    )
    assert {e["role"]["id"] for e in held.get_json()["role_assignments"]} == {
        role_id(api, "member"),
        role_id(api, "reader"),
    }


def test_a_member_reads_its_own_user_and_project(api: Api) -> None:
    tok, body = api.token()
    own = {"X-Auth-Token": tok}
    user_id, project_id = body["user"]["id"], body["project"]["id"]
    user = api.client.get(f"{V3}/users/{user_id}", headers=own)
    assert user.status_code == 200 and user.get_json()["user"]["name"] == "demo"
    project = api.client.get(f"{V3}/projects/{project_id}", headers=own)
    assert project.status_code == 200 and project.get_json()["project"]["name"] == "demo"
    mine = api.client.get(f"{V3}/users/{user_id}/projects", headers=own)
    assert [p["name"] for p in mine.get_json()["projects"]] == ["demo"]


def test_admin_of_another_project_manages_everything(api: Api) -> None:
    """Keystone's default admin rule: the admin role on any project is enough."""
    ops_project = make_project(api, "ops")
    operator = make_person(api, "operator", ops_project, "admin")
    ops = {"X-Auth-Token": token(api, operator)}
    made = api.client.post(f"{V3}/projects", json={"project": {"name": "by-ops"}}, headers=ops)
    assert made.status_code == 201
    assert api.client.get(f"{V3}/users", headers=ops).status_code == 200
