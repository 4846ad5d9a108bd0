"""The golden image on localcloud: a real Heat stack, a real signal, a real snapshot.

The builder is a real node container whose user data fetches the images from the
artifact server on the private network's gateway (the bastion address) and signals
Heat; the snapshot then boots a server that is reached over SSH with the cluster key.

The session localcloud listens on loopback only, which server containers cannot
reach; a small TCP relay on the gateway forwards the Heat signal to it, as the
bastion's address would on a real cloud (CLOUDHP_LOCALCLOUD_SIGNAL_URL tells the
Heat service to hand out that URL). Run with `-s` to see the build time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openstack.connection import Connection

from cloudhp.context import ClusterContext
from cloudhp.errors import CloudhpError
from cloudhp.images import BuiltImage
from cloudhp.naming import resource_name
from cloudhp.remote.hostkeys import KnownHosts, console_host_keys
from cloudhp.remote.ssh import SSHRunner, wait_for_ssh
from cloudhp.steps.golden import ensure_golden_image, find_golden, read_template
from cloudhp.steps.golden_plan import GOLDEN_TAG, HASH_PROPERTY, golden_inputs, stack_parameters
from cloudhp.steps.keypair import ensure_cloud_keypair
from cloudhp.steps.preflight import preflight
from cloudhp.steps.secgroups import ensure_security_groups, group_name

pytestmark = [
    pytest.mark.docker,
]

MakeCtx = Callable[..., ClusterContext]


class Relay:
    """Forwards TCP connections from `listen` to `target`, one thread pair each."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.create_server(listen)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True, name="signal-relay").start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture(scope="module")
def signal_url(localcloud: Any, private_net: tuple[Any, Any]) -> Iterator[str]:
    _, subnet = private_net
    relay = Relay((subnet.gateway_ip, 0), ("127.0.0.1", localcloud.config.port))
    url = f"http://{subnet.gateway_ip}:{relay.port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOUDHP_LOCALCLOUD_SIGNAL_URL", url)
        yield url
    relay.close()


@pytest.fixture
def cluster_images(images: dict[str, BuiltImage]) -> list[BuiltImage]:
    return [images["sampleapp"], images["haproxy"]]


def _ready_ctx(make_ctx: MakeCtx) -> ClusterContext:
    ctx = make_ctx()
    ctx.resolved = preflight(ctx, extra_servers=1)
    ensure_cloud_keypair(ctx)
    ensure_security_groups(ctx)  # the probe is reached by SSH: groups are enforced
    return ctx


def _assert_no_builder(conn: Connection, ctx: ClusterContext) -> None:
    name = resource_name(ctx.spec.name, "golden")
    assert conn.orchestration.find_stack(name, ignore_missing=True) is None
    assert [s.name for s in conn.compute.servers() if s.name == name] == []


def _delete_images(conn: Connection, name: str) -> None:
    for image in conn.image.images(name=name):
        conn.image.delete_image(image, ignore_missing=True)


def _boot(conn: Connection, ctx: ClusterContext, image_id: str) -> Any:
    resolved = ctx.need_resolved()
    server = conn.compute.create_server(
        name=resource_name(ctx.spec.name, "probe", 1),
        image_id=image_id,
        flavor_id=resolved.flavor_id,
        networks=[{"uuid": resolved.network_id}],
        key_name=resource_name(ctx.spec.name, "key"),
        tags=[ctx.tag],
        security_groups=[{"name": group_name(ctx.spec.name, "ssh")}],
    )
    return conn.compute.wait_for_server(server, wait=300, interval=1)


def _ip(server: Any) -> str:
    for entries in server.addresses.values():
        for entry in entries:
            if entry.get("OS-EXT-IPS:type", "fixed") == "fixed":
                return str(entry["addr"])
    raise AssertionError(f"no fixed address in {server.addresses}")


def _ssh(conn: Connection, ctx: ClusterContext, server: Any) -> SSHRunner:
    ip = _ip(server)
    known = KnownHosts(ctx.known_hosts_path)
    deadline = time.monotonic() + 120
    keys: list[str] = []
    while not keys and time.monotonic() < deadline:
        console = conn.compute.get_server_console_output(server.id).get("output", "")
        # paramiko cannot parse ssh-dss; the console may list one (see report).
        keys = [k for k in console_host_keys(console) if not k.startswith("ssh-dss")]
        time.sleep(0.5)
    assert keys, "the server printed no host key on its console"
    known.pin(ip, 22, keys, server_id=server.id)
    runner = SSHRunner(ip, "debian", ctx.key_path, known)
    wait_for_ssh(runner, timeout=120)
    return runner


def test_build_boot_and_reuse(
    make_ctx: MakeCtx,
    conn: Connection,
    engine: Any,
    cluster_images: list[BuiltImage],
    signal_url: str,
) -> None:
    ctx = _ready_ctx(make_ctx)
    name = golden_inputs(
        read_template(), ctx.need_resolved().image_id, ctx.need_resolved().flavor_id, cluster_images
    ).name
    _delete_images(conn, name)  # an earlier run of this test may have left it
    try:
        result = ensure_golden_image(ctx, cluster_images, engine, poll_interval=1)
        print(f"\ngolden image {result.name} built in {result.seconds:.1f}s")
        assert result.built and result.name == name

        image = conn.image.get_image(result.image_id)
        assert image.status == "active"
        assert {GOLDEN_TAG, ctx.tag} <= set(image.tags)
        assert image.properties[HASH_PROPERTY] == name.removeprefix("cloudhp-golden-")
        _assert_no_builder(conn, ctx)
        steps = ctx.reporter.steps  # type: ignore[attr-defined]
        assert any("waiting for the builder to signal" in s for s in steps)
        assert any(s.startswith("builder loaded:") and "cloudhp/sampleapp" in s for s in steps)

        # A second run reuses the image: no stack, no build.
        ctx.reporter.steps.clear()  # type: ignore[attr-defined]
        again = ensure_golden_image(ctx, cluster_images, engine, poll_interval=1)
        assert (again.image_id, again.name, again.built) == (result.image_id, name, False)
        assert not any("stack" in s for s in ctx.reporter.steps)  # type: ignore[attr-defined]
        found = find_golden(ctx, cluster_images, engine)
        assert found is not None and found.image_id == result.image_id

        # A changed input is another image: not found, so it would be built.
        assert find_golden(ctx, cluster_images[:1], engine) is None

        # A server booted from the snapshot has the images already, under their tags,
        # and is reached with the cluster key (the builder's key was not baked in).
        server = _boot(conn, ctx, result.image_id)
        runner = _ssh(conn, ctx, server)
        try:
            listed = runner.run(
                ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]
            ).stdout.split()
            marker = runner.run(["cat", "/etc/cloudhp/golden"]).stdout.strip()
        finally:
            runner.close()
        assert {i.tag for i in cluster_images} <= set(listed)
        assert marker == image.properties[HASH_PROPERTY]
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)
    finally:
        _delete_images(conn, name)


def test_a_failed_build_reports_heat_s_reason_and_leaves_nothing(
    make_ctx: MakeCtx,
    conn: Connection,
    engine: Any,
    cluster_images: list[BuiltImage],
    signal_url: str,
) -> None:
    ctx = _ready_ctx(make_ctx)
    missing = BuiltImage("missing", "cloudhp/missing:does-not-exist", "sha256:0", built=False)
    images = [cluster_images[0], missing]
    name = golden_inputs(
        read_template(), ctx.need_resolved().image_id, ctx.need_resolved().flavor_id, images
    ).name
    with pytest.raises(CloudhpError) as caught:
        ensure_golden_image(ctx, images, engine, poll_interval=1)
    message = caught.value.message
    print(f"\n{message}")
    assert "CREATE_FAILED" in message
    assert "loading image missing.tar" in message
    assert "500" in message  # curl -f on the artifact server's answer
    _assert_no_builder(conn, ctx)
    assert list(conn.image.images(name=name)) == []


def test_a_stale_builder_stack_of_an_interrupted_run_is_replaced(
    make_ctx: MakeCtx,
    conn: Connection,
    engine: Any,
    cluster_images: list[BuiltImage],
    signal_url: str,
) -> None:
    """A run killed mid-build leaves its stack in progress, its artifact URLs dead."""
    from openstack.orchestration.util import template_format

    ctx = _ready_ctx(make_ctx)
    resolved = ctx.need_resolved()
    images = cluster_images[:1]
    name = golden_inputs(read_template(), resolved.image_id, resolved.flavor_id, images).name
    stack_name = resource_name(ctx.spec.name, "golden")
    dead_url = f"http://{resolved.bastion_address}:9/gone/sampleapp.tar"
    stale = conn.orchestration.create_stack(
        name=stack_name,
        template=template_format.parse(read_template()),
        parameters=stack_parameters(
            resolved, [dead_url], build_id="0" * 12, cluster=ctx.spec.name, timeout=600
        ),
        tags=[ctx.tag],
    )
    try:
        result = ensure_golden_image(ctx, images, engine, poll_interval=1)
        assert result.built and result.name == name
        steps = ctx.reporter.steps  # type: ignore[attr-defined]
        assert any(s.startswith(f"removing the stale builder stack {stack_name}") for s in steps)
        assert conn.orchestration.find_stack(stale.id, ignore_missing=True) is None
        _assert_no_builder(conn, ctx)
    finally:
        _delete_images(conn, name)
