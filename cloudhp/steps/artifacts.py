"""A short-lived HTTP server on the bastion that hands Docker images to new servers.

There is no registry in a cloudhp cluster (DESIGN.md, step 4): a server being built
fetches each image the cluster needs from the bastion with
`curl -fsS URL | docker load`. The server binds to the bastion's address on the
private network, on a free port, only for as long as the build runs. Every URL
carries its own random path token (`secrets.token_urlsafe`), and anything else is
answered with 404, so a neighbour on the network who finds the port learns nothing.

Images are streamed straight from the local engine (`GET /images/<ref>/get`, the
API behind `docker save`) with chunked transfer encoding: nothing is written to
disk, and a stream that breaks half-way ends without the final chunk, so `curl -f`
fails instead of `docker load` reading a silently truncated tarball.
"""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

    from cloudhp.context import ClusterContext
    from cloudhp.images import BuiltImage

CHUNK_SIZE = 1 << 20
CONTENT_TYPE = "application/x-tar"

ChunkSource = Callable[[str], Iterable[bytes]]
"""Given an image reference, the bytes of its `docker save` tarball, in chunks."""


@dataclass(frozen=True)
class Artifact:
    """One image offered by the server: what it is, and the only URL that serves it."""

    name: str
    ref: str
    url: str


@dataclass
class ServedRecord:
    """What one download did, so callers can report it and tests can check it."""

    name: str
    status: int
    bytes_sent: int = 0
    error: str | None = None


@dataclass
class _State:
    routes: dict[str, Artifact] = field(default_factory=dict)  # URL path -> artifact
    served: list[ServedRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def docker_source(client: docker.DockerClient) -> ChunkSource:
    """Streams `docker save <ref>` from the engine; a tag keeps its name in the tarball.

    The low-level call is used instead of `Image.save` because it names the image by
    the reference given (our hash-carrying tag), so `docker load` on the node recreates
    that very tag.
    """

    def chunks(ref: str) -> Iterable[bytes]:
        return client.api.get_image(ref, chunk_size=CHUNK_SIZE)

    return chunks


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudhp-artifacts"
    sys_version = ""
    timeout = 300  # a client that stops reading for this long is dropped

    server: _Server

    def do_GET(self) -> None:
        state = self.server.state
        artifact = state.routes.get(self.path)
        if artifact is None:
            self._plain(404, "not found\n")
            return
        record = ServedRecord(artifact.name, 200)
        with state.lock:
            state.served.append(record)
        try:
            stream = iter(self.server.source(artifact.ref))
            first = next(stream, b"")
        except Exception as exc:  # the image is gone, the engine is down, ...
            record.status, record.error = 500, f"{type(exc).__name__}: {exc}"
            self._plain(500, f"cannot read image {artifact.name}\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            for chunk in _prepend(first, stream):
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    record.bytes_sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except Exception as exc:
            # No final chunk: the client sees a broken transfer, never a short tarball.
            record.error = f"{type(exc).__name__}: {exc}"
            self.close_connection = True
            return

    def do_HEAD(self) -> None:
        self._plain(404, "")

    def do_POST(self) -> None:
        self._plain(404, "not found\n")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _plain(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request lines carry the secret tokens, and stderr is the user's."""


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: _State, source: ChunkSource) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        self.source = source
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Silent: a client that hangs up early (curl -f after a 500) is not our error."""


class ArtifactServer:
    """Serves image tarballs at secret URLs until stopped; use it as a context manager.

    Args:
        host: The address to bind to and to put in URLs: the bastion's address on the
            private network, so that servers there can reach it.
        source: Where the tarball bytes come from (`docker_source(client)` for real).
        port: 0 (the default) picks a free port.
    """

    def __init__(self, host: str, source: ChunkSource, *, port: int = 0) -> None:
        self.host = host
        self._state = _State()
        self._httpd = _Server((host, port), self._state, source)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def add(self, name: str, ref: str) -> Artifact:
        """Offers image `ref` under a fresh secret URL; `name` only labels it."""
        path = f"/{secrets.token_urlsafe(24)}/{name}.tar"
        artifact = Artifact(name, ref, self.base_url + path)
        with self._state.lock:
            self._state.routes[path] = artifact
        return artifact

    @property
    def artifacts(self) -> list[Artifact]:
        with self._state.lock:
            return list(self._state.routes.values())

    @property
    def urls(self) -> list[str]:
        return [a.url for a in self.artifacts]

    @property
    def served(self) -> list[ServedRecord]:
        with self._state.lock:
            return list(self._state.served)

    def start(self) -> ArtifactServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"cloudhp-artifacts-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stops listening; downloads still running end with their connection."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ArtifactServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def serve_images(
    ctx: ClusterContext,
    images: Sequence[BuiltImage],
    docker_client: docker.DockerClient,
    *,
    source: ChunkSource | None = None,
) -> Iterator[ArtifactServer]:
    """Serves `images` from the bastion's private address while the block runs.

    Each image is offered by its tag (which carries its recipe hash) so the node's
    engine ends up with the same name the cluster's services refer to.

    Raises:
        RuntimeError: If preflight has not resolved the bastion address.
        EnvironmentProblem: If that address cannot be bound on this machine.
    """
    from cloudhp.errors import EnvironmentProblem

    host = ctx.need_resolved().bastion_address
    try:
        server = ArtifactServer(host, source or docker_source(docker_client))
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot serve images on the bastion address {host}: {exc.strerror or exc}",
            hint="the bastion address must belong to this machine, on the cluster's "
            "private network",
        ) from exc
    for image in images:
        server.add(image.name, image.tag)
    with server:
        yield server
