"""The artifact server: secret URLs, 404 for anything else, streamed tarballs, clean stop."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from http.client import IncompleteRead
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

from cloudhp.context import ClusterContext, Resolved
from cloudhp.errors import EnvironmentProblem
from cloudhp.images import CLUSTER_IMAGES, RECIPES
from cloudhp.progress import RecordingReporter
from cloudhp.steps.artifacts import ArtifactServer, serve_images


class FakeSource:
    """Chunks per image reference; records what was asked, like the engine would see."""

    def __init__(self, images: dict[str, list[bytes]]) -> None:
        self.images = images
        self.asked: list[str] = []

    def __call__(self, ref: str) -> Iterable[bytes]:
        self.asked.append(ref)
        if ref not in self.images:
            raise LookupError(f"no such image: {ref}")
        return iter(self.images[ref])


def fetch(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def server() -> Iterator[tuple[ArtifactServer, FakeSource]]:
    source = FakeSource({"cloudhp/sampleapp:abc": [b"tar-", b"ball-", b"bytes"]})
    with ArtifactServer("127.0.0.1", source) as srv:
        yield srv, source


def test_serves_the_image_at_its_secret_url(server: tuple[ArtifactServer, FakeSource]) -> None:
    srv, source = server
    artifact = srv.add("sampleapp", "cloudhp/sampleapp:abc")
    status, body = fetch(artifact.url)
    assert (status, body) == (200, b"tar-ball-bytes")
    assert source.asked == ["cloudhp/sampleapp:abc"]
    assert [(r.name, r.status, r.bytes_sent, r.error) for r in srv.served] == [
        ("sampleapp", 200, 14, None)
    ]


def test_urls_carry_distinct_unguessable_tokens(server: tuple[ArtifactServer, FakeSource]) -> None:
    srv, _ = server
    first = srv.add("sampleapp", "cloudhp/sampleapp:abc")
    second = srv.add("sampleapp", "cloudhp/sampleapp:abc")
    token1 = urlsplit(first.url).path.split("/")[1]
    token2 = urlsplit(second.url).path.split("/")[1]
    assert token1 != token2
    assert len(token1) >= 32
    assert first.url.startswith(f"http://127.0.0.1:{srv.port}/")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda path: "/",
        lambda path: "/sampleapp.tar",
        lambda path: path.rsplit("/", 1)[0],  # the token alone
        lambda path: path[:-1],
        lambda path: "/" + path.split("/")[1][:-1] + "x/sampleapp.tar",  # a wrong token
        lambda path: path + "?x=1",
        lambda path: "/.." + path,
    ],
)
def test_anything_but_an_issued_url_is_404(
    server: tuple[ArtifactServer, FakeSource], mangle: Any
) -> None:
    srv, source = server
    artifact = srv.add("sampleapp", "cloudhp/sampleapp:abc")
    status, body = fetch(srv.base_url + mangle(urlsplit(artifact.url).path))
    assert status == 404
    assert b"tar-ball" not in body
    assert source.asked == []


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD"])
def test_other_methods_are_404_even_on_the_secret_url(
    server: tuple[ArtifactServer, FakeSource], method: str
) -> None:
    srv, source = server
    artifact = srv.add("sampleapp", "cloudhp/sampleapp:abc")
    assert fetch(artifact.url, method)[0] == 404
    assert source.asked == []


def test_missing_image_is_a_500_before_any_byte(server: tuple[ArtifactServer, FakeSource]) -> None:
    srv, _ = server
    artifact = srv.add("haproxy", "cloudhp/haproxy:gone")
    status, body = fetch(artifact.url)
    assert status == 500
    assert b"haproxy" in body
    assert "no such image" in (srv.served[0].error or "")


def test_a_stream_broken_halfway_is_a_failed_transfer_not_a_short_file() -> None:
    def broken(ref: str) -> Iterator[bytes]:
        yield b"first-chunk"
        raise ConnectionError("engine went away")

    with ArtifactServer("127.0.0.1", broken) as srv:
        artifact = srv.add("sampleapp", "x")
        with (
            pytest.raises(IncompleteRead),
            urllib.request.urlopen(artifact.url, timeout=5) as response,
        ):
            response.read()
        assert srv.served[0].error == "ConnectionError: engine went away"


def test_streams_without_buffering_the_whole_image() -> None:
    """The first chunk reaches the client before the source has produced the second."""
    import threading

    produced_second = threading.Event()
    client_got_first = threading.Event()

    def slow(ref: str) -> Iterator[bytes]:
        yield b"A" * 1024
        assert client_got_first.wait(5), "the client never saw the first chunk"
        produced_second.set()
        yield b"B" * 1024

    with ArtifactServer("127.0.0.1", slow) as srv:
        artifact = srv.add("big", "x")
        with urllib.request.urlopen(artifact.url, timeout=5) as response:
            assert response.read(1024) == b"A" * 1024
            assert not produced_second.is_set()
            client_got_first.set()
            assert response.read() == b"B" * 1024


def test_stop_closes_the_port() -> None:
    srv = ArtifactServer("127.0.0.1", FakeSource({}))
    with srv:
        port = srv.port
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def _ctx(bastion: str) -> ClusterContext:
    resolved = Resolved(
        flavor_id="f",
        flavor_vcpus=1,
        flavor_ram_mb=1024,
        image_id="i",
        network_id="n",
        network_name="private",
        subnet_id="s",
        subnet_cidr="10.0.0.0/24",
        external_network_id="e",
        external_network_name="public",
        bastion_address=bastion,
    )
    return ClusterContext(
        conn=None,  # type: ignore[arg-type]
        spec=SimpleNamespace(name="demo"),  # type: ignore[arg-type]
        workdir=Path("/nonexistent"),
        reporter=RecordingReporter(),
        resolved=resolved,
    )


def test_serve_images_binds_the_bastion_address_and_offers_each_tag() -> None:
    images = [
        SimpleNamespace(name="sampleapp", tag="cloudhp/sampleapp:abc"),
        SimpleNamespace(name="haproxy", tag="cloudhp/haproxy:def"),
    ]
    source = FakeSource({"cloudhp/sampleapp:abc": [b"s"], "cloudhp/haproxy:def": [b"h"]})
    with serve_images(_ctx("127.0.0.1"), images, None, source=source) as srv:  # type: ignore[arg-type]
        assert srv.host == "127.0.0.1"
        assert [a.name for a in srv.artifacts] == ["sampleapp", "haproxy"]
        assert [fetch(url)[1] for url in srv.urls] == [b"s", b"h"]
        port = srv.port
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_serve_images_on_an_address_not_of_this_machine_is_an_environment_problem() -> None:
    # 192.0.2.0/24 is TEST-NET-1: never assigned to a local interface.
    with (
        pytest.raises(EnvironmentProblem, match=r"192\.0\.2\.10"),
        serve_images(_ctx("192.0.2.10"), [], None, source=FakeSource({})),  # type: ignore[arg-type]
    ):
        pass


def test_cluster_images_are_the_app_the_ingress_and_the_registry_with_recipes() -> None:
    assert CLUSTER_IMAGES == ("sampleapp", "haproxy", "registry")
    assert set(CLUSTER_IMAGES) <= set(RECIPES)
