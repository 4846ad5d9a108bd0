"""Credentials: source precedence, secret hiding, and keystoneauth failures mapped to
clear errors (through a tiny local HTTP server)."""

from __future__ import annotations

import http.server
import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import openstack.connection
import pytest
from openrc_samples import AUTH_URL_LINE, HORIZON_OPENRC, PASSWORD, PLAIN_OPENRC

from cloudhp.cloud.connect import authenticate, connect
from cloudhp.cloud.credentials import AuthSpec, Secret, read_secret, resolve_auth
from cloudhp.errors import EnvironmentProblem, NotFoundError, UsageError

APPCRED_OPENRC = f"""\
#!/usr/bin/env bash
export OS_AUTH_TYPE=v3applicationcredential
export OS_AUTH_URL=https://keystone.example.org:5000/v3
export OS_IDENTITY_API_VERSION=3
export OS_REGION_NAME="RegionOne"
export OS_INTERFACE=public
export OS_APPLICATION_CREDENTIAL_ID=cred-id-1
export OS_APPLICATION_CREDENTIAL_SECRET={PASSWORD}
"""


def no_prompt(prompt: str) -> str:
    raise AssertionError(f"unexpected password prompt: {prompt}")


# --------------------------------------------------------------------------- resolve_auth


def write(tmp_path: Path, text: str, name: str = "openrc.sh") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_hidden(spec: AuthSpec, secret: str = PASSWORD) -> None:
    for text in (repr(spec), str(spec), spec.describe(), json.dumps(spec.public_dict())):
        assert secret not in text


def test_openrc_prompts_for_password(tmp_path: Path) -> None:
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return PASSWORD

    spec = resolve_auth(write(tmp_path, HORIZON_OPENRC), None, {}, prompt)
    assert prompts == [
        "OpenStack password for alice on project Project 3 at "
        "https://keystone.example.org:5000/v3: "
    ]
    kwargs = spec.connect_kwargs()
    assert kwargs["auth"]["password"] == PASSWORD
    assert kwargs["auth"]["project_name"] == "Project 3"
    assert kwargs["auth"]["user_domain_name"] == "Default"
    assert kwargs["region_name"] == "RegionOne"
    assert kwargs["interface"] == "public"
    assert kwargs["identity_api_version"] == "3"
    assert kwargs["auth_type"] == "password"
    assert_hidden(spec)
    assert "alice" in spec.describe() and "Project 3" in spec.describe()
    assert "region RegionOne" in spec.describe()


def test_openrc_password_from_environment_skips_prompt(tmp_path: Path) -> None:
    spec = resolve_auth(write(tmp_path, HORIZON_OPENRC), None, {"OS_PASSWORD": PASSWORD}, no_prompt)
    assert spec.connect_kwargs()["auth"]["password"] == PASSWORD


def test_openrc_beats_os_cloud_and_environment(tmp_path: Path) -> None:
    env = {"OS_AUTH_URL": "http://env/v3", "OS_USERNAME": "env", "OS_CLOUD": "nope"}
    spec = resolve_auth(write(tmp_path, PLAIN_OPENRC), "nope", env, no_prompt)
    assert spec.auth["username"] == "bob"
    assert spec.source == str(tmp_path / "openrc.sh")


def test_missing_openrc_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as err:
        resolve_auth(tmp_path / "nope.sh", None, {}, no_prompt)
    assert "nope.sh' does not exist" in err.value.message
    assert "Horizon" in str(err.value.hint)


def test_application_credential_openrc(tmp_path: Path) -> None:
    spec = resolve_auth(write(tmp_path, APPCRED_OPENRC), None, {}, no_prompt)
    assert spec.auth_type == "v3applicationcredential"
    assert spec.connect_kwargs()["auth"] == {
        "auth_url": "https://keystone.example.org:5000/v3",
        "application_credential_id": "cred-id-1",
        "application_credential_secret": PASSWORD,
    }
    assert spec.describe().startswith("application credential cred-id-1 at https://")
    assert_hidden(spec)


def test_application_credential_by_name_needs_user(tmp_path: Path) -> None:
    text = APPCRED_OPENRC.replace("OS_APPLICATION_CREDENTIAL_ID=cred-id-1", "OS_X=1")
    text += "export OS_APPLICATION_CREDENTIAL_NAME=ci\n"
    with pytest.raises(UsageError) as err:
        resolve_auth(write(tmp_path, text), None, {}, no_prompt)
    assert "does not set OS_USERNAME or OS_USER_ID" in err.value.message
    assert "an application credential given by name" in err.value.message
    spec = resolve_auth(write(tmp_path, text + "export OS_USERNAME=u\n"), None, {}, no_prompt)
    assert spec.auth["application_credential_name"] == "ci"


def test_application_credential_needs_secret(tmp_path: Path) -> None:
    text = APPCRED_OPENRC.replace("OS_APPLICATION_CREDENTIAL_SECRET", "OS_OTHER")
    with pytest.raises(UsageError, match="does not set OS_APPLICATION_CREDENTIAL_SECRET"):
        resolve_auth(write(tmp_path, text), None, {}, no_prompt)


def test_password_auth_needs_user_and_project(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        resolve_auth(write(tmp_path, AUTH_URL_LINE), None, {}, no_prompt)
    assert "does not set OS_USERNAME or OS_USER_ID, which password auth needs" in (
        err.value.message
    )
    text = AUTH_URL_LINE + "export OS_USERNAME=u\n"
    with pytest.raises(UsageError, match="does not set OS_PROJECT_NAME or OS_PROJECT_ID"):
        resolve_auth(write(tmp_path, text), None, {}, no_prompt)


def test_unsupported_auth_type(tmp_path: Path) -> None:
    text = PLAIN_OPENRC + "export OS_AUTH_TYPE=v3oidcpassword\n"
    with pytest.raises(UsageError) as err:
        resolve_auth(write(tmp_path, text), None, {}, no_prompt)
    assert "OS_AUTH_TYPE 'v3oidcpassword' is not supported" in err.value.message
    assert "v3applicationcredential" in str(err.value.hint)


def test_legacy_tenant_and_endpoint_type_and_insecure(tmp_path: Path) -> None:
    text = (
        AUTH_URL_LINE
        + "export OS_USERNAME=u\nexport OS_TENANT_NAME=t\nexport OS_PASSWORD=p\n"
        + "export OS_ENDPOINT_TYPE=internalURL\nexport OS_INSECURE=true\n"
    )
    spec = resolve_auth(write(tmp_path, text), None, {}, no_prompt)
    assert spec.auth["project_name"] == "t"
    assert spec.interface == "internal"
    assert spec.verify is False


def test_environment_variables() -> None:
    env = {
        "OS_AUTH_URL": "http://k:5000/v3",
        "OS_USERNAME": "carol",
        "OS_PROJECT_ID": "p1",
        "OS_PASSWORD": PASSWORD,
        "HOME": "/root",
    }
    spec = resolve_auth(None, None, env, no_prompt)
    assert spec.source == "OS_* environment variables"
    assert spec.connect_kwargs()["auth"] == {
        "auth_url": "http://k:5000/v3",
        "username": "carol",
        "project_id": "p1",
        "password": PASSWORD,
    }
    assert_hidden(spec)


def test_environment_without_password_prompts() -> None:
    env = {"OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "carol", "OS_PROJECT_NAME": "p"}
    spec = resolve_auth(None, None, env, lambda prompt: PASSWORD)
    assert spec.auth["password"] == Secret(PASSWORD)


def test_no_credentials_at_all() -> None:
    with pytest.raises(UsageError) as err:
        resolve_auth(None, None, {"HOME": "/root"}, no_prompt)
    assert err.value.message == "no OpenStack credentials given"
    for option in ("--openrc", "--os-cloud", "OS_AUTH_URL"):
        assert option in str(err.value.hint)


CLOUDS_YAML = f"""\
clouds:
  mycloud:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: bob
      password: "{PASSWORD}"
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
  nopass:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: dave
      project_name: demo
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://127.0.0.1:5000/v3
      application_credential_id: abc
      application_credential_secret: "{PASSWORD}"
"""


@pytest.fixture
def clouds_env(tmp_path: Path) -> dict[str, str]:
    path = write(tmp_path, CLOUDS_YAML, "clouds.yaml")
    return {"OS_CLIENT_CONFIG_FILE": str(path)}


def test_os_cloud_from_clouds_yaml(clouds_env: dict[str, str]) -> None:
    spec = resolve_auth(None, "mycloud", clouds_env, no_prompt)
    assert spec.auth["username"] == "bob"
    assert spec.connect_kwargs()["auth"]["password"] == PASSWORD
    assert spec.region_name == "RegionOne"
    assert spec.identity_api_version == "3"
    assert spec.source.startswith("cloud 'mycloud' of ")
    assert_hidden(spec)


def test_os_cloud_beats_environment(clouds_env: dict[str, str]) -> None:
    env = {**clouds_env, "OS_AUTH_URL": "http://env/v3", "OS_USERNAME": "env"}
    assert resolve_auth(None, "mycloud", env, no_prompt).auth["username"] == "bob"


def test_os_cloud_variable_selects_cloud(clouds_env: dict[str, str]) -> None:
    env = {**clouds_env, "OS_CLOUD": "mycloud"}
    assert resolve_auth(None, None, env, no_prompt).auth["username"] == "bob"


def test_os_cloud_without_password_prompts(clouds_env: dict[str, str]) -> None:
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return PASSWORD

    spec = resolve_auth(None, "nopass", clouds_env, prompt)
    assert prompts == ["OpenStack password for dave on project demo at http://127.0.0.1:5000/v3: "]
    assert spec.connect_kwargs()["auth"]["password"] == PASSWORD


def test_os_cloud_application_credential(clouds_env: dict[str, str]) -> None:
    spec = resolve_auth(None, "appcred", clouds_env, no_prompt)
    assert spec.auth_type == "v3applicationcredential"
    assert isinstance(spec.auth["application_credential_secret"], Secret)
    assert_hidden(spec)


def test_unknown_cloud_lists_existing(clouds_env: dict[str, str]) -> None:
    with pytest.raises(NotFoundError) as err:
        resolve_auth(None, "prod", clouds_env, no_prompt)
    assert err.value.message == "cloud 'prod' is not defined in clouds.yaml"
    assert "appcred, mycloud, nopass" in str(err.value.hint)


def test_unknown_cloud_without_any_clouds_yaml(tmp_path: Path) -> None:
    env = {"OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml")}
    with pytest.raises(NotFoundError) as err:
        resolve_auth(None, "prod", env, no_prompt)
    assert "no clouds.yaml defines any cloud; searched: " in str(err.value.hint)
    assert str(tmp_path / "none.yaml") in str(err.value.hint)


# --------------------------------------------------------------------------- read_secret


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_read_secret_from_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO(f"{PASSWORD}\nnext line\n")
    assert read_secret("Password: ", stream) == PASSWORD
    out, err = capsys.readouterr()
    assert out == "" and err == "Password: \n"
    assert PASSWORD not in out + err
    assert stream.readline() == "next line\n"


def test_read_secret_from_tty_uses_getpass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt: f"{prompt}{PASSWORD}")
    assert read_secret("P: ", FakeTty()) == f"P: {PASSWORD}"


@pytest.mark.parametrize("data", ["", "\n"])
def test_read_secret_empty(data: str) -> None:
    with pytest.raises(UsageError) as err:
        read_secret("Password: ", io.StringIO(data))
    assert err.value.message == "no password given"
    assert "OS_PASSWORD" in str(err.value.hint)


# --------------------------------------------------------------------------- connect


class _Keystone(http.server.BaseHTTPRequestHandler):
    """Answers version discovery, and POST /v3/auth/tokens with `status`."""

    status = 401

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        href = f"http://{self.headers['Host']}/v3/"
        version = {"id": "v3.14", "status": "stable", "links": [{"rel": "self", "href": href}]}
        self._send(200, {"version": version})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        error = {"code": self.status, "title": "Error", "message": "The request was refused."}
        self._send(self.status, {"error": error})


@pytest.fixture
def keystone() -> Iterator[tuple[str, type[_Keystone]]]:
    handler = type("Handler", (_Keystone,), {"status": 401})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v3", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def password_spec(auth_url: str) -> AuthSpec:
    env = {
        "OS_AUTH_URL": auth_url,
        "OS_USERNAME": "alice",
        "OS_PROJECT_NAME": "project3",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_PASSWORD": PASSWORD,
        "OS_IDENTITY_API_VERSION": "3",
    }
    return resolve_auth(None, None, env, no_prompt)


def test_connect_builds_connection_without_network() -> None:
    conn = connect(password_spec("http://127.0.0.1:1/v3"))
    assert isinstance(conn, openstack.connection.Connection)
    assert conn.config.config["auth"]["username"] == "alice"
    assert conn.config.config["auth"]["password"] == PASSWORD
    assert conn.config.get_region_name() in (None, "")


def test_wrong_password(keystone: tuple[str, type[_Keystone]]) -> None:
    url, _ = keystone
    with pytest.raises(UsageError) as err:
        authenticate(connect(password_spec(url)))
    assert err.value.message == f"authentication failed for user alice on project project3 at {url}"
    assert "check the password" in str(err.value.hint)
    assert PASSWORD not in str(err.value) + str(err.value.hint)


def test_wrong_application_credential(keystone: tuple[str, type[_Keystone]]) -> None:
    url, _ = keystone
    env = {
        "OS_AUTH_URL": url,
        "OS_AUTH_TYPE": "v3applicationcredential",
        "OS_APPLICATION_CREDENTIAL_ID": "cred-1",
        "OS_APPLICATION_CREDENTIAL_SECRET": PASSWORD,
    }
    with pytest.raises(UsageError) as err:
        authenticate(connect(resolve_auth(None, None, env, no_prompt)))
    assert err.value.message == f"authentication failed for application credential cred-1 at {url}"
    assert "expired or been deleted" in str(err.value.hint)


def test_forbidden(keystone: tuple[str, type[_Keystone]]) -> None:
    url, handler = keystone
    handler.status = 403
    with pytest.raises(UsageError) as err:
        authenticate(connect(password_spec(url)))
    assert err.value.message.startswith(
        f"user alice is not allowed to authenticate on project project3 at {url}"
    )
    assert PASSWORD not in err.value.message


def test_unreachable_auth_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v3"
    with pytest.raises(EnvironmentProblem) as err:
        authenticate(connect(password_spec(url)))
    assert err.value.message == f"cannot reach the identity service at {url}: Connection refused"
    assert "OS_AUTH_URL" in str(err.value.hint)
    assert PASSWORD not in str(err.value)


def test_every_connection_has_a_timeout_and_retries() -> None:

    auth = AuthSpec(
        auth_type="password",
        auth={
            "auth_url": "http://127.0.0.1:9/identity",
            "username": "u",
            "password": Secret("p"),
            "project_name": "p",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        source="test",
    )
    config = connect(auth).config
    assert config.config["api_timeout"] == 60
    assert config.get_connect_retries("compute") == 3
    assert config.get_status_code_retries("compute") == 3
