"""The request policy below HTTP answers: what is sent again when a connection fails.

A request that never reached the cloud (connection refused) is retried whatever its
method; one that reached it and got no answer (dropped, timed out) only when it is
idempotent: keystoneauth alone sent a POST again after a read timeout, and the cloud,
which had acted on each, made one security group per attempt.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import keystoneauth1.exceptions as ks_exc
import pytest

from cloudhp.cloud import connect as policy
from cloudhp.cloud.connect import PolicySession


class _Dropper:
    """Accepts connections, reads the request, closes without answering; counts them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.recv(65536)
            conn.close()


@pytest.fixture
def dropper() -> Iterator[_Dropper]:
    server = _Dropper()
    yield server
    server.sock.close()


ALL_RETRIES = 1 + policy.CONNECT_RETRIES


@pytest.mark.parametrize(
    ("method", "attempts"),
    [("POST", 1), ("PATCH", 1), ("GET", ALL_RETRIES), ("DELETE", ALL_RETRIES)],
)
def test_a_dropped_connection_is_retried_only_for_an_idempotent_method(
    dropper: _Dropper, method: str, attempts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("urllib3.util.retry.time.sleep", lambda _: None)  # backoff
    with pytest.raises(ks_exc.ConnectionError):
        PolicySession().request(f"http://127.0.0.1:{dropper.port}/x", method, json={})
    assert dropper.accepted == attempts


def test_a_refused_post_is_retried_until_the_cloud_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    served: list[bytes] = []

    def listen_later() -> None:
        time.sleep(0.3)
        with socket.create_server(("127.0.0.1", port)) as sock:
            conn, _ = sock.accept()
            with conn:
                served.append(conn.recv(65536))
                conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=listen_later, daemon=True)
    thread.start()
    resp = PolicySession().request(f"http://127.0.0.1:{port}/x", "POST", json={"a": 1})
    thread.join()
    assert resp.status_code == 201
    assert len(served) == 1 and served[0].startswith(b"POST /x")
