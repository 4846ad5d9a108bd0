"""Keystone's roles, implied roles and role assignments as its reference defines them
(grants PUT/HEAD/GET/DELETE, GET /v3/role_assignments and its filters), the default
roles admin > member > reader, and their seeding on a state that predates them. The
policy over these calls: test_identity_admin.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudhp_localcloud.app import create_app
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.identity.api import bootstrap

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
    assert alive(api, tok) == 401
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
    assert alive(api, tok) == 401
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


# --- seeding ------------------------------------------------------------------------------


def test_a_state_from_before_implied_roles_gets_them_at_start(tmp_path: Path) -> None:
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
