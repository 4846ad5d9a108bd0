"""Neutron over real HTTP (openstacksdk, the `openstack` CLI) with real Docker networks.

CIDRs are drawn from 10.77.0.0/16 per test so tests never overlap each other or the
other services' tests on the same engine (localcloud networks share one space).
"""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import docker
import docker.errors
import pytest
from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from cloudhp_localcloud import dockerlabels
from cloudhp_localcloud.network.bridges import ensure_public_network
from cloudhp_localcloud.network.servers import (
    prepare_server_ports,
    release_server_ports,
    server_addresses,
)

if TYPE_CHECKING:
    from conftest import LocalCloud

pytestmark = pytest.mark.docker

_third = itertools.count(10)


def _cidr() -> str:
    return f"10.77.{next(_third)}.0/24"


@pytest.fixture
def net(conn: Connection, engine: docker.DockerClient) -> Iterator[tuple]:
    """A network with one subnet; everything on it is removed afterwards."""
    n = conn.network.create_network(name=f"t-{uuid.uuid4().hex[:6]}")
    s = conn.network.create_subnet(network_id=n.id, cidr=_cidr(), ip_version=4)
    yield n, s
    _cleanup_network(conn, n.id)


def _cleanup_network(conn: Connection, network_id: str) -> None:
    for router in conn.network.routers():
        for port in conn.network.ports(device_id=router.id, network_id=network_id):
            for ip in port.fixed_ips:
                conn.network.remove_interface_from_router(router, subnet=ip["subnet_id"])
    for fip in conn.network.ips():
        if fip.port_id and conn.network.find_port(fip.port_id) is None:
            continue
    for port in conn.network.ports(network_id=network_id):
        for fip in conn.network.ips(port_id=port.id):
            conn.network.delete_ip(fip)
        conn.network.delete_port(port)
    conn.network.delete_network(network_id, ignore_missing=True)


def _docker_net(engine: docker.DockerClient, name: str) -> dict | None:
    try:
        return engine.networks.get(name).attrs
    except docker.errors.NotFound:
        return None


def test_discovery_and_extensions(conn: Connection) -> None:
    aliases = {e.alias for e in conn.network.extensions()}
    assert {"router", "external-net", "security-group", "standard-attr-tag", "quotas"} <= aliases


def test_public_network_is_external_and_real(conn: Connection, engine: docker.DockerClient) -> None:
    public = conn.network.find_network("public")
    assert public is not None and public.is_router_external
    subnet = conn.network.get_subnet(public.subnet_ids[0])
    assert subnet.cidr == "172.24.4.0/24" and subnet.gateway_ip == "172.24.4.1"
    attrs = _docker_net(engine, "lc-public")
    assert attrs is not None and attrs["Labels"]["cloudhp.localcloud"] == "network"
    assert ensure_public_network(engine) == "172.24.4.1"  # idempotent


def test_network_subnet_port_lifecycle(conn: Connection, engine: docker.DockerClient) -> None:
    n = conn.network.create_network(name="lifecycle")
    assert n.status == "ACTIVE" and n.subnet_ids == []
    assert _docker_net(engine, f"lc-net-{n.id}") is None  # made with the first subnet
    cidr = _cidr()
    s = conn.network.create_subnet(network_id=n.id, cidr=cidr, ip_version=4, name="sub")
    prefix = cidr.rsplit(".", 1)[0]
    assert s.gateway_ip == f"{prefix}.1"
    assert s.allocation_pools == [{"start": f"{prefix}.2", "end": f"{prefix}.254"}]
    ipam = _docker_net(engine, f"lc-net-{n.id}")["IPAM"]["Config"][0]
    assert ipam["Subnet"] == cidr and ipam["Gateway"] == f"{prefix}.1"
    assert conn.network.get_network(n.id).subnet_ids == [s.id]

    p1 = conn.network.create_port(network_id=n.id, name="p1")
    assert p1.fixed_ips == [{"subnet_id": s.id, "ip_address": f"{prefix}.2"}]
    assert p1.mac_address.startswith("fa:16:3e:") and p1.status == "DOWN"
    p2 = conn.network.create_port(
        network_id=n.id, fixed_ips=[{"subnet_id": s.id, "ip_address": f"{prefix}.50"}]
    )
    assert p2.fixed_ips[0]["ip_address"] == f"{prefix}.50"
    with pytest.raises(sdk_exc.ConflictException, match="already allocated"):
        conn.network.create_port(network_id=n.id, fixed_ips=[{"ip_address": f"{prefix}.50"}])
    assert {p.id for p in conn.network.ports(network_id=n.id)} == {p1.id, p2.id}
    assert conn.network.update_port(p1, name="renamed").name == "renamed"
    default_sg = conn.network.find_security_group("default")
    assert p1.security_group_ids == [default_sg.id]

    with pytest.raises(sdk_exc.ConflictException, match="ports still in use"):
        conn.network.delete_network(n)
    with pytest.raises(sdk_exc.ConflictException, match="IP allocation"):
        conn.network.delete_subnet(s)
    conn.network.delete_port(p1)
    conn.network.delete_port(p2)
    conn.network.delete_subnet(s)
    assert _docker_net(engine, f"lc-net-{n.id}") is None
    conn.network.delete_network(n)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.network.get_network(n.id)


def test_errors(conn: Connection, net: tuple) -> None:
    n, s = net
    with pytest.raises(sdk_exc.NotFoundException):
        conn.network.get_network(str(uuid.uuid4()))
    with pytest.raises(sdk_exc.NotFoundException):
        conn.network.delete_port(str(uuid.uuid4()), ignore_missing=False)
    with pytest.raises(sdk_exc.BadRequestException, match="not a valid IP subnet"):
        conn.network.create_subnet(network_id=n.id, cidr="10.300.0.0/24", ip_version=4)
    with pytest.raises(sdk_exc.BadRequestException, match="overlaps"):
        conn.network.create_subnet(network_id=n.id, cidr=s.cidr, ip_version=4)
    other = conn.network.create_network(name="overlapping")
    try:
        with pytest.raises(sdk_exc.ConflictException, match="overlaps"):
            conn.network.create_subnet(network_id=other.id, cidr=s.cidr, ip_version=4)
        with pytest.raises(sdk_exc.ConflictException, match="overlaps"):
            conn.network.create_subnet(network_id=other.id, cidr="172.24.4.0/25", ip_version=4)
    finally:
        conn.network.delete_network(other)


def test_tags_and_filters(conn: Connection, net: tuple) -> None:
    n, _ = net
    conn.network.set_tags(n, ["cloudhp-cluster=t1", "blue"])
    assert sorted(conn.network.get_network(n.id).tags) == ["blue", "cloudhp-cluster=t1"]
    ids = lambda **kw: {x.id for x in conn.network.networks(**kw)}  # noqa: E731
    assert n.id in ids(tags="cloudhp-cluster=t1")
    assert n.id in ids(tags="blue,cloudhp-cluster=t1")
    assert n.id not in ids(tags="blue,red")
    assert n.id in ids(any_tags="red,blue")
    assert n.id not in ids(not_tags="blue")
    assert n.id in ids(name=n.name)
    assert ids(is_router_external=True) == {conn.network.find_network("public").id}
    conn.network.add_tag(n, "green")
    conn.network.remove_tag(n, "blue")
    assert sorted(conn.network.get_network(n.id).tags) == ["cloudhp-cluster=t1", "green"]


def test_security_groups_and_rules(conn: Connection) -> None:
    default = conn.network.find_security_group("default")
    assert default is not None
    rules = default.security_group_rules
    assert sorted((r["direction"], r["ethertype"]) for r in rules) == [
        ("egress", "IPv4"), ("egress", "IPv6"), ("ingress", "IPv4"), ("ingress", "IPv6"),
    ]  # fmt: skip
    assert all(r["remote_group_id"] == default.id for r in rules if r["direction"] == "ingress")

    sg = conn.network.create_security_group(name="swarm", description="swarm ports")
    assert len(sg.security_group_rules) == 2
    ssh = conn.network.create_security_group_rule(
        security_group_id=sg.id, direction="ingress", protocol="tcp",
        port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.5/32",
    )  # fmt: skip
    assert (ssh.protocol, ssh.port_range_min, ssh.remote_ip_prefix) == ("tcp", 22, "10.0.0.5/32")
    with pytest.raises(sdk_exc.ConflictException):
        conn.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", protocol="tcp",
            port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.5/32",
        )  # fmt: skip
    peers = conn.network.create_security_group_rule(
        security_group_id=sg.id, direction="ingress", protocol="udp",
        port_range_min=7946, port_range_max=7946, remote_group_id=sg.id,
    )  # fmt: skip
    with pytest.raises(sdk_exc.BadRequestException, match="protocol"):
        conn.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", port_range_min=80
        )
    listed = {r.id for r in conn.network.security_group_rules(security_group_id=sg.id)}
    assert {ssh.id, peers.id} <= listed and len(listed) == 4
    conn.network.delete_security_group_rule(ssh)
    assert len(conn.network.get_security_group(sg.id).security_group_rules) == 3
    conn.network.delete_security_group(sg)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.network.get_security_group(sg.id)
    with pytest.raises(sdk_exc.ConflictException):
        conn.network.delete_security_group(default)


def _routed(conn: Connection, n, s):  # type: ignore[no-untyped-def]
    public = conn.network.find_network("public")
    router = conn.network.create_router(name="r", external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet=s.id)
    return public, router


def _drop_router(conn: Connection, router, s) -> None:  # type: ignore[no-untyped-def]
    conn.network.remove_interface_from_router(router, subnet=s.id)
    conn.network.delete_router(router)


def test_routers_and_floating_ips(conn: Connection, net: tuple) -> None:
    n, s = net
    port = conn.network.create_port(network_id=n.id)
    public = conn.network.find_network("public")
    fip = conn.network.create_ip(floating_network_id=public.id)
    with pytest.raises(sdk_exc.NotFoundException, match="not reachable"):
        conn.network.update_ip(fip, port_id=port.id)

    public, router = _routed(conn, n, s)
    try:
        gw = router.external_gateway_info
        assert gw["network_id"] == public.id
        assert gw["external_fixed_ips"][0]["ip_address"].startswith("172.24.4.")
        iface = next(conn.network.ports(device_id=router.id, network_id=n.id))
        assert iface.fixed_ips[0]["ip_address"] == s.gateway_ip
        with pytest.raises(sdk_exc.ConflictException):
            conn.network.delete_router(router)

        fixed = conn.network.create_ip(
            floating_network_id=public.id, floating_ip_address="172.24.4.200"
        )
        assert fixed.floating_ip_address == "172.24.4.200" and fixed.status == "DOWN"
        with pytest.raises(sdk_exc.ConflictException):
            conn.network.create_ip(
                floating_network_id=public.id, floating_ip_address="172.24.4.200"
            )

        fip = conn.network.update_ip(fip, port_id=port.id)
        assert fip.port_id == port.id and fip.status == "ACTIVE"
        assert fip.fixed_ip_address == port.fixed_ips[0]["ip_address"]
        assert fip.router_id == router.id
        assert [x.id for x in conn.network.ips(port_id=port.id)] == [fip.id]
        assert [x.id for x in conn.network.ips(floating_ip_address="172.24.4.200")] == [fixed.id]
        conn.network.set_tags(fixed, ["ingress"])
        assert [x.id for x in conn.network.ips(tags="ingress")] == [fixed.id]
        with pytest.raises(sdk_exc.ConflictException):
            conn.network.update_ip(fixed, port_id=port.id)

        fip = conn.network.update_ip(fip, port_id=None)
        assert fip.port_id is None and fip.status == "DOWN"
        conn.network.update_ip(fip, port_id=port.id)
        conn.network.delete_port(port)  # Neutron keeps the FIP, unassociated
        assert conn.network.get_ip(fip.id).port_id is None
        conn.network.delete_ip(fip)
        conn.network.delete_ip(fixed)
        with pytest.raises(sdk_exc.NotFoundException):
            conn.network.get_ip(fip.id)
    finally:
        _drop_router(conn, router, s)


def test_floating_ip_quota(conn: Connection, admin_conn: Connection) -> None:
    project = conn.current_project_id
    assert conn.network.get_quota(project).floating_ips == 10
    admin_conn.network.update_quota(project, floating_ips=2)
    public = conn.network.find_network("public")
    made = []
    try:
        made = [conn.network.create_ip(floating_network_id=public.id) for _ in range(2)]
        with pytest.raises(sdk_exc.ConflictException, match="Quota exceeded"):
            conn.network.create_ip(floating_network_id=public.id)
        details = conn.network.get_quota(project, details=True)
        assert details.floating_ips == {"limit": 2, "used": 2, "reserved": 0}
    finally:
        for fip in made:
            conn.network.delete_ip(fip)
        admin_conn.network.delete_quota(project)
    assert conn.network.get_quota(project).floating_ips == 10


def _wait_port(host: str, port: int, timeout: float = 90) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=3) as sock:
                return sock.recv(64)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_server_ports_and_floating_ip_on_a_real_container(
    localcloud: LocalCloud, conn: Connection, engine: docker.DockerClient, net: tuple
) -> None:
    """The compute contract against a node container we start ourselves: bind, FIP, SSH."""
    from cloudhp.images.build import ensure_image
    from cloudhp.images.nodecontainers import NodeSpec, create_node, remove_node
    from cloudhp.progress import RecordingReporter

    n, s = net
    store = localcloud.store()
    server_id = str(uuid.uuid4())
    bindings = prepare_server_ports(store, conn.current_project_id, server_id, [{"uuid": n.id}])
    assert len(bindings) == 1 and bindings[0].docker_network == f"lc-net-{n.id}"
    port = conn.network.get_port(bindings[0].port_id)
    assert (port.device_id, port.device_owner, port.status) == (server_id, "compute:nova", "ACTIVE")
    with pytest.raises(Exception, match="could not be found"):
        prepare_server_ports(store, conn.current_project_id, "x", [{"uuid": "nope"}])

    image = ensure_image(engine, "node", RecordingReporter()).tag
    name = dockerlabels.server_container(server_id)
    create_node(
        engine,
        NodeSpec(
            name=name,
            image=image,
            network=bindings[0].docker_network,
            ip=bindings[0].ip,
            labels=dockerlabels.server_labels(server_id),
        ),
    )
    public, router = _routed(conn, n, s)
    try:
        fip = conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
        container = engine.containers.get(name)
        nets = container.attrs["NetworkSettings"]["Networks"]
        assert nets["lc-public"]["IPAMConfig"]["IPv4Address"] == fip.floating_ip_address
        assert _wait_port(fip.floating_ip_address, 22).startswith(b"SSH-")
        addresses = server_addresses(store, server_id)
        assert [a["OS-EXT-IPS:type"] for a in addresses[n.name]] == ["fixed", "floating"]
        assert addresses[n.name][1]["addr"] == fip.floating_ip_address

        conn.network.update_ip(fip, port_id=None)
        container.reload()
        assert "lc-public" not in container.attrs["NetworkSettings"]["Networks"]
        conn.network.update_ip(fip, port_id=port.id)
        release_server_ports(store, server_id)
        assert conn.network.find_port(port.id) is None
        assert conn.network.get_ip(fip.id).port_id is None
        conn.network.delete_ip(fip)
    finally:
        remove_node(engine, name)
        release_server_ports(store, server_id)
        _drop_router(conn, router, s)


def test_prepare_server_ports_auto_and_existing_port(
    localcloud: LocalCloud, conn: Connection, net: tuple
) -> None:
    n, s = net
    store = localcloud.store()
    existing = conn.network.create_port(network_id=n.id)
    bound = prepare_server_ports(store, conn.current_project_id, "srv-1", [{"port": existing.id}])
    assert bound[0].port_id == existing.id and bound[0].ip == existing.fixed_ips[0]["ip_address"]
    with pytest.raises(Exception, match="still in use"):
        prepare_server_ports(store, conn.current_project_id, "srv-2", [{"port": existing.id}])
    release_server_ports(store, "srv-1")
    assert conn.network.get_port(existing.id).device_id == ""  # kept, unbound
    nets = [
        x
        for x in conn.network.networks(project_id=conn.current_project_id)
        if x.subnet_ids and not x.is_router_external
    ]
    if len(nets) == 1:
        auto = prepare_server_ports(store, conn.current_project_id, "srv-3", "auto")
        assert auto[0].docker_network == f"lc-net-{n.id}"
        release_server_ports(store, "srv-3")
    ip = s.cidr.rsplit(".", 1)[0] + ".77"
    fixed = prepare_server_ports(
        store, conn.current_project_id, "srv-4", [{"uuid": n.id, "fixed_ip": ip}]
    )
    assert fixed[0].ip == ip
    release_server_ports(store, "srv-4")
    conn.network.delete_port(existing)


@pytest.mark.skipif(shutil.which("openstack") is None, reason="no openstack CLI")
def test_openstack_cli(localcloud: LocalCloud, conn: Connection) -> None:
    def osc(*args: str) -> object:
        out = subprocess.run(
            ["openstack", *args, "-f", "json"], env=localcloud.cli_env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    created = osc("network", "create", "cli-net")
    try:
        cidr = _cidr()
        subnet = osc("subnet", "create", "--network", "cli-net", "--subnet-range", cidr, "cli-sub")
        assert subnet["cidr"] == cidr
        fip = osc("floating", "ip", "create", "public")
        assert fip["floating_ip_address"].startswith("172.24.4.")
        listed = osc("floating", "ip", "list")
        assert fip["id"] in {f["ID"] for f in listed}
        subprocess.run(
            ["openstack", "floating", "ip", "delete", fip["id"]],
            env=localcloud.cli_env,
            check=True,
            timeout=120,
        )
    finally:
        _cleanup_network(conn, created["id"])


def test_floating_ips_skip_addresses_another_localcloud_holds_on_the_public_bridge(
    conn: Connection, engine: docker.DockerClient
) -> None:
    """lc-public is shared by every localcloud on the machine: an address that another
    instance attached (here: a bare container standing in for its server) is not
    handed out again, so two localclouds side by side do not collide."""
    public = conn.network.find_network("public")
    probe = conn.network.create_ip(floating_network_id=public.id)
    first_free = probe.floating_ip_address
    conn.network.delete_ip(probe)
    bystander = engine.containers.create(
        engine.images.list(name="cloudhp/sampleapp")[0].id,
        command="sleep 60",
        name=f"lc-test-{uuid.uuid4().hex[:8]}",
    )
    try:
        engine.networks.get("lc-public").connect(bystander, ipv4_address=first_free)
        bystander.start()  # a bridge lists only the endpoints of running containers
        fip = conn.network.create_ip(floating_network_id=public.id)
        try:
            assert fip.floating_ip_address != first_free
        finally:
            conn.network.delete_ip(fip)
    finally:
        bystander.remove(force=True)
