"""Cinder over real HTTP (openstacksdk, the `openstack` CLI), and attachments on real
node containers through volume/backend.py (loop device + mknod), with real filesystems.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import docker.errors
import pytest
from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from cloudhp_localcloud import faults
from cloudhp_localcloud.volume import backend as vb

if TYPE_CHECKING:
    from conftest import LocalCloud

GIB = 1024**3


def _new(conn: Connection, size: int = 1, **kw: object):  # type: ignore[no-untyped-def]
    volume = conn.block_storage.create_volume(size=size, **kw)
    return conn.block_storage.wait_for_status(volume, "available", wait=30)


def test_version_discovery(conn: Connection) -> None:
    assert conn.block_storage.get_endpoint().endswith(f"/volume/v3/{conn.current_project_id}")
    assert conn.block_storage.get_limits().absolute.max_total_volumes == 10


def test_volume_lifecycle(localcloud: LocalCloud, conn: Connection) -> None:
    created = conn.block_storage.create_volume(
        size=1, name="data", description="db", metadata={"cloudhp-cluster": "c1"}
    )
    assert created.status == "creating"  # Cinder's answer to the POST
    volume = conn.block_storage.wait_for_status(created, "available", wait=30)
    assert (volume.size, volume.name, volume.description) == (1, "data", "db")
    assert volume.metadata == {"cloudhp-cluster": "c1"} and volume.attachments == []
    assert volume.volume_type == "__DEFAULT__" and volume.availability_zone == "nova"
    path = Path(localcloud.data_dir) / "volumes" / f"{volume.id}.img"
    assert path.stat().st_size == GIB and path.stat().st_blocks < 64  # sparse

    listed = list(conn.block_storage.volumes(name="data"))
    assert [v.id for v in listed] == [volume.id] and listed[0].size == 1
    assert volume.id in {v.id for v in conn.block_storage.volumes(status="available")}

    # openstacksdk filters `metadata` client-side only; cinderclient sends it like this:
    def by_meta(text: str) -> list[str]:
        resp = conn.block_storage.get("/volumes/detail", params={"metadata": text})
        return [v["id"] for v in resp.json()["volumes"]]

    assert by_meta("{'cloudhp-cluster': 'c1'}") == [volume.id]
    assert by_meta('{"cloudhp-cluster": "other"}') == []
    assert volume.id in {v.id for v in conn.block_storage.volumes(details=False)}

    updated = conn.block_storage.update_volume(volume, name="data2", description="new")
    assert (updated.name, updated.description) == ("data2", "new")
    conn.block_storage.set_volume_metadata(volume, role="db")
    fetched = conn.block_storage.get_volume(volume.id)
    assert fetched.metadata == {"cloudhp-cluster": "c1", "role": "db"}
    conn.block_storage.delete_volume_metadata(volume.id, keys=["cloudhp-cluster"])
    assert conn.block_storage.get_volume(volume.id).metadata == {"role": "db"}

    conn.block_storage.extend_volume(volume, 2)
    assert conn.block_storage.get_volume(volume.id).size == 2
    assert path.stat().st_size == 2 * GIB

    conn.block_storage.delete_volume(volume)
    conn.block_storage.wait_for_delete(volume, wait=30)
    assert not path.exists()
    with pytest.raises(sdk_exc.NotFoundException):
        conn.block_storage.get_volume(volume.id)


def test_bad_requests(conn: Connection) -> None:
    for size in (0, -1, "big"):
        with pytest.raises(sdk_exc.BadRequestException, match="size"):
            conn.block_storage.create_volume(size=size)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.block_storage.create_volume(size=1, volume_type="gold")
    with pytest.raises(sdk_exc.NotFoundException):
        conn.block_storage.delete_volume(str(uuid.uuid4()), ignore_missing=False)


def test_admin_actions_and_statuses(conn: Connection, admin_conn: Connection) -> None:
    volume = _new(conn)
    try:
        with pytest.raises(sdk_exc.ForbiddenException):
            conn.block_storage.reset_volume_status(volume, "error", "detached", None)
        admin_conn.block_storage.reset_volume_status(volume, "in-use", "attached", None)
        assert conn.block_storage.get_volume(volume.id).status == "in-use"
        with pytest.raises(sdk_exc.BadRequestException, match="Invalid volume"):
            conn.block_storage.delete_volume(volume)
        admin_conn.block_storage.reset_volume_status(volume, "available", "detached", None)
        assert conn.block_storage.get_volume(volume.id).status == "available"
    finally:
        conn.block_storage.delete_volume(volume)


def test_quota_exceeded(conn: Connection, admin_conn: Connection) -> None:
    project = conn.current_project_id
    quota = conn.block_storage.get_quota_set(project, usage=True)
    assert quota.volumes == 10 and quota.gigabytes == 1000
    with pytest.raises(sdk_exc.HttpException, match="gigabytes quota") as exc:
        conn.block_storage.create_volume(size=1001)
    assert exc.value.status_code == 413
    in_use = quota.usage["volumes"]
    admin_conn.block_storage.update_quota_set(project, volumes=in_use + 1)
    made = []
    try:
        made.append(_new(conn))
        with pytest.raises(sdk_exc.HttpException, match="Maximum number of volumes") as exc:
            conn.block_storage.create_volume(size=1)
        assert exc.value.status_code == 413
        limits = conn.block_storage.get_limits().absolute
        assert limits.max_total_volumes == in_use + 1
        assert limits.total_volumes_used == in_use + 1
    finally:
        for volume in made:
            conn.block_storage.delete_volume(volume)
        admin_conn.block_storage.revert_quota_set(project)
    assert conn.block_storage.get_quota_set(project).volumes == 10


@pytest.mark.skipif(shutil.which("openstack") is None, reason="no openstack CLI")
def test_openstack_cli(localcloud: LocalCloud, conn: Connection) -> None:
    def osc(*args: str) -> object:
        out = subprocess.run(
            ["openstack", *args], env=localcloud.cli_env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    created = osc("volume", "create", "--size", "1", "cli-vol", "-f", "json")
    try:
        assert created["size"] == 1 and created["name"] == "cli-vol"
        listed = osc("volume", "list", "-f", "json")
        assert created["id"] in {v["ID"] for v in listed}
    finally:
        conn.block_storage.delete_volume(created["id"])


# --- attachments on real node containers ----------------------------------------------


@pytest.fixture(scope="module")
def engine(engine: docker.DockerClient) -> docker.DockerClient:
    """The session's engine, on a host that has loop devices (volumes are loop devices)."""
    if not Path("/dev/loop-control").exists():
        pytest.skip("no loop devices on this host")
    return engine


@pytest.fixture(scope="module")
def servers(engine: docker.DockerClient) -> Iterator[list[str]]:
    """Two node containers named as compute names servers; yields their server ids."""
    from cloudhp.images.build import ensure_image
    from cloudhp.images.nodecontainers import NodeSpec, create_node, remove_node
    from cloudhp.progress import RecordingReporter
    from cloudhp_localcloud.dockerlabels import server_container, server_labels

    image = ensure_image(engine, "node", RecordingReporter()).tag
    net = f"lc-test-vol-{uuid.uuid4().hex[:6]}"
    engine.networks.create(net, driver="bridge", labels={"cloudhp.localcloud": "test"})
    ids = [str(uuid.uuid4()) for _ in range(2)]
    try:
        for sid in ids:
            create_node(engine, NodeSpec(name=server_container(sid), image=image, network=net,
                                         labels=server_labels(sid)))  # fmt: skip
        yield ids
    finally:
        for sid in ids:
            remove_node(engine, server_container(sid))
        engine.networks.get(net).remove()


def _sh(engine: docker.DockerClient, server_id: str, script: str) -> str:
    result = engine.containers.get(f"lc-server-{server_id}").exec_run(["sh", "-c", script])
    out = result.output.decode(errors="replace")
    assert result.exit_code == 0, out
    return out


@pytest.mark.docker
def test_attach_format_detach_move_and_read_back(
    localcloud: LocalCloud, conn: Connection, engine: docker.DockerClient, servers: list[str]
) -> None:
    one, two = servers
    store = localcloud.store()
    volume = _new(conn, name="moving")
    try:
        device = vb.attach_volume(store, volume.id, one, None)
        assert device == "/dev/vdb"
        shown = conn.block_storage.get_volume(volume.id)
        assert shown.status == "in-use"
        assert [(a["server_id"], a["device"]) for a in shown.attachments] == [(one, device)]
        assert shown.attachments[0]["attachment_id"] and shown.attachments[0]["host_name"]
        with pytest.raises(faults.BadRequest, match="status must be available"):
            vb.attach_volume(store, volume.id, two, None)
        with pytest.raises(faults.Conflict):
            vb.attach_volume(store, volume.id, one, None)
        with pytest.raises(sdk_exc.BadRequestException):
            conn.block_storage.delete_volume(volume)
        _sh(engine, one, f"mkfs.ext4 -q {device} && mkdir -p /mnt/v && mount {device} /mnt/v"
                         " && echo kept-across-servers > /mnt/v/f && umount /mnt/v")  # fmt: skip
        loop = store.get("volume", volume.id)["lc_loop"]

        vb.detach_volume(store, volume.id, one)
        assert conn.block_storage.get_volume(volume.id).status == "available"
        assert vb.loop_backing_file(loop) != str(Path(shown_path(localcloud, volume.id)))
        _sh(engine, one, f"test ! -e {device}")
        with pytest.raises(faults.NotFound):
            vb.detach_volume(store, volume.id, one)

        other = _new(conn, name="first-on-two")
        try:
            assert vb.attach_volume(store, other.id, two, None) == "/dev/vdb"
            device = vb.attach_volume(store, volume.id, two, None)
            assert device == "/dev/vdc"  # letters are unique per server
            read = f"mkdir -p /mnt/w && mount {device} /mnt/w && cat /mnt/w/f && umount /mnt/w"
            assert _sh(engine, two, read).strip() == "kept-across-servers"

            # The daemon restarts after the loop device went away: reconcile rebinds it.
            record = store.get("volume", volume.id)
            vb.remove_node(two, device)
            vb.loop_detach(record["lc_loop"])
            assert vb.reconcile(store) == 1
            assert _sh(engine, two, read).strip() == "kept-across-servers"
            vb.detach_volume(store, other.id, two)
        finally:
            conn.block_storage.delete_volume(other)

        # An admin can force a detach whatever the server's state.
        action = {"json": {"os-force_detach": {}}, "raise_exc": False}
        denied = conn.block_storage.post(f"/volumes/{volume.id}/action", **action)
        assert denied.status_code == 403
        admin = localcloud.connect(**localcloud.admin)
        done = admin.block_storage.post(f"/volumes/{volume.id}/action", **action)
        assert done.status_code == 202
        after = conn.block_storage.get_volume(volume.id)
        assert after.status == "available" and after.attachments == []
        _sh(engine, two, f"test ! -e {device}")
    finally:
        record = store.get("volume", volume.id)
        for attachment in (record or {}).get("attachments", []):
            vb.detach_volume(store, volume.id, attachment["server_id"])
        conn.block_storage.delete_volume(volume)


def shown_path(localcloud: LocalCloud, volume_id: str) -> Path:
    return (Path(localcloud.data_dir) / "volumes" / f"{volume_id}.img").resolve()


def test_attach_unknown_volume_is_404(localcloud: LocalCloud) -> None:
    with pytest.raises(faults.NotFound):
        vb.attach_volume(localcloud.store(), str(uuid.uuid4()), "server", None)


# --- end to end through Nova ---------------------------------------------------------


@pytest.mark.docker
def test_end_to_end_server_with_floating_ip_and_volume(
    conn: Connection, engine: docker.DockerClient
) -> None:
    """Boot through Nova, SSH in through a floating IP, format and use an attached disk."""
    import io
    import time

    import paramiko

    net = conn.network.create_network(name="e2e-vol-net")
    subnet = conn.network.create_subnet(network_id=net.id, cidr="10.77.200.0/24", ip_version=4)
    public = conn.network.find_network("public")
    router = conn.network.create_router(name="e2e", external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet=subnet.id)
    keypair = conn.compute.create_keypair(name=f"e2e-{uuid.uuid4().hex[:6]}")
    volume = _new(conn, name="e2e-data")
    ssh_group = conn.network.create_security_group(name="e2e-vol-ssh")  # groups are enforced
    conn.network.create_security_group_rule(
        security_group_id=ssh_group.id, direction="ingress", protocol="tcp",
        port_range_min=22, port_range_max=22,
    )  # fmt: skip
    server = fip = None
    try:
        server = conn.compute.create_server(
            name="e2e-vol", image_id=conn.image.find_image("debian-12").id, flavor_id="1",
            key_name=keypair.name, networks=[{"uuid": net.id}],
            security_groups=[{"name": ssh_group.name}],
        )  # fmt: skip
        server = conn.compute.wait_for_server(server, wait=300, interval=0.5)
        port = next(conn.network.ports(device_id=server.id))
        fip = conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
        server = conn.compute.get_server(server.id)
        kinds = [a["OS-EXT-IPS:type"] for a in server.addresses["e2e-vol-net"]]
        assert kinds == ["fixed", "floating"]

        attachment = conn.compute.create_volume_attachment(server, volume_id=volume.id)
        assert conn.block_storage.get_volume(volume.id).status == "in-use"
        device = attachment.device

        key = paramiko.Ed25519Key.from_private_key(io.StringIO(keypair.private_key))
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # test-only, fresh VM
        deadline = time.monotonic() + 90
        while True:
            try:
                client.connect(fip.floating_ip_address, username="debian", pkey=key, timeout=5,
                               allow_agent=False, look_for_keys=False)  # fmt: skip
                break
            except (paramiko.SSHException, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        script = (f"sudo -n mkfs.ext4 -q {device} && sudo -n mkdir -p /data && "
                  f"sudo -n mount {device} /data && echo e2e | sudo -n tee /data/f && "
                  "sudo -n umount /data")  # fmt: skip
        _, stdout, stderr = client.exec_command(script, timeout=120)
        assert stdout.channel.recv_exit_status() == 0, stderr.read().decode()
        client.close()

        conn.compute.delete_volume_attachment(server, volume.id)
        conn.block_storage.wait_for_status(volume, "available", wait=60)
    finally:
        if server is not None:
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=120)
        if fip is not None:
            conn.network.delete_ip(fip)
        conn.block_storage.delete_volume(volume)
        conn.compute.delete_keypair(keypair)
        conn.network.delete_security_group(ssh_group)
        conn.network.remove_interface_from_router(router, subnet=subnet.id)
        conn.network.delete_router(router)
        for port in conn.network.ports(network_id=net.id):
            conn.network.delete_port(port)
        conn.network.delete_network(net)
