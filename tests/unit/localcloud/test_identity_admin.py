"""Keystone's admin API: projects, users, roles and role assignments as its reference
defines them (paths, bodies, status codes), with Keystone's default policy: only the
admin role manages them, a token reads its own user and project, the rest is 403."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cloudhp_localcloud.app import create_app
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.identity.api import bootstrap

from .conftest import Api
from .keystone_people import (
    V3,
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


def _alive(api: Api, tok: str) -> int:
    return int(api.client.get(f"{V3}/auth/projects", headers={"X-Auth-Token": tok}).status_code)


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
    assert _alive(api, tok) == 401
    left = api.client.get(f"{V3}/role_assignments?user.id={person.user_id}", headers=_admin(api))
    assert left.get_json()["role_assignments"] == []


def test_disabling_a_project_revokes_its_tokens(api: Api) -> None:
    project_id = make_project(api, "paused")
    person = make_person(api, "paused-user", project_id, "member")
    tok = token(api, person)
    off = {"project": {"enabled": False}}
    resp = api.client.patch(f"{V3}/projects/{project_id}", json=off, headers=_admin(api))
    assert resp.status_code == 200
    assert _alive(api, tok) == 401
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
    assert _alive(api, tok) == 401
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
        assert _alive(api, tok) == 401
        assert api.client.post(f"{V3}/auth/tokens", json=password_auth(person)).status_code == 401


def test_a_user_without_password_cannot_log_in(api: Api) -> None:
    body = {"user": {"name": "nopass"}}
    user = api.client.post(f"{V3}/users", json=body, headers=_admin(api)).get_json()["user"]
    identity = {"methods": ["password"], "password": {"user": {"id": user["id"], "password": ""}}}
    resp = api.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": identity}})
    assert resp.status_code == 401


# --- roles and implied roles --------------------------------------------------------------


def test_default_roles_imply_each_other_and_are_immutable(api: Api) -> None:
    admin = _admin(api)
    roles = {r["name"]: r for r in api.client.get(f"{V3}/roles", headers=admin).get_json()["roles"]}
    assert {"admin", "member", "reader"} <= set(roles)
    assert all(roles[n]["options"] == {"immutable": True} for n in ("admin", "member", "reader"))
    inferences = api.client.get(f"{V3}/role_inferences", headers=admin).get_json()
    rules = {
        (i["prior_role"]["name"], implied["name"])
        for i in inferences["role_inferences"]
        for implied in i["implies"]
    }
    assert rules == {("admin", "member"), ("member", "reader")}
    member = roles["member"]["id"]
    one = api.client.get(f"{V3}/roles/{member}/implies/{roles['reader']['id']}", headers=admin)
    assert one.status_code == 200
    assert one.get_json()["role_inference"]["implies"]["name"] == "reader"
    assert api.client.get(f"{V3}/roles/{member}/implies/{member}", headers=admin).status_code == 404
    mine = api.client.get(f"{V3}/roles/{member}/implies", headers=admin).get_json()
    assert [r["name"] for r in mine["role_inference"]["implies"]] == ["reader"]
    delete = api.client.delete(f"{V3}/roles/{member}", headers=admin)
    assert delete.status_code == 403 and "immutable" in delete.get_json()["error"]["message"]
    rename = api.client.patch(f"{V3}/roles/{member}", json={"role": {"name": "m"}}, headers=admin)
    assert rename.status_code == 403


def test_role_lifecycle_and_immutability(api: Api) -> None:
    admin = _admin(api)
    body = {"role": {"name": "auditor", "options": {"immutable": True}}}
    created = api.client.post(f"{V3}/roles", json=body, headers=admin)
    assert created.status_code == 201
    role = created.get_json()["role"]
    assert role["name"] == "auditor" and role["domain_id"] is None
    assert api.client.post(f"{V3}/roles", json=body, headers=admin).status_code == 409
    url = f"{V3}/roles/{role['id']}"
    assert api.client.delete(url, headers=admin).status_code == 403
    unlock = {"role": {"options": {"immutable": False}}}
    assert api.client.patch(url, json=unlock, headers=admin).get_json()["role"]["options"] == {
        "immutable": False
    }
    renamed = api.client.patch(url, json={"role": {"name": "auditor2"}}, headers=admin)
    assert renamed.status_code == 200 and renamed.get_json()["role"]["name"] == "auditor2"
    assert api.client.get(url, headers=admin).get_json()["role"]["name"] == "auditor2"
    assert api.client.delete(url, headers=admin).status_code == 204
    assert api.client.get(url, headers=admin).status_code == 404


def test_deleting_a_role_takes_its_grants_and_tokens(api: Api) -> None:
    admin = _admin(api)
    role = api.client.post(f"{V3}/roles", json={"role": {"name": "temp"}}, headers=admin)
    role_url = f"{V3}/roles/{role.get_json()['role']['id']}"
    home = make_project(api, "temp-home")
    person = make_person(api, "temp-user", home, "temp", "member")
    tok = token(api, person)
    assert api.client.delete(role_url, headers=admin).status_code == 204
    assert _alive(api, tok) == 401
    held = api.client.get(f"{V3}/projects/{home}/users/{person.user_id}/roles", headers=admin)
    assert [r["name"] for r in held.get_json()["roles"]] == ["member"]


# --- grants and role assignments ----------------------------------------------------------


def test_grant_check_list_revoke(api: Api) -> None:
    admin = _admin(api)
    home = make_project(api, "granted-home")
    person = make_person(api, "granted", home)
    reader = role_id(api, "reader")
    grant = f"{V3}/projects/{home}/users/{person.user_id}/roles/{reader}"
    assert api.client.head(grant, headers=admin).status_code == 404
    assert api.client.put(grant, headers=admin).status_code == 204
    assert api.client.put(grant, headers=admin).status_code == 204  # already there: fine
    assert api.client.head(grant, headers=admin).status_code == 204
    assert api.client.get(grant, headers=admin).status_code == 204
    listed = api.client.get(f"{V3}/projects/{home}/users/{person.user_id}/roles", headers=admin)
    assert [r["id"] for r in listed.get_json()["roles"]] == [reader]
    tok = token(api, person)
    assert api.client.delete(grant, headers=admin).status_code == 204
    assert _alive(api, tok) == 401
    again = api.client.delete(grant, headers=admin)
    assert again.status_code == 404
    assert again.get_json()["error"]["message"] == (
        f"Could not find role assignment with role: {reader}, user or group: "
        f"{person.user_id}, project, domain, or system: {home}."
    )
    assert api.client.post(f"{V3}/auth/tokens", json=password_auth(person)).status_code == 401


@pytest.mark.parametrize("missing", ["project", "user", "role"])
def test_grant_to_something_missing_is_404(api: Api, missing: str) -> None:
    ids = {"project": api.project_id(), "user": api.token()[1]["user"]["id"]}
    ids["role"] = role_id(api, "reader")
    ids[missing] = "nowhere"
    url = f"{V3}/projects/{ids['project']}/users/{ids['user']}/roles/{ids['role']}"
    resp = api.client.put(url, headers=_admin(api))
    assert resp.status_code == 404
    assert resp.get_json()["error"]["message"] == f"Could not find {missing}: nowhere."


def test_a_members_token_carries_the_roles_member_implies(api: Api) -> None:
    person = make_person(api, "only-member", make_project(api, "member-home"), "member")
    resp = api.client.post(f"{V3}/auth/tokens", json=password_auth(person))
    assert [r["name"] for r in resp.get_json()["token"]["roles"]] == ["member", "reader"]


def test_role_assignments_filters_effective_and_names(api: Api) -> None:
    admin = _admin(api)
    home = make_project(api, "listed-home")
    person = make_person(api, "listed", home, "member")
    member, reader = role_id(api, "member"), role_id(api, "reader")
    base = f"{V3}/role_assignments?user.id={person.user_id}"

    def listed(query: str = "") -> list[dict[str, Any]]:
        resp = api.client.get(base + query, headers=admin)
        assert resp.status_code == 200, resp.get_json()
        entries: list[dict[str, Any]] = resp.get_json()["role_assignments"]
        return entries

    grant_url = f"http://localhost/identity/v3/projects/{home}/users/{person.user_id}/roles/"
    assert listed() == [
        {
            "role": {"id": member},
            "user": {"id": person.user_id},
            "scope": {"project": {"id": home}},
            "links": {"assignment": grant_url + member},
        }
    ]
    effective = listed("&effective")
    assert [e["role"]["id"] for e in effective] == [member, reader]
    assert effective[1]["links"] == {
        "assignment": grant_url + member,
        "prior_role": f"http://localhost/identity/v3/roles/{member}/implies/{reader}",
    }
    assert [e["role"]["id"] for e in listed(f"&effective&role.id={reader}")] == [reader]
    assert listed(f"&role.id={reader}") == []
    assert listed(f"&scope.project.id={api.project_id()}") == []
    assert listed("&scope.domain.id=default") == []
    (named,) = listed("&include_names")
    assert named["role"]["name"] == "member" and named["user"]["name"] == "listed"
    assert named["scope"]["project"]["name"] == "listed-home"
    assert named["user"]["domain"] == {"id": "default", "name": "Default"}
    assert listed("&effective=false") == listed()
    everyone = api.client.get(f"{V3}/role_assignments?scope.project.id={home}", headers=admin)
    assert len(everyone.get_json()["role_assignments"]) == 1


@pytest.mark.parametrize(
    "query",
    ["user.id=a&group.id=b", "scope.project.id=a&scope.domain.id=b", "effective&group.id=b"],
)
def test_role_assignments_refuse_contradicting_filters(api: Api, query: str) -> None:
    resp = api.client.get(f"{V3}/role_assignments?{query}", headers=_admin(api))
    assert resp.status_code == 400


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


# --- seeding ------------------------------------------------------------------------------


def test_a_state_from_before_implied_roles_gets_them_at_start(tmp_path: Any) -> None:
    config = LocalCloudConfig(data_dir=tmp_path)
    app = create_app(config)
    store = app.extensions["cloudhp_localcloud.store"]
    for rule in store.list("implied_role"):
        store.delete("implied_role", rule["id"])
    for role in store.list("role"):  # an admin unlocked one; the others never had options
        options = {"immutable": False} if role["name"] == "admin" else None
        store.update("role", role["id"], {"options": options})
    assert bootstrap(store, config) is False
    names = {r["id"]: r["name"] for r in store.list("role")}
    rules = {
        (names[r["prior_role_id"]], names[r["implied_role_id"]]) for r in store.list("implied_role")
    }
    assert rules == {("admin", "member"), ("member", "reader")}
    options = {r["name"]: r.get("options") for r in store.list("role")}
    assert options == {
        "admin": {"immutable": False},
        "member": {"immutable": True},
        "reader": {"immutable": True},
    }
    assert len(store.list("role")) == 3  # nothing made twice
