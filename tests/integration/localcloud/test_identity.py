"""Keystone v3 over real HTTP, through openstacksdk and the `openstack` CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import openstack
import pytest
import requests
from openstack.connection import Connection

from cloudhp_localcloud import auth

if TYPE_CHECKING:
    from conftest import LocalCloud


def _assert_auth_rejected(conn: Connection) -> None:
    """openstacksdk 4.x wraps keystoneauth's 401 in a bare SDKException on authorize()."""
    with pytest.raises(openstack.exceptions.SDKException, match=r"HTTP 401"):
        conn.authorize()


def _projects_url(cloud: LocalCloud) -> str:
    return f"{cloud.auth_url}/v3/auth/projects"


def test_password_auth_by_names(localcloud: LocalCloud, conn: Connection) -> None:
    assert conn.authorize()
    assert conn.current_project.name == "demo"
    access = conn.session.auth.get_access(conn.session)
    assert access.username == "demo" and sorted(access.role_names) == ["member", "reader"]


def test_password_auth_by_ids(localcloud: LocalCloud, conn: Connection) -> None:
    by_ids = localcloud.connect(
        auth_url=localcloud.auth_url,
        user_id=conn.current_user_id,
        password=localcloud.demo["password"],
        project_id=conn.current_project_id,
    )
    assert by_ids.authorize()
    assert by_ids.current_project_id == conn.current_project_id


def test_v3_auth_url_works_too(localcloud: LocalCloud) -> None:
    conn = localcloud.connect(**{**localcloud.demo, "auth_url": localcloud.auth_url + "/v3"})
    assert conn.authorize()


def test_wrong_password_is_401(localcloud: LocalCloud) -> None:
    bad = localcloud.connect(**{**localcloud.demo, "password": "not-the-password"})
    _assert_auth_rejected(bad)


def test_unknown_project_is_401(localcloud: LocalCloud) -> None:
    bad = localcloud.connect(**{**localcloud.demo, "project_name": "admin"})
    _assert_auth_rejected(bad)


@pytest.mark.parametrize("token", [None, "lc-invalid"])
def test_missing_or_invalid_token_is_401(localcloud: LocalCloud, token: str | None) -> None:
    headers = {"X-Auth-Token": token} if token else {}
    resp = requests.get(_projects_url(localcloud), headers=headers, timeout=10)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == 401
    assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{localcloud.auth_url}"'


def test_expired_token_is_401(localcloud: LocalCloud, conn: Connection) -> None:
    token, _ = auth.issue_token(
        localcloud.store(),
        user_id=conn.current_user_id,
        project_id=conn.current_project_id,
        roles=[],
        methods=["password"],
        lifetime=3600,
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    resp = requests.get(_projects_url(localcloud), headers={"X-Auth-Token": token}, timeout=10)
    assert resp.status_code == 401


def test_token_validate_and_revoke(localcloud: LocalCloud, conn: Connection) -> None:
    other = localcloud.connect(**localcloud.demo)
    subject = other.authorize()
    url = f"{localcloud.auth_url}/v3/auth/tokens"
    headers = {"X-Auth-Token": conn.authorize(), "X-Subject-Token": subject}
    shown = requests.get(url, headers=headers, timeout=10)
    assert shown.status_code == 200 and shown.headers["X-Subject-Token"] == subject
    body = shown.json()["token"]
    assert body["project"]["name"] == "demo" and body["expires_at"].endswith("Z")
    assert requests.delete(url, headers=headers, timeout=10).status_code == 204
    assert requests.get(url, headers=headers, timeout=10).status_code == 404
    gone = requests.get(_projects_url(localcloud), headers={"X-Auth-Token": subject}, timeout=10)
    assert gone.status_code == 401


def test_token_lifetime_follows_config(localcloud: LocalCloud, conn: Connection) -> None:
    access = conn.session.auth.get_access(conn.session)
    lifetime = access.expires - access.issued
    assert abs(lifetime.total_seconds() - localcloud.config.token_lifetime) < 5


def test_catalog_lists_identity_everywhere(localcloud: LocalCloud, conn: Connection) -> None:
    resp = requests.get(
        f"{localcloud.auth_url}/v3/auth/catalog",
        headers={"X-Auth-Token": conn.authorize()},
        timeout=10,
    )
    catalog = {entry["type"]: entry for entry in resp.json()["catalog"]}
    endpoints = catalog["identity"]["endpoints"]
    assert {(e["interface"], e["region"], e["url"]) for e in endpoints} == {
        (interface, "RegionOne", localcloud.auth_url)
        for interface in ("public", "internal", "admin")
    }
    assert conn.endpoint_for("identity") == localcloud.auth_url


def test_version_discovery(localcloud: LocalCloud) -> None:
    root = requests.get(localcloud.auth_url, timeout=10)
    assert root.status_code == 300
    (v3,) = root.json()["versions"]["values"]
    assert v3["id"].startswith("v3.") and v3["status"] == "stable"
    assert v3["links"][0]["href"] == f"{localcloud.auth_url}/v3/"
    one = requests.get(f"{localcloud.auth_url}/v3", timeout=10)
    assert one.status_code == 200 and one.json()["version"]["id"] == v3["id"]


def test_application_credentials_lifecycle(localcloud: LocalCloud, conn: Connection) -> None:
    user = conn.current_user_id
    name = f"ci-{uuid.uuid4().hex[:8]}"
    cred = conn.identity.create_application_credential(user=user, name=name, description="ci")
    assert cred.secret and cred.project_id == conn.current_project_id
    listed = list(conn.identity.application_credentials(user=user))
    assert name in [c.name for c in listed]
    assert all(c.secret is None for c in listed)

    by_id = localcloud.connect(
        auth_type="v3applicationcredential",
        auth_url=localcloud.auth_url,
        application_credential_id=cred.id,
        application_credential_secret=cred.secret,
    )
    assert by_id.authorize()
    assert by_id.current_project_id == conn.current_project_id
    by_name = localcloud.connect(
        auth_type="v3applicationcredential",
        auth_url=localcloud.auth_url,
        application_credential_name=name,
        application_credential_secret=cred.secret,
        username="demo",
        user_domain_name="Default",
    )
    assert by_name.authorize()
    token = by_id.authorize()

    with pytest.raises(openstack.exceptions.ConflictException):
        conn.identity.create_application_credential(user=user, name=name)

    conn.identity.delete_application_credential(user, cred.id)
    assert name not in [c.name for c in conn.identity.application_credentials(user=user)]
    gone = requests.get(_projects_url(localcloud), headers={"X-Auth-Token": token}, timeout=10)
    assert gone.status_code == 401
    again = localcloud.connect(
        auth_type="v3applicationcredential",
        auth_url=localcloud.auth_url,
        application_credential_id=cred.id,
        application_credential_secret=cred.secret,
    )
    _assert_auth_rejected(again)


def test_wrong_app_cred_secret_is_401(localcloud: LocalCloud, conn: Connection) -> None:
    cred = conn.identity.create_application_credential(
        user=conn.current_user_id, name=f"ci-{uuid.uuid4().hex[:8]}"
    )
    bad = localcloud.connect(
        auth_type="v3applicationcredential",
        auth_url=localcloud.auth_url,
        application_credential_id=cred.id,
        application_credential_secret="wrong",
    )
    _assert_auth_rejected(bad)
    conn.identity.delete_application_credential(conn.current_user_id, cred.id)


def test_sdk_exceptions_for_identity_faults(conn: Connection, admin_conn: Connection) -> None:
    with pytest.raises(openstack.exceptions.NotFoundException):
        admin_conn.identity.get_project(str(uuid.uuid4()))
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(conn.identity.projects())
    with pytest.raises(openstack.exceptions.BadRequestException):
        conn.identity.create_application_credential(
            user=conn.current_user_id, name="bad-expiry", expires_at="not-a-date"
        )


def test_admin_sees_projects_and_users(admin_conn: Connection) -> None:
    assert {p.name for p in admin_conn.identity.projects()} >= {"admin", "demo"}
    assert {u.name for u in admin_conn.identity.users()} >= {"admin", "demo"}
    demo = admin_conn.identity.find_user("demo")
    assert demo is not None and demo.domain_id == "default"


def test_no_secret_in_state_or_logs(localcloud: LocalCloud) -> None:
    raw = localcloud.config.db_path.read_bytes()
    wal = localcloud.config.db_path.with_name("state.db-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    for creds in (localcloud.demo, localcloud.admin):
        assert creds["password"].encode() not in raw
    for path in (localcloud.config.credentials_path, localcloud.config.db_path):
        assert oct(path.stat().st_mode & 0o777) == "0o600", path


@pytest.mark.skipif(shutil.which("openstack") is None, reason="python-openstackclient missing")
def test_openstack_cli(localcloud: LocalCloud) -> None:
    def run(*args: str) -> str:
        done = subprocess.run(
            ["openstack", *args],
            env=localcloud.cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    token = json.loads(run("token", "issue", "-f", "json"))
    assert token["id"] and token["project_id"] and token["expires"]
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = json.loads(run("application", "credential", "create", name, "-f", "json"))
    assert created["Secret"] and created["Name"] == name
    listed = json.loads(run("application", "credential", "list", "-f", "json"))
    assert name in [c["Name"] for c in listed]
    run("application", "credential", "delete", name)
    listed = json.loads(run("application", "credential", "list", "-f", "json"))
    assert name not in [c["Name"] for c in listed]
