"""Which servers get their security groups re-applied, and from what (no Docker).

network/enforce.py re-applies a server's rules when they can change: a group's rules,
a remote group's members, a server's interfaces. These tests set up servers and ports
in the store and check what each Neutron call marks for the background worker, and
what a server's ports allow on which interfaces.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloudhp_localcloud.network import bridges, enforce
from cloudhp_localcloud.network.firewall import Allow, PortFilter
from cloudhp_localcloud.store import Record, Store

from .conftest import Api

NEUTRON = "/networking/v2.0"


def _group(s: Store, project: str, name: str) -> Record:
    return s.insert("security_group", {"tags": []}, project_id=project, name=name)


def _rule(s: Store, group: Record, **fields: Any) -> Record:
    doc = {"security_group_id": group["id"], "direction": "ingress", "ethertype": "IPv4"}
    return s.insert("security_group_rule", {**doc, **fields}, project_id=group["project_id"])


def _port(s: Store, project: str, ip: str, groups: list[Record], server: str = "") -> Record:
    doc = {
        "network_id": "net",
        "fixed_ips": [{"subnet_id": "sub", "ip_address": ip}],
        "device_id": server,
        "device_owner": "compute:nova" if server else "",
        "security_groups": [g["id"] for g in groups],
        "port_security_enabled": True,
        "allowed_address_pairs": [],
    }
    return s.insert("port", doc, project_id=project)


@pytest.fixture
def cluster(tmp_path: Path) -> tuple[Store, dict[str, Record]]:
    """s1 in swarm+ssh, s2 in swarm, s3 in other (whose rule names ssh as remote);
    an unbound port in swarm too."""
    s = Store(tmp_path / "state.db")
    g = {name: _group(s, "p", name) for name in ("swarm", "ssh", "other")}
    _rule(s, g["swarm"], protocol="tcp", port_range_min=7946, port_range_max=7946,
          remote_group_id=g["swarm"]["id"])  # fmt: skip
    _rule(s, g["ssh"], protocol="tcp", port_range_min=22, port_range_max=22,
          remote_ip_prefix="10.0.0.1/32")  # fmt: skip
    _rule(s, g["other"], remote_group_id=g["ssh"]["id"])
    _port(s, "p", "10.0.0.5", [g["swarm"], g["ssh"]], "s1")
    _port(s, "p", "10.0.0.6", [g["swarm"]], "s2")
    _port(s, "p", "10.0.0.7", [g["other"]], "s3")
    _port(s, "p", "10.0.0.8", [g["swarm"]])
    return s, g


def test_a_groups_rules_reach_the_servers_in_it(cluster: tuple[Store, dict]) -> None:
    s, g = cluster
    assert enforce.affected(s, rules_of=[g["ssh"]["id"]]) == {"s1"}
    assert enforce.affected(s, rules_of=[g["swarm"]["id"]]) == {"s1", "s2"}


def test_a_groups_members_reach_the_servers_whose_rules_name_it(
    cluster: tuple[Store, dict],
) -> None:
    s, g = cluster
    assert enforce.affected(s, members_of=[g["swarm"]["id"]]) == {"s1", "s2"}
    assert enforce.affected(s, members_of=[g["ssh"]["id"]]) == {"s3"}
    assert enforce.affected(s, members_of=[g["other"]["id"]]) == set()


def test_members_are_every_ports_addresses_bound_or_not(cluster: tuple[Store, dict]) -> None:
    s, g = cluster
    members = enforce.group_members(s)
    assert sorted(members[g["swarm"]["id"]]) == ["10.0.0.5", "10.0.0.6", "10.0.0.8"]


def test_a_servers_ports_on_its_interfaces(cluster: tuple[Store, dict]) -> None:
    s, _ = cluster
    port = s.list("port", device_id="s1")[0]
    s.insert("floatingip", {"port_id": port["id"], "floating_ip_address": "172.24.4.9"})
    addresses = {"127.0.0.1": "lo", "10.0.0.5": "eth0", "172.24.4.9": "eth1"}
    [found] = enforce.port_filters(s, "s1", addresses)
    members = [f"{ip}/32" for ip in ("10.0.0.5", "10.0.0.6", "10.0.0.8")]
    assert found == PortFilter(
        port["id"],
        ("eth0", "eth1"),
        (
            *(Allow("ingress", "tcp", 7946, 7946, m) for m in members),
            Allow("ingress", "tcp", 22, 22, "10.0.0.1/32"),
        ),
    )


def test_a_fixed_address_missing_from_the_server_is_an_error(
    cluster: tuple[Store, dict],
) -> None:
    """Rules for a port the server does not show would filter nothing: refuse."""
    s, _ = cluster
    with pytest.raises(enforce.EnforcementError, match=r"10\.0\.0\.6 is on no interface"):
        enforce.port_filters(s, "s2", {"10.0.0.99": "eth0"})


def test_port_security_disabled_is_not_filtered(cluster: tuple[Store, dict]) -> None:
    s, _ = cluster
    port = s.list("port", device_id="s3")[0]
    s.update("port", port["id"], {"port_security_enabled": False})
    [found] = enforce.port_filters(s, "s3", {"10.0.0.7": "eth0"})
    assert not found.enabled


# --- what the Neutron API marks ------------------------------------------------------


@pytest.fixture
def marked(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The server sets each call hands the background worker (nothing is applied)."""
    calls: list[set[str]] = []
    monkeypatch.setattr(enforce._worker, "mark", lambda store, servers: calls.append(set(servers)))
    monkeypatch.setattr(bridges, "docker_client", lambda: None)
    monkeypatch.setattr(bridges, "disconnect_container", lambda *args: None)
    return calls


@dataclass
class Project:
    """Servers v1 (in swarm and ssh) and v2 (in swarm) of the demo project; swarm's
    rule names swarm itself as remote group. Fresh names per test (one API per module)."""

    store: Store
    project_id: str
    groups: dict[str, Record]
    v1: str
    v2: str

    def port_of(self, server: str) -> Record:
        return self.store.list("port", device_id=server)[0]


@pytest.fixture
def project(api: Api) -> Project:
    s, p, tag = api.store(), api.project_id(), uuid.uuid4().hex[:8]
    g = {name: _group(s, p, f"{name}-{tag}") for name in ("swarm", "ssh")}
    _rule(s, g["swarm"], protocol="tcp", port_range_min=2377, port_range_max=2377,
          remote_group_id=g["swarm"]["id"])  # fmt: skip
    servers = []
    for n, groups in enumerate(([g["swarm"], g["ssh"]], [g["swarm"]]), start=1):
        server = s.insert("server", {"status": "ACTIVE"}, project_id=p)["id"]
        _port(s, p, f"10.9.{n}.5", groups, server)
        servers.append(server)
    return Project(s, p, g, *servers)


def test_adding_and_deleting_a_rule_reapplies_the_groups_servers(
    api: Api, project: Project, marked: list[set[str]]
) -> None:
    body = {"security_group_id": project.groups["ssh"]["id"], "direction": "ingress",
            "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}  # fmt: skip
    resp = api.client.post(
        f"{NEUTRON}/security-group-rules", json={"security_group_rule": body}, headers=api.headers()
    )
    assert resp.status_code == 201, resp.get_json()
    rule_id = resp.get_json()["security_group_rule"]["id"]
    resp = api.client.delete(f"{NEUTRON}/security-group-rules/{rule_id}", headers=api.headers())
    assert resp.status_code == 204
    assert marked == [{project.v1}, {project.v1}]


def test_a_ports_new_groups_reapply_it_and_the_old_groups_members(
    api: Api, project: Project, marked: list[set[str]]
) -> None:
    resp = api.client.put(
        f"{NEUTRON}/ports/{project.port_of(project.v2)['id']}",
        json={"port": {"security_groups": [project.groups["ssh"]["id"]]}},
        headers=api.headers(),
    )
    assert resp.status_code == 200, resp.get_json()
    # v2 for its own rules, v1 because its swarm rule's members lost v2's address
    assert marked == [{project.v1, project.v2}]


def test_a_name_change_reapplies_nothing(
    api: Api, project: Project, marked: list[set[str]]
) -> None:
    resp = api.client.put(
        f"{NEUTRON}/ports/{project.port_of(project.v2)['id']}",
        json={"port": {"name": "x"}},
        headers=api.headers(),
    )
    assert resp.status_code == 200
    assert marked == []


def test_deleting_a_port_reapplies_its_server_and_the_members(
    api: Api, project: Project, marked: list[set[str]]
) -> None:
    port = project.port_of(project.v2)
    resp = api.client.delete(f"{NEUTRON}/ports/{port['id']}", headers=api.headers())
    assert resp.status_code == 204
    assert marked == [{project.v1, project.v2}]


def test_deleting_a_group_reapplies_the_servers_whose_rules_named_it(
    api: Api, project: Project, marked: list[set[str]]
) -> None:
    lonely = _group(project.store, project.project_id, f"lonely-{uuid.uuid4().hex[:8]}")
    _rule(project.store, project.groups["ssh"], remote_group_id=lonely["id"])
    resp = api.client.delete(f"{NEUTRON}/security-groups/{lonely['id']}", headers=api.headers())
    assert resp.status_code == 204
    assert marked == [{project.v1}]
