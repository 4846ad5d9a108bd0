"""Nova on localcloud, end to end: openstacksdk and the `openstack` CLI against real
node containers (sshd, a nested Docker engine and cloud-init inside).

One server is booted per module and reused by most tests (a boot costs seconds, a
snapshot round trip more); tests that change its state put it back. Run with `-s` to
see the boot figures (create -> ACTIVE, -> SSH ready, memory per idle server).
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import docker.errors
import openstack.exceptions
import paramiko
import pytest
from openstack.connection import Connection

from cloudhp_localcloud.compute import lifecycle, nodes

pytestmark = pytest.mark.docker

SUBNET = "10.91.7.0/24"
SSH_GROUP = "compute-test-ssh"  # security groups are enforced: SSH from here needs a rule
USER_DATA = """#cloud-config
runcmd:
  - echo from-user-data > /var/tmp/user-data-ran
"""


@dataclass
class Booted:
    server: object
    ip: str
    private_key: str
    active_seconds: float
    ssh_seconds: float


def _ssh(ip: str, private_key: str, timeout: float = 60.0) -> paramiko.SSHClient:
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(private_key))
    deadline = time.monotonic() + timeout
    while True:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # test-only, fresh VM
        try:
            client.connect(ip, username="debian", pkey=key, timeout=5, allow_agent=False,
                           look_for_keys=False)  # fmt: skip
            return client
        except (paramiko.SSHException, OSError):
            client.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _run(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, stderr = client.exec_command(command, timeout=60)
    code = stdout.channel.recv_exit_status()
    out = stdout.read().decode()
    assert code == 0, f"{command!r} failed ({code}): {out}{stderr.read().decode()}"
    return out


def _ip(server: object) -> str:
    for entries in server.addresses.values():  # type: ignore[attr-defined]
        for entry in entries:
            if entry.get("OS-EXT-IPS:type") == "fixed":
                return entry["addr"]
    raise AssertionError(f"no fixed address in {server.addresses}")  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def dclient() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except Exception:
        pytest.skip("no Docker engine")
    return client


@pytest.fixture(scope="module")
def network(conn: Connection, dclient: docker.DockerClient) -> Iterator[object]:
    net = conn.network.create_network(name="compute-test-net")
    conn.network.create_subnet(
        network_id=net.id, cidr=SUBNET, ip_version=4, name="compute-test-subnet"
    )
    # The default group admits only its members (as on DevStack): SSH needs its own rule.
    ssh = conn.network.create_security_group(name=SSH_GROUP)
    conn.network.create_security_group_rule(
        security_group_id=ssh.id, direction="ingress", protocol="tcp",
        port_range_min=22, port_range_max=22,
    )  # fmt: skip
    yield net
    for server in conn.compute.servers():
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)
    for port in conn.network.ports(network_id=net.id):
        conn.network.delete_port(port)
    conn.network.delete_network(net)
    conn.network.delete_security_group(ssh)


@pytest.fixture(scope="module")
def keypair(conn: Connection) -> Iterator[object]:
    kp = conn.compute.create_keypair(name="compute-test-key")
    yield kp
    conn.compute.delete_keypair(kp, ignore_missing=True)


@pytest.fixture(scope="module")
def base_image(conn: Connection) -> object:
    return conn.image.find_image("debian-12", ignore_missing=False)


@pytest.fixture(scope="module")
def booted(conn: Connection, network: object, keypair: object, base_image: object,
           dclient: docker.DockerClient) -> Booted:  # fmt: skip
    """The module's server, with how long it took to become ACTIVE and SSH-ready."""
    nodes.node_image()  # a first-ever run builds the image: not a boot cost
    start = time.monotonic()
    server = conn.compute.create_server(
        name="Compute Test_A",
        image_id=base_image.id,  # type: ignore[attr-defined]
        flavor_id="1",
        key_name="compute-test-key",
        networks=[{"uuid": network.id}],  # type: ignore[attr-defined]
        user_data=base64.b64encode(USER_DATA.encode()).decode(),
        metadata={"role": "test"},
        tags=["web", "blue"],
        security_groups=[{"name": "default"}, {"name": SSH_GROUP}],
    )
    server = conn.compute.wait_for_server(server, wait=300, interval=0.5)
    active = time.monotonic() - start
    ip = _ip(server)
    private_key = keypair.private_key  # type: ignore[attr-defined]
    _ssh(ip, private_key).close()
    ssh_ready = time.monotonic() - start
    return Booted(server, ip, private_key, active, ssh_ready)


# --- flavors, keypairs, limits -------------------------------------------------------


def test_flavors_are_devstacks(conn: Connection) -> None:
    flavors = {f.name: f for f in conn.compute.flavors()}
    assert list(flavors) == ["m1.tiny", "m1.small", "m1.medium", "m1.large"]
    assert (flavors["m1.medium"].vcpus, flavors["m1.medium"].ram) == (2, 4096)
    small = conn.compute.find_flavor("m1.small", ignore_missing=False)
    assert (small.id, small.ram, small.disk) == ("2", 2048, 20)
    assert conn.compute.get_flavor("4").vcpus == 4
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_flavor("nope")


def test_keypair_lifecycle(conn: Connection) -> None:
    generated = conn.compute.create_keypair(name="kp-generated")
    assert generated.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert generated.public_key.startswith("ssh-ed25519 ")
    pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(generated.private_key))
    assert generated.public_key.split()[1] == pkey.get_base64()
    imported = conn.compute.create_keypair(
        name="kp-imported", public_key=generated.public_key.split(" Generated")[0]
    )
    assert imported.private_key is None
    assert imported.fingerprint == generated.fingerprint
    names = {k.name for k in conn.compute.keypairs()}
    assert {"kp-generated", "kp-imported"} <= names
    shown = conn.compute.get_keypair("kp-imported")
    assert shown.private_key is None and shown.public_key == imported.public_key
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.compute.create_keypair(name="kp-imported", public_key=imported.public_key)
    conn.compute.delete_keypair("kp-generated")
    conn.compute.delete_keypair("kp-imported")
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_keypair("kp-imported")


def test_limits_and_quota_sets(conn: Connection, admin_conn: Connection) -> None:
    limits = conn.compute.get_limits().absolute
    assert (limits.instances, limits.total_cores, limits.total_ram) == (10, 20, 51200)
    assert limits.keypairs == 100
    project_id = conn.current_project_id
    quota = admin_conn.compute.get_quota_set(project_id)
    assert (quota.instances, quota.cores, quota.ram, quota.key_pairs) == (10, 20, 51200, 100)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.compute.update_quota_set(quota, instances=50)


# --- errors ----------------------------------------------------------------------------


def test_create_with_unknown_flavor_or_image_is_400(
    conn: Connection, network: object, base_image: object
) -> None:
    nets = [{"uuid": network.id}]  # type: ignore[attr-defined]
    with pytest.raises(openstack.exceptions.BadRequestException, match="flavorRef"):
        conn.compute.create_server(name="x", image_id=base_image.id, flavor_id="99",
                                   networks=nets)  # type: ignore[attr-defined]  # fmt: skip
    with pytest.raises(openstack.exceptions.BadRequestException, match="image"):
        conn.compute.create_server(name="x", image_id="0" * 32, flavor_id="1", networks=nets)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_server("00000000-0000-0000-0000-000000000000")
    assert not [s for s in conn.compute.servers() if s.name == "x"]


def test_quota_exceeded_is_novas_403(
    conn: Connection, admin_conn: Connection, booted: Booted, network: object
) -> None:
    project_id = conn.current_project_id
    used = len(list(conn.compute.servers()))
    admin_conn.compute.update_quota_set(
        admin_conn.compute.get_quota_set(project_id), instances=used
    )
    try:
        with pytest.raises(openstack.exceptions.ForbiddenException) as caught:
            conn.compute.create_server(
                name="over-quota",
                image_id=booted.server.image.id,  # type: ignore[attr-defined]
                flavor_id="1",
                networks=[{"uuid": network.id}],  # type: ignore[attr-defined]
            )
        assert (
            f"Quota exceeded for instances: Requested 1, but already used {used} of {used} "
            "instances" in str(caught.value)
        )
    finally:
        admin_conn.compute.update_quota_set(
            admin_conn.compute.get_quota_set(project_id), instances=10
        )


def test_image_that_cannot_boot_puts_the_server_in_error(
    conn: Connection, localcloud: object, network: object
) -> None:
    store = localcloud.store()  # type: ignore[attr-defined]
    broken = store.insert(
        "image",
        {"status": "active", "visibility": "public", "min_ram": 0, "min_disk": 0,
         "disk_format": "raw", "container_format": "bare", "tags": [], "properties": {},
         "_docker_image": "cloudhp/does-not-exist:never"},
        name="broken-image",
        project_id=conn.current_project_id,
    )  # fmt: skip
    server = conn.compute.create_server(
        name="doomed", image_id=broken["id"], flavor_id="1",
        networks=[{"uuid": network.id}],  # type: ignore[attr-defined]
    )  # fmt: skip
    with pytest.raises(openstack.exceptions.ResourceFailure):
        conn.compute.wait_for_server(server, wait=60, interval=0.5)
    server = conn.compute.get_server(server.id)
    assert server.status == "ERROR"
    assert server.fault["code"] == 500 and server.fault["message"]
    assert server.fault["created"].endswith("Z")
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=60)
    store.delete("image", broken["id"])


def test_the_latency_model_keeps_a_new_server_in_build(
    conn: Connection, localcloud: object, network: object
) -> None:
    """With a build latency, the boot (here one that fails at once: an image whose
    container cannot start) begins only that long after the create, by the cloud's own
    timestamps; meanwhile the server is in BUILD and nothing runs."""
    store = localcloud.store()  # type: ignore[attr-defined]
    broken = store.insert(
        "image",
        {"status": "active", "visibility": "public", "min_ram": 0, "min_disk": 0,
         "disk_format": "raw", "container_format": "bare", "tags": [], "properties": {},
         "_docker_image": "cloudhp/does-not-exist:never"},
        name="late-image",
        project_id=conn.current_project_id,
    )  # fmt: skip
    lifecycle.set_build_latency(3)
    try:
        server = conn.compute.create_server(
            name="late", image_id=broken["id"], flavor_id="1",
            networks=[{"uuid": network.id}],  # type: ignore[attr-defined]
        )  # fmt: skip
        assert conn.compute.get_server(server.id).status == "BUILD"
        with pytest.raises(openstack.exceptions.ResourceFailure):
            conn.compute.wait_for_server(server, wait=60, interval=0.5)
    finally:
        lifecycle.set_build_latency(0)
    server = conn.compute.get_server(server.id)
    created = datetime.datetime.fromisoformat(server.created_at.replace("Z", "+00:00"))
    failed = datetime.datetime.fromisoformat(server.fault["created"].replace("Z", "+00:00"))
    assert failed - created >= datetime.timedelta(seconds=3)
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=60)
    store.delete("image", broken["id"])


# --- the booted server -----------------------------------------------------------------


def test_server_boots_with_cloud_init_sshd_and_docker(
    conn: Connection, booted: Booted, dclient: docker.DockerClient, admin_conn: Connection
) -> None:
    server = conn.compute.get_server(booted.server.id)  # type: ignore[attr-defined]
    assert server.status == "ACTIVE" and server.vm_state == "active"
    assert server.power_state == 1 and server.task_state is None
    assert server.key_name == "compute-test-key"
    assert server.metadata == {"role": "test"}
    assert sorted(server.tags) == ["blue", "web"]
    assert server.flavor.original_name == "m1.tiny" and server.flavor.vcpus == 1
    assert [g["name"] for g in server.security_groups] == ["default", SSH_GROUP]
    assert server.launched_at
    as_admin = admin_conn.compute.get_server(server.id)
    assert as_admin.hypervisor_hostname and as_admin.hostname == "compute-test-a"

    container = dclient.containers.get(f"lc-server-{server.id}")
    assert container.labels["cloudhp.localcloud"] == "server"
    assert container.labels["cloudhp.localcloud.server"] == server.id
    host_config = container.attrs["HostConfig"]
    assert host_config["NanoCpus"] == 1_000_000_000
    assert host_config["Memory"] == 512 * 1024 * 1024

    ssh = _ssh(booted.ip, booted.private_key)
    try:
        assert _run(ssh, "hostname").strip() == "compute-test-a"
        assert _run(ssh, "cat /var/tmp/user-data-ran").strip() == "from-user-data"
        assert _run(ssh, "docker info --format '{{.Driver}}'").strip() == "overlay2"
        assert _run(ssh, "sudo cloud-init query instance_id").strip() == server.id
    finally:
        ssh.close()

    stats = container.stats(stream=False)["memory_stats"]
    cache = stats.get("stats", {}).get("inactive_file", stats.get("stats", {}).get("cache", 0))
    mem_mib = (stats["usage"] - cache) / 2**20
    print(
        f"\nBOOT FIGURES: create->ACTIVE {booted.active_seconds:.1f}s, "
        f"create->SSH ready {booted.ssh_seconds:.1f}s, idle memory {mem_mib:.0f} MiB"
    )


def test_console_output(conn: Connection, booted: Booted) -> None:
    output = conn.compute.get_server_console_output(booted.server)["output"]
    assert "node-init: boot complete" in output
    tail = conn.compute.get_server_console_output(booted.server, length=2)["output"]
    assert len(tail.splitlines()) == 2


def test_list_filters(conn: Connection, booted: Booted) -> None:
    def names(**query: str) -> list[str]:
        return [s.name for s in conn.compute.servers(**query)]

    assert names(name="^Compute Test") == ["Compute Test_A"]
    assert names(name="test_a$") == []  # a regex, case-sensitive as Nova's on SQLite/MySQL
    assert names(name="nomatch") == []
    assert names(status="ACTIVE") == ["Compute Test_A"]
    assert names(tags="web") == ["Compute Test_A"]
    assert names(tags="web,red") == []
    assert names(any_tags="red,blue") == ["Compute Test_A"]
    assert names(not_tags="web") == []
    brief = list(conn.compute.servers(details=False))
    assert [s.id for s in brief] == [booted.server.id]  # type: ignore[attr-defined]


def test_metadata_and_tags_apis(conn: Connection, booted: Booted) -> None:
    server = booted.server
    conn.compute.set_server_metadata(server, color="green")
    assert conn.compute.get_server_metadata(server).metadata == {"role": "test", "color": "green"}
    conn.compute.delete_server_metadata(server, ["color"])
    assert conn.compute.get_server_metadata(server).metadata == {"role": "test"}
    conn.compute.add_tag_to_server(server, "extra")
    assert "extra" in conn.compute.get_server(server.id).tags  # type: ignore[attr-defined]
    conn.compute.remove_tag_from_server(server, "extra")
    assert sorted(conn.compute.get_server(server.id).tags) == ["blue", "web"]  # type: ignore[attr-defined]


def test_stop_and_start(conn: Connection, booted: Booted, dclient: docker.DockerClient) -> None:
    server = booted.server
    conn.compute.stop_server(server)
    conn.compute.wait_for_server(server, status="SHUTOFF", wait=60, interval=0.5)
    assert dclient.containers.get(f"lc-server-{server.id}").status == "exited"  # type: ignore[attr-defined]
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.compute.stop_server(server)
    conn.compute.start_server(server)
    conn.compute.wait_for_server(server, status="ACTIVE", wait=120, interval=0.5)
    ssh = _ssh(booted.ip, booted.private_key)
    try:
        assert _run(ssh, "cat /var/tmp/user-data-ran").strip() == "from-user-data"
        assert _run(ssh, "docker info --format '{{.Driver}}'").strip() == "overlay2"
    finally:
        ssh.close()


def test_reconcile_after_restart(
    conn: Connection, booted: Booted, localcloud: object, dclient: docker.DockerClient
) -> None:
    """What the daemon does at start: records follow the containers that are left."""
    store = localcloud.store()  # type: ignore[attr-defined]
    server_id = booted.server.id  # type: ignore[attr-defined]
    ghost = store.insert(
        "server",
        {**store.get("server", server_id), "status": "ACTIVE", "task_state": None},
        id="11111111-2222-3333-4444-555555555555",
        name="ghost",
        project_id=conn.current_project_id,
    )
    dclient.containers.get(f"lc-server-{server_id}").stop(timeout=10)
    lifecycle.reconcile(store)
    assert store.get("server", server_id)["status"] == "SHUTOFF"
    gone = store.get("server", ghost["id"])
    assert gone["status"] == "ERROR" and "disappeared" in gone["fault"]["message"]
    store.delete("server", ghost["id"])
    conn.compute.start_server(booted.server)
    # A fresh object: wait_for_server returns at once if the one it is given says ACTIVE.
    fresh = conn.compute.get_server(server_id)
    assert fresh.status == "SHUTOFF" and fresh.task_state == "powering-on"
    conn.compute.wait_for_server(fresh, status="ACTIVE", wait=120, interval=0.5)


def test_snapshot_keeps_files_and_nested_images(
    conn: Connection, booted: Booted, network: object, dclient: docker.DockerClient
) -> None:
    ssh = _ssh(booted.ip, booted.private_key)
    try:
        _run(ssh, "echo before-snapshot > /home/debian/marker")
        # An image in the nested engine, made offline: no registry is needed.
        _run(ssh, "tar -C /etc -c hostname | docker import - lc-test/marker:1 >/dev/null")
    finally:
        ssh.close()
    start = time.monotonic()
    image_id = conn.compute.create_server_image(booted.server, "snap-a", wait=False)
    image = conn.image.wait_for_status(conn.image.get_image(image_id), "active", wait=300)
    snapshot_seconds = time.monotonic() - start
    assert image.properties["image_type"] == "snapshot" or image.image_type == "snapshot"
    assert image.owner == conn.current_project_id and image.visibility == "private"
    assert dclient.volumes.get(f"lc-image-{image.id}-docker")

    clone = conn.compute.create_server(
        name="from-snapshot", image_id=image.id, flavor_id="1", key_name="compute-test-key",
        networks=[{"uuid": network.id}],  # type: ignore[attr-defined]
        security_groups=[{"name": SSH_GROUP}],
    )  # fmt: skip
    clone = conn.compute.wait_for_server(clone, wait=300, interval=0.5)
    ssh = _ssh(_ip(clone), booted.private_key)
    try:
        assert _run(ssh, "cat /home/debian/marker").strip() == "before-snapshot"
        assert "lc-test/marker" in _run(ssh, "docker image ls --format '{{.Repository}}'")
        assert _run(ssh, "hostname").strip() == "from-snapshot"
    finally:
        ssh.close()
    print(f"\nSNAPSHOT: createImage -> active {snapshot_seconds:.1f}s")

    conn.compute.delete_server(clone)
    conn.compute.wait_for_delete(clone, wait=120)
    with pytest.raises(docker.errors.NotFound):
        dclient.containers.get(f"lc-server-{clone.id}")
    with pytest.raises(docker.errors.NotFound):
        dclient.volumes.get(f"lc-server-{clone.id}-docker")
    conn.image.delete_image(image)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            dclient.volumes.get(f"lc-image-{image.id}-docker")
        except docker.errors.NotFound:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the snapshot's volume was not removed")
    with pytest.raises(docker.errors.ImageNotFound):
        dclient.images.get(f"cloudhp/lc-image:{image.id}")


def test_volume_attachments(conn: Connection, booted: Booted) -> None:
    volume = conn.block_storage.create_volume(size=1, name="attach-me")
    conn.block_storage.wait_for_status(volume, "available", wait=60)
    attachment = conn.compute.create_volume_attachment(booted.server, volume_id=volume.id)
    assert attachment.device.startswith("/dev/")
    listed = list(conn.compute.volume_attachments(booted.server))
    assert [a.volume_id for a in listed] == [volume.id]
    server = conn.compute.get_server(booted.server.id)  # type: ignore[attr-defined]
    assert [v["id"] for v in server.attached_volumes] == [volume.id]
    conn.compute.delete_volume_attachment(booted.server, volume.id)
    assert list(conn.compute.volume_attachments(booted.server)) == []
    conn.block_storage.wait_for_status(volume, "available", wait=60)
    conn.block_storage.delete_volume(volume)


@pytest.mark.skipif(shutil.which("openstack") is None, reason="no openstack CLI")
def test_openstack_cli(localcloud: object, network: object, keypair: object) -> None:
    env = localcloud.cli_env  # type: ignore[attr-defined]

    def cli(*args: str) -> object:
        proc = subprocess.run(["openstack", *args, "-f", "json"], env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    images = cli("image", "list")
    assert "debian-12" in [i["Name"] for i in images]  # type: ignore[union-attr]
    created = cli(
        "server", "create", "--wait", "--image", "debian-12", "--flavor", "m1.tiny",
        "--network", "compute-test-net", "--key-name", "compute-test-key", "cli-server",
    )  # fmt: skip
    assert created["status"] == "ACTIVE"  # type: ignore[index]
    listed = cli("server", "list")
    row = next(r for r in listed if r["Name"] == "cli-server")  # type: ignore[union-attr]
    assert row["Status"] == "ACTIVE" and row["Image"] == "debian-12"
    assert row["Flavor"] == "m1.tiny" and "compute-test-net" in str(row["Networks"])
    proc = subprocess.run(["openstack", "server", "delete", "--wait", "cli-server"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_delete_removes_container_and_volume(
    conn: Connection, booted: Booted, dclient: docker.DockerClient
) -> None:
    server = booted.server
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=120)
    with pytest.raises(docker.errors.NotFound):
        dclient.containers.get(f"lc-server-{server.id}")  # type: ignore[attr-defined]
    with pytest.raises(docker.errors.NotFound):
        dclient.volumes.get(f"lc-server-{server.id}-docker")  # type: ignore[attr-defined]
    assert not list(conn.network.ports(device_id=server.id))  # type: ignore[attr-defined]
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_server(server.id)  # type: ignore[attr-defined]
