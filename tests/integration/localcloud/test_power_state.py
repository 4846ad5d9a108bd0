"""Nova's power states and Cinder's attachments where failover needs them, on real
node containers through openstacksdk: a killed container is SHUTOFF, a frozen one
ACTIVE and unreachable, os-stop fences both, a volume leaves a SHUTOFF server for
another with its data, both views agree, and os-stop can be made to fail.

Two servers and one volume per module; the tests run in order and each leaves the
state the next one starts from (noted at the top of each). Run with `-s` for the
power-sync delay.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import pytest
import requests
from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from cloudhp_localcloud.compute import lifecycle, nodes

if TYPE_CHECKING:
    from conftest import LocalCloud

pytestmark = pytest.mark.docker

SUBNET = "10.91.9.0/24"
DATA = "written-before-the-fence"


@dataclass
class Pair:
    one: Any  # openstacksdk Server
    two: Any
    ips: dict[str, str]
    volume: Any
    device: str


def _until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> float:
    """Seconds until `check()` held; fails after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.2)
    return time.monotonic() - start


def _container(engine: docker.DockerClient, server: Any) -> Any:
    return engine.containers.get(nodes.container_name(server.id))


def _sh(engine: docker.DockerClient, server: Any, script: str) -> tuple[int, str]:
    result = _container(engine, server).exec_run(["sh", "-c", script], user="root")
    return result.exit_code, result.output.decode(errors="replace").strip()


def _banner(ip: str, timeout: float = 3.0) -> bytes:
    """What sshd says first; b"" when nothing comes (a frozen server)."""
    try:
        with socket.create_connection((ip, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64)
    except OSError:
        return b""


def _state(conn: Connection, server: Any) -> tuple[str, str, int, str | None]:
    s = conn.compute.get_server(server.id)
    return s.status, s.vm_state, s.power_state, s.task_state


@pytest.fixture(scope="module")
def pair(conn: Connection, engine: docker.DockerClient) -> Iterator[Pair]:
    """Two ACTIVE servers reachable by SSH; a formatted volume holding DATA on `one`."""
    nodes.node_image()
    net = conn.network.create_network(name="power-test-net")
    conn.network.create_subnet(network_id=net.id, cidr=SUBNET, ip_version=4)
    ssh = conn.network.create_security_group(name="power-test-ssh")
    conn.network.create_security_group_rule(
        security_group_id=ssh.id, direction="ingress", protocol="tcp",
        port_range_min=22, port_range_max=22,
    )  # fmt: skip
    image = conn.image.find_image("debian-12", ignore_missing=False)
    made = [
        conn.compute.create_server(
            name=f"power-{n}",
            image_id=image.id,
            flavor_id="1",
            networks=[{"uuid": net.id}],
            security_groups=[{"name": ssh.name}],
        )
        for n in ("one", "two")
    ]
    volumes = []
    try:
        one, two = (conn.compute.wait_for_server(s, wait=300, interval=0.5) for s in made)
        ips = {s.id: s.addresses["power-test-net"][0]["addr"] for s in (one, two)}
        volume = conn.block_storage.create_volume(size=1, name="power-test-data")
        volumes.append(volume)
        conn.block_storage.wait_for_status(volume, "available", wait=30)
        device = conn.compute.create_volume_attachment(one, volume_id=volume.id).device
        code, out = _sh(engine, one, f"mkfs.ext4 -q {device} && mount {device} /mnt && "
                                     f"echo {DATA} > /mnt/f && umount /mnt")  # fmt: skip
        assert code == 0, out
        for server in (one, two):
            _until("sshd answers", lambda s=server: _banner(ips[s.id]).startswith(b"SSH-"), 90)
        yield Pair(one, two, ips, volume, device)
    finally:
        for server in made:
            conn.compute.delete_server(server)
        for server in made:
            conn.compute.wait_for_delete(server, wait=120)
        for volume in volumes:
            conn.block_storage.wait_for_status(volume, "available", wait=60)
            conn.block_storage.delete_volume(volume)
        for port in conn.network.ports(network_id=net.id):
            conn.network.delete_port(port)
        conn.network.delete_network(net)
        conn.network.delete_security_group(ssh)


def _views(conn: Connection, localcloud: LocalCloud, pair: Pair) -> dict[str, Any]:
    """The attachment as Cinder, Nova's os-volume_attachments and the server show it."""
    volume = conn.block_storage.get_volume(pair.volume.id)
    out: dict[str, Any] = {"status": volume.status, "cinder": [
        (a["server_id"], a["device"], a["attachment_id"]) for a in volume.attachments
    ]}  # fmt: skip
    for server in (pair.one, pair.two):
        listed = list(conn.compute.volume_attachments(server))
        shown = conn.compute.get_server(server.id).attached_volumes
        record = localcloud.store().get("server", server.id)
        ids = [a["attachment_id"] for a in record.get("volume_attachments") or []]
        out[server.id] = {
            "nova": [
                (server.id, a.device, ids[0]) for a in listed if a.volume_id == pair.volume.id
            ],
            "server": [v["id"] for v in shown],
        }
    return out


def test_both_views_agree_and_a_second_attach_is_refused(
    conn: Connection, localcloud: LocalCloud, pair: Pair
) -> None:
    """Start: the volume on `one`."""
    views = _views(conn, localcloud, pair)
    assert views["status"] == "in-use" and len(views["cinder"]) == 1
    assert views[pair.one.id]["nova"] == views["cinder"]
    assert views[pair.one.id]["server"] == [pair.volume.id]
    assert views[pair.two.id] == {"nova": [], "server": []}
    assert views["cinder"][0][:2] == (pair.one.id, pair.device)
    with pytest.raises(sdk_exc.BadRequestException, match="status must be available"):
        conn.compute.create_volume_attachment(pair.two, volume_id=pair.volume.id)
    assert _views(conn, localcloud, pair) == views


def test_a_killed_container_shows_shutoff_and_os_stop_then_says_409(
    conn: Connection, engine: docker.DockerClient, pair: Pair
) -> None:
    """Start: both ACTIVE. End: `two` SHUTOFF."""
    _container(engine, pair.two).kill()
    seconds = _until("SHUTOFF", lambda: _state(conn, pair.two) == ("SHUTOFF", "stopped", 4, None))
    print(f"\nPOWER SYNC: docker kill -> SHUTOFF in {seconds:.1f}s")
    with pytest.raises(sdk_exc.ConflictException, match="vm_state stopped"):
        conn.compute.stop_server(pair.two)


def test_a_stopped_server_started_behind_novas_back_is_stopped_again(
    conn: Connection, engine: docker.DockerClient, pair: Pair
) -> None:
    """Start: `two` SHUTOFF. End: the same, its container dead again."""
    container = _container(engine, pair.two)
    container.start()

    def dead() -> bool:
        container.reload()
        return container.status == "exited"

    _until("killed again", dead)
    assert _state(conn, pair.two) == ("SHUTOFF", "stopped", 4, None)


def test_os_stop_fences_a_server_whose_death_was_not_seen_yet(
    conn: Connection, localcloud: LocalCloud, engine: docker.DockerClient, pair: Pair
) -> None:
    """Start: `two` SHUTOFF. The record is put back to ACTIVE, as it is in the moment
    between a container's death and its sync: os-stop is accepted and ends SHUTOFF."""
    store = localcloud.store()
    store.update("server", pair.two.id, {"status": "ACTIVE", "vm_state": "active",
                                         "power_state": 1})  # fmt: skip
    conn.compute.stop_server(pair.two)
    _until("SHUTOFF", lambda: _state(conn, pair.two) == ("SHUTOFF", "stopped", 4, None))


def test_a_paused_server_stays_active_unreachable_and_keeps_its_disk_until_stopped(
    conn: Connection, localcloud: LocalCloud, engine: docker.DockerClient, pair: Pair
) -> None:
    """Start: `one` ACTIVE with the volume. End: `one` SHUTOFF, still holding it."""
    assert _banner(pair.ips[pair.one.id]).startswith(b"SSH-")
    container = _container(engine, pair.one)
    container.pause()
    try:
        paused = ("ACTIVE", "active", 3, None)
        frozen = _until("power_state PAUSED", lambda: _state(conn, pair.one) == paused)
        assert _banner(pair.ips[pair.one.id]) == b""  # the port is there, nobody answers
        lifecycle.reconcile(localcloud.store())  # a daemon restart: frozen is not stopped
        assert _state(conn, pair.one) == paused
        container.reload()
        assert container.status == "paused"
        with pytest.raises(sdk_exc.ConflictException, match="paused"):
            conn.compute.delete_volume_attachment(pair.one, pair.volume.id)
        assert conn.block_storage.get_volume(pair.volume.id).status == "in-use"
        started = time.monotonic()
        conn.compute.stop_server(pair.one)  # vm_state active: Nova accepts it
        _until("SHUTOFF", lambda: _state(conn, pair.one) == ("SHUTOFF", "stopped", 4, None))
        fenced = time.monotonic() - started
        assert fenced < 8  # killed, not given a 10 s shutdown
        print(f"\nPOWER SYNC: docker pause -> power_state 3 in {frozen:.1f}s; "
              f"os-stop of the frozen server -> SHUTOFF in {fenced:.1f}s")  # fmt: skip
    finally:
        container.reload()
        if container.status == "paused":
            container.unpause()
    container.reload()
    assert container.status == "exited"
    assert localcloud.store().get("volume", pair.volume.id)["status"] == "in-use"


def test_the_volume_moves_from_the_stopped_server_with_its_data(
    conn: Connection, localcloud: LocalCloud, engine: docker.DockerClient, pair: Pair
) -> None:
    """Start: `one` SHUTOFF with the volume, `two` SHUTOFF. End: `two` ACTIVE with it."""
    conn.compute.start_server(pair.two)
    conn.compute.wait_for_server(conn.compute.get_server(pair.two.id), wait=120, interval=0.5)
    conn.compute.delete_volume_attachment(pair.one, pair.volume.id)
    conn.block_storage.wait_for_status(pair.volume, "available", wait=30)
    assert _views(conn, localcloud, pair)[pair.one.id] == {"nova": [], "server": []}
    device = conn.compute.create_volume_attachment(pair.two, volume_id=pair.volume.id).device
    code, out = _sh(engine, pair.two, f"mount {device} /mnt && cat /mnt/f; umount /mnt")
    assert (code, out) == (0, DATA)
    views = _views(conn, localcloud, pair)
    assert views["cinder"][0][:2] == (pair.two.id, device)
    assert views[pair.two.id]["nova"] == views["cinder"]
    assert views[pair.two.id]["server"] == [pair.volume.id]


def test_os_start_brings_back_only_the_disks_still_attached(
    conn: Connection, engine: docker.DockerClient, pair: Pair
) -> None:
    """Start: `one` SHUTOFF without the volume. A second volume attached while it is
    SHUTOFF appears at start; the moved one's device does not. End: `one` ACTIVE."""
    extra = conn.block_storage.create_volume(size=1, name="power-test-extra")
    conn.block_storage.wait_for_status(extra, "available", wait=30)
    try:
        device = conn.compute.create_volume_attachment(pair.one, volume_id=extra.id).device
        assert device == pair.device  # the moved volume's name is free again
        conn.compute.start_server(pair.one)
        conn.compute.wait_for_server(conn.compute.get_server(pair.one.id), wait=120, interval=0.5)
        code, out = _sh(engine, pair.one, f"blkid -p {device}; test -b {device}")
        assert code == 0 and DATA not in out and "ext4" not in out, out  # the new, blank one
        conn.compute.delete_volume_attachment(pair.one, extra.id)
        conn.block_storage.wait_for_status(extra, "available", wait=30)
        assert _sh(engine, pair.one, f"test -e {device}")[0] != 0
    finally:
        conn.block_storage.delete_volume(extra)


def test_a_disk_detached_while_mounted_is_not_attached_twice(
    conn: Connection, engine: docker.DockerClient, pair: Pair
) -> None:
    """Start: `two` ACTIVE with the volume, `one` ACTIVE. A detach from a running
    server that still has the filesystem mounted keeps it open; attaching it elsewhere
    is refused until that server lets go. End: the volume on `one`."""
    device = conn.block_storage.get_volume(pair.volume.id).attachments[0]["device"]
    code, out = _sh(engine, pair.two, f"mkdir -p /srv/v && mount {device} /srv/v")
    assert code == 0, out
    conn.compute.delete_volume_attachment(pair.two, pair.volume.id)
    with pytest.raises(sdk_exc.ConflictException, match="still open on the host"):
        conn.compute.create_volume_attachment(pair.one, volume_id=pair.volume.id)
    assert conn.block_storage.get_volume(pair.volume.id).status == "available"
    assert _sh(engine, pair.two, "umount /srv/v")[0] == 0
    conn.compute.create_volume_attachment(pair.one, volume_id=pair.volume.id)
    assert conn.block_storage.get_volume(pair.volume.id).attachments[0]["server_id"] == pair.one.id


def _faults(localcloud: LocalCloud, admin_conn: Connection, rules: list[dict[str, Any]]) -> Any:
    resp = requests.put(
        f"{localcloud.url}/localcloud/faults",
        json={"rules": rules},
        headers={"X-Auth-Token": admin_conn.auth_token},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["faults"]


def test_os_stop_fails_or_is_silently_ignored_when_injected(
    conn: Connection, admin_conn: Connection, localcloud: LocalCloud,
    engine: docker.DockerClient, pair: Pair,
) -> None:  # fmt: skip
    """Start: `one` ACTIVE. End: `one` ACTIVE, no rules."""
    rule = {"service": "compute", "action": "os-stop", "rate": 1}
    try:
        _faults(localcloud, admin_conn, [rule | {"kind": "500"}])
        with pytest.raises(sdk_exc.HttpException) as failed:
            conn.compute.stop_server(pair.one)
        assert failed.value.status_code == 500
        _faults(localcloud, admin_conn, [rule | {"kind": "accept-and-ignore"}])
        conn.compute.stop_server(pair.one)  # 202: as far as the caller knows, it stops
        time.sleep(3)
        assert _state(conn, pair.one) == ("ACTIVE", "active", 1, None)
        assert _container(engine, pair.one).status == "running"
    finally:
        report = _faults(localcloud, admin_conn, [])
    assert report["injected"]["500"] >= 1 and report["injected"]["accept-and-ignore"] >= 1
