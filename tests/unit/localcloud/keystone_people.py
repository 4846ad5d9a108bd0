"""Projects and users made through Keystone's admin API, and their tokens: for tests
that need more people than the seeded demo and admin (isolation, policy)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from cloudhp_localcloud import auth

from .conftest import Api

V3 = "/identity/v3"


@contextmanager
def cheap_hashes() -> Iterator[None]:
    """scrypt with n=2**4 while it lasts, for modules that make many users and tokens.

    The real cost (n=2**14) is 0.5 s a hash on a loaded 2-core CI machine; each hash
    records its own parameters, so verifying is as cheap and the code path the same.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_SCRYPT", {"n": 2**4, "r": 8, "p": 1})
        yield


@dataclass(frozen=True)
class Person:
    """A user with a password and the project its tokens are scoped to."""

    name: str
    user_id: str
    password: str
    project_id: str


def make_project(api: Api, name: str) -> str:
    resp = api.client.post(
        f"{V3}/projects", json={"project": {"name": name}}, headers=api.headers("admin")
    )
    assert resp.status_code == 201, resp.get_json()
    project_id: str = resp.get_json()["project"]["id"]
    return project_id


def role_id(api: Api, name: str) -> str:
    resp = api.client.get(f"{V3}/roles?name={name}", headers=api.headers("admin"))
    (role,) = resp.get_json()["roles"]
    found: str = role["id"]
    return found


def make_person(api: Api, name: str, project_id: str, *roles: str) -> Person:
    """A new user holding `roles` on `project_id`, all through the admin API."""
    admin = api.headers("admin")
    password = secrets.token_urlsafe(12)
    resp = api.client.post(
        f"{V3}/users",
        json={"user": {"name": name, "password": password, "default_project_id": project_id}},
        headers=admin,
    )
    assert resp.status_code == 201, resp.get_json()
    user_id = resp.get_json()["user"]["id"]
    for role in roles:
        url = f"{V3}/projects/{project_id}/users/{user_id}/roles/{role_id(api, role)}"
        assert api.client.put(url, headers=admin).status_code == 204
    return Person(name, user_id, password, project_id)


def password_auth(person: Person, password: str | None = None) -> dict[str, object]:
    """The body of POST /v3/auth/tokens for `person` (its password unless given),
    scoped to its project."""
    user = {"id": person.user_id, "password": password or person.password}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"id": person.project_id}},
        }
    }


def token(api: Api, person: Person) -> str:
    resp = api.client.post(f"{V3}/auth/tokens", json=password_auth(person))
    assert resp.status_code == 201, resp.get_json()
    return resp.headers["X-Subject-Token"]


def headers(api: Api, person: Person) -> dict[str, str]:
    return {"X-Auth-Token": token(api, person)}


def alive(api: Api, tok: str) -> int:
    """The status Keystone answers the token with: 200 while valid, 401 once revoked."""
    return int(api.client.get(f"{V3}/auth/projects", headers={"X-Auth-Token": tok}).status_code)
