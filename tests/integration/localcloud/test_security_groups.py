"""Security groups enforced on real node containers, with cloudhp's three kinds of rule.

Three servers on one network: A in "swarm" (7946/tcp from the group's members) and
"ssh" (22 from the bastion's address, computed as cloudhp's preflight computes it), B
in "swarm" and "ingress" (80 from anywhere), C in a group of its own with no rules.
Each runs a listener on 80, 2377 and 7946 (sshd has 22); connections are made from
inside the containers (bash's /dev/tcp) and from this machine, the bastion. A port
the rules close does not answer at all (the SYN is dropped: a timeout), which is
told apart from one nobody listens on (refused).

The last test changes rules, members and ports of the running servers and reboots
one, so it runs last; the others only look.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from openstack.connection import Connection

from cloudhp.steps.preflight import probe_target, source_address_toward
from cloudhp_localcloud.compute import nodes

pytestmark = pytest.mark.docker

SUBNET = "10.93.5.0/24"
GATEWAY = "10.93.5.1"
PORTS = (80, 2377, 7946)
LISTENER = """
import socket, sys, threading
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen()
    while True:
        s.accept()[0].close()
for port in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(port),)).start()
"""
PROBE_SECONDS = 2


@dataclass
class Node:
    server_id: str
    ip: str
    port_id: str
    container: Container


def probe_from(node: Node, ip: str, port: int) -> str:
    """open, refused or filtered: a TCP connect from inside the node's container."""
    code, _ = node.container.exec_run(
        ["timeout", str(PROBE_SECONDS), "bash", "-c", f"</dev/tcp/{ip}/{port}"]
    )
    return {0: "open", 124: "filtered"}.get(code, "refused")


def probe_from_bastion(ip: str, port: int) -> str:
    try:
        with socket.create_connection((ip, port), timeout=PROBE_SECONDS):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "filtered"


def eventually(probe: Callable[[], str], wanted: str, timeout: float = 30.0) -> str:
    """The probe's answer once it is `wanted`, or its last answer after `timeout`: rules
    other than a boot's are applied in the background, as Neutron's agent does."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got == wanted or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


@pytest.fixture(scope="module")
def dclient() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine: {exc}")
    return client


@pytest.fixture(scope="module")
def bastion() -> str:
    """This machine's address toward the subnet, as `cloudhp init` puts it in its ssh rule."""
    return source_address_toward(probe_target(SUBNET, GATEWAY))


@pytest.fixture(scope="module")
def groups(conn: Connection, bastion: str) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:6]
    made = {
        role: conn.network.create_security_group(name=f"sgt-{role}-{tag}")
        for role in ("swarm", "ssh", "ingress", "alone")
    }
    ids = {role: str(g.id) for role, g in made.items()}

    def allow(role: str, port: int, **remote: str) -> None:
        conn.network.create_security_group_rule(
            security_group_id=ids[role], direction="ingress", ethertype="IPv4",
            protocol="tcp", port_range_min=port, port_range_max=port, **remote,
        )  # fmt: skip

    allow("swarm", 7946, remote_group_id=ids["swarm"])
    allow("ssh", 22, remote_ip_prefix=f"{bastion}/32")
    allow("ingress", 80, remote_ip_prefix="0.0.0.0/0")
    yield ids
    for group in made.values():
        conn.network.delete_security_group(group, ignore_missing=True)


@pytest.fixture(scope="module")
def network(conn: Connection) -> Iterator[tuple[object, object]]:
    net = conn.network.create_network(name="sgt-net")
    subnet = conn.network.create_subnet(
        network_id=net.id, cidr=SUBNET, gateway_ip=GATEWAY, ip_version=4
    )
    public = conn.network.find_network("public", ignore_missing=False)
    router = conn.network.create_router(name="sgt", external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet=subnet.id)
    yield net, public
    for fip in conn.network.ips(floating_network_id=public.id):
        if fip.description == "sgt":
            conn.network.delete_ip(fip)
    conn.network.remove_interface_from_router(router, subnet=subnet.id)
    conn.network.delete_router(router)
    for port in conn.network.ports(network_id=net.id):
        conn.network.delete_port(port)
    conn.network.delete_network(net)


@pytest.fixture(scope="module")
def cluster(
    conn: Connection, network: tuple, groups: dict[str, str], dclient: docker.DockerClient
) -> Iterator[dict[str, Node]]:
    """The three servers, listening; deleted before their network and groups."""
    net, _ = network
    image = conn.image.find_image("debian-12", ignore_missing=False)
    wanted = {"a": ["swarm", "ssh"], "b": ["swarm", "ingress"], "c": ["alone"]}
    created = {
        name: conn.compute.create_server(
            name=f"sgt-{name}",
            image_id=image.id,
            flavor_id="1",
            networks=[{"uuid": net.id}],
            security_groups=[{"name": groups[r]} for r in roles],
        )
        for name, roles in wanted.items()
    }
    out = {}
    for name, server in created.items():
        server = conn.compute.wait_for_server(server, wait=300, interval=0.5)
        port = next(conn.network.ports(device_id=server.id))
        container = dclient.containers.get(nodes.container_name(server.id))
        container.exec_run(["python3", "-c", LISTENER, *map(str, PORTS)], detach=True)
        out[name] = Node(server.id, port.fixed_ips[0]["ip_address"], port.id, container)
        _wait_listening(out[name])
    yield out
    for server in created.values():
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)


def _wait_listening(node: Node) -> None:
    """The listeners are up: the node reaches itself (lo is not filtered)."""
    for port in PORTS:
        assert eventually(lambda p=port: probe_from(node, "127.0.0.1", p), "open") == "open"


def test_swarm_port_is_open_to_members_of_the_group_only(cluster: dict[str, Node]) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    assert eventually(lambda: probe_from(b, a.ip, 7946), "open") == "open"
    assert probe_from(a, b.ip, 7946) == "open"
    assert probe_from(c, a.ip, 7946) == "filtered"
    assert probe_from_bastion(a.ip, 7946) == "filtered"
    # 2377 is not in any rule yet: closed to members too
    assert probe_from(b, a.ip, 2377) == "filtered"


def test_ssh_only_from_the_bastions_address(cluster: dict[str, Node], bastion: str) -> None:
    """The bastion's traffic comes from the bridge's gateway, the very address cloudhp's
    preflight computes (the kernel's source address toward the subnet)."""
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    assert bastion == GATEWAY
    assert probe_from_bastion(a.ip, 22) == "open"
    assert probe_from(c, a.ip, 22) == "filtered"
    assert probe_from(b, a.ip, 22) == "filtered"  # a member of swarm, but not the bastion
    assert probe_from_bastion(b.ip, 22) == "filtered"  # b has no ssh group


def test_http_only_where_the_ingress_group_is(
    conn: Connection, cluster: dict[str, Node], network: tuple
) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    assert probe_from_bastion(b.ip, 80) == "open"
    assert probe_from(c, b.ip, 80) == "open"  # from anywhere
    assert probe_from_bastion(a.ip, 80) == "filtered"
    assert probe_from_bastion(c.ip, 80) == "filtered"
    assert probe_from(b, a.ip, 80) == "filtered"

    # The floating IP is a second interface of b's port: the same rules filter it.
    _, public = network
    fip = conn.network.create_ip(floating_network_id=public.id, port_id=b.port_id,
                                 description="sgt")  # fmt: skip
    address = fip.floating_ip_address
    assert eventually(lambda: probe_from_bastion(address, 80), "open") == "open"
    assert probe_from_bastion(address, 22) == "filtered"
    assert probe_from_bastion(address, 7946) == "filtered"


def test_changes_reach_running_servers_and_survive_a_reboot(
    conn: Connection, cluster: dict[str, Node], groups: dict[str, str]
) -> None:
    a, b = cluster["a"], cluster["b"]
    # A rule added: 2377 from the members, on both servers of the group.
    rule = conn.network.create_security_group_rule(
        security_group_id=groups["swarm"], direction="ingress", ethertype="IPv4",
        protocol="tcp", port_range_min=2377, port_range_max=2377,
        remote_group_id=groups["swarm"],
    )  # fmt: skip
    assert eventually(lambda: probe_from(b, a.ip, 2377), "open") == "open"
    assert probe_from(a, b.ip, 2377) == "open"

    # A member removed: b leaves swarm, so a stops accepting b.
    conn.network.update_port(b.port_id, security_groups=[groups["ingress"]])
    assert eventually(lambda: probe_from(b, a.ip, 7946), "filtered") == "filtered"
    assert probe_from(b, a.ip, 2377) == "filtered"

    # A rule deleted: the bastion loses SSH to a.
    conn.network.delete_security_group_rule(rule)
    [ssh_rule] = [r for r in conn.network.security_group_rules(security_group_id=groups["ssh"])
                  if r.direction == "ingress"]  # fmt: skip
    conn.network.delete_security_group_rule(ssh_rule)
    assert eventually(lambda: probe_from_bastion(a.ip, 22), "filtered") == "filtered"

    # A reboot is a new network namespace: the rules are loaded into it before ACTIVE.
    conn.compute.reboot_server(a.server_id, "SOFT")
    rebooting = conn.compute.get_server(a.server_id)
    assert rebooting.status == "REBOOT"
    conn.compute.wait_for_server(rebooting, status="ACTIVE", wait=300, interval=0.5)
    deadline = time.monotonic() + 60
    while probe_from(a, "127.0.0.1", 22) != "open" and time.monotonic() < deadline:
        time.sleep(0.5)  # sshd is up again
    assert probe_from_bastion(a.ip, 22) == "filtered"
