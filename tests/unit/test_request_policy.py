"""The request policy at work on real openstacksdk over HTTP: "not now" answers (429
with Retry-After, 502-504) are retried up to the policy's count, a 500 is not."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import openstack.exceptions as os_exc
import pytest

from cloudhp.cloud import connect as policy
from cloudhp.cloud.calls import cloud_call
from cloudhp.cloud.connect import connect
from cloudhp.cloud.credentials import AuthSpec, Secret
from cloudhp.errors import CloudUnavailable, Transient


class _Cloud(http.server.BaseHTTPRequestHandler):
    """Keystone (discovery, tokens with a compute catalog) and Nova's server list,
    which answers with the statuses in `script` first, then 200."""

    script: ClassVar[list[int]] = []
    server_lists = 0

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _base(self) -> str:
        return f"http://{self.headers['Host']}"

    def do_GET(self) -> None:
        if self.path.startswith("/compute/v2.1/servers"):
            type(self).server_lists += 1
            if self.script:
                code = self.script.pop(0)
                self._send(code, {"error": "not now"}, {"Retry-After": "0"})
            else:
                self._send(200, {"servers": []})
        elif self.path.startswith("/compute"):
            version = {
                "id": "v2.1", "status": "CURRENT", "version": "2.90", "min_version": "2.1",
                "links": [{"rel": "self", "href": f"{self._base()}/compute/v2.1/"}],
            }  # fmt: skip
            self._send(
                200, {"version": version} if "v2.1" in self.path else {"versions": [version]}
            )
        else:
            href = f"{self._base()}/v3/"
            version = {"id": "v3.14", "status": "stable", "links": [{"rel": "self", "href": href}]}
            self._send(200, {"version": version})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        endpoint = {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                    "url": f"{self._base()}/compute/v2.1", "id": "e1"}  # fmt: skip
        token = {
            "expires_at": "2099-01-01T00:00:00.000000Z",
            "methods": ["password"],
            "user": {"id": "u1", "name": "u", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": "p1", "name": "p", "domain": {"id": "default", "name": "Default"}},
            "catalog": [{"type": "compute", "name": "nova", "id": "s1", "endpoints": [endpoint]}],
        }
        self._send(201, {"token": token}, {"X-Subject-Token": "t0ken"})


@pytest.fixture
def cloud() -> Iterator[tuple[str, type[_Cloud]]]:
    handler = type("Handler", (_Cloud,), {"script": [], "server_lists": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v3", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def spec(auth_url: str) -> AuthSpec:
    return AuthSpec(
        auth_type="password",
        auth={
            "auth_url": auth_url, "username": "u", "password": Secret("p"),
            "project_name": "p", "user_domain_name": "Default", "project_domain_name": "Default",
        },
        source="test",
    )  # fmt: skip


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """keystoneauth sleeps between retries; the count of requests is what is tested."""
    monkeypatch.setattr("keystoneauth1.session.time.sleep", lambda _: None)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_not_now_answer_is_retried(cloud: tuple[str, type[_Cloud]], status: int) -> None:
    url, handler = cloud
    handler.script = [status, status]
    assert list(connect(spec(url)).compute.servers()) == []
    assert handler.server_lists == 3


def test_retries_stop_after_the_policy_s_count(cloud: tuple[str, type[_Cloud]]) -> None:
    url, handler = cloud
    handler.script = [503] * (policy.STATUS_CODE_RETRIES + 1)
    with pytest.raises(os_exc.HttpException, match="503"):
        list(connect(spec(url)).compute.servers())
    assert handler.server_lists == policy.STATUS_CODE_RETRIES + 1


def test_a_500_is_not_retried(cloud: tuple[str, type[_Cloud]]) -> None:
    url, handler = cloud
    handler.script = [500]
    with pytest.raises(os_exc.HttpException, match="500"):
        list(connect(spec(url)).compute.servers())
    assert handler.server_lists == 1


def test_retries_spent_the_step_sees_a_transient_cloud_error(
    cloud: tuple[str, type[_Cloud]],
) -> None:
    url, handler = cloud
    handler.script = [503] * (policy.STATUS_CODE_RETRIES + 1)
    with pytest.raises(CloudUnavailable) as caught, cloud_call("listing the cluster's servers"):
        list(connect(spec(url)).compute.servers())
    assert isinstance(caught.value, Transient)  # polling loops wait through it
    assert caught.value.message.startswith(
        "listing the cluster's servers failed: the cloud answered 503 after retries"
    )
