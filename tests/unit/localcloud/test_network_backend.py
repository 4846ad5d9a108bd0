"""Neutron's address bookkeeping and rule validation, without HTTP or Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudhp_localcloud import faults
from cloudhp_localcloud.network import addresses as nb
from cloudhp_localcloud.network.security import validate_rule
from cloudhp_localcloud.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.db")


def _subnet(store: Store, cidr: str = "10.0.0.0/29", gateway: str = "10.0.0.1") -> dict:
    doc = nb.subnet_doc("net-1", cidr, gateway, nb.default_pool(cidr, gateway))
    return store.insert("subnet", doc, project_id="p")


def test_default_pool_skips_network_gateway_and_broadcast() -> None:
    assert nb.default_pool("10.0.0.0/24", "10.0.0.1") == [
        {"start": "10.0.0.2", "end": "10.0.0.254"}
    ]
    assert nb.default_pool("10.0.0.0/24", "10.0.0.254") == [
        {"start": "10.0.0.1", "end": "10.0.0.253"}
    ]
    assert nb.default_pool("10.0.0.0/24", None) == [{"start": "10.0.0.1", "end": "10.0.0.254"}]


def test_allocation_is_sequential_and_exhausts_with_neutrons_409(store: Store) -> None:
    subnet = _subnet(store)  # /29: .2-.6 allocatable
    net = store.insert("network", nb.network_doc(), project_id="p", id="net-1")
    got = [nb.new_port(store, net, "p")["fixed_ips"][0]["ip_address"] for _ in range(5)]
    assert got == [f"10.0.0.{i}" for i in range(2, 7)]
    with pytest.raises(faults.Conflict) as exc:
        nb.allocate_ip(store, subnet)
    assert exc.value.kind == "IpAddressGenerationFailure"


def test_requested_address_checks(store: Store) -> None:
    subnet = _subnet(store)
    assert nb.allocate_ip(store, subnet, "10.0.0.5") == "10.0.0.5"
    for bad, kind in (("10.0.1.5", "InvalidIpForSubnet"), ("10.0.0.1", "InvalidIpForSubnet"),
                      ("nonsense", "HTTPBadRequest")):  # fmt: skip
        with pytest.raises(faults.BadRequest) as exc:
            nb.allocate_ip(store, subnet, bad)
        assert exc.value.kind == kind


def test_random_mac_uses_openstack_prefix() -> None:
    mac = nb.random_mac()
    assert mac.startswith("fa:16:3e:") and len(mac) == 17


def test_server_container_naming_contract() -> None:
    from cloudhp_localcloud import dockerlabels

    assert dockerlabels.server_container("abc") == "lc-server-abc"
    labels = dockerlabels.server_labels("abc")
    assert labels["cloudhp.localcloud"] == "server"
    assert labels["cloudhp.localcloud.server"] == "abc"


def test_docker_objects_carry_their_instance(tmp_path) -> None:
    from cloudhp_localcloud import dockerlabels

    dockerlabels.bind(tmp_path / "a")
    mine = dockerlabels.labels("server", server="x")
    assert dockerlabels.instance_filter(tmp_path / "a") == (
        f"cloudhp.localcloud.instance={mine['cloudhp.localcloud.instance']}"
    )
    assert dockerlabels.instance_filter(tmp_path / "b") != dockerlabels.instance_filter(
        tmp_path / "a"
    )


def test_rule_validation_normalises_like_neutron() -> None:
    rule = validate_rule({"direction": "ingress", "protocol": "TCP", "port_range_min": 22,
                          "remote_ip_prefix": "10.1.2.3/24"})  # fmt: skip
    assert (rule["protocol"], rule["port_range_min"], rule["port_range_max"]) == ("tcp", 22, 22)
    assert rule["remote_ip_prefix"] == "10.1.2.0/24" and rule["ethertype"] == "IPv4"
    assert validate_rule({"direction": "egress", "protocol": "any"})["protocol"] is None


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"direction": "sideways"}, "HTTPBadRequest"),
        ({"direction": "ingress", "port_range_min": 80}, "SecurityGroupProtocolRequiredWithPorts"),
        (
            {"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
            "SecurityGroupInvalidPortRange",
        ),
        ({"direction": "ingress", "protocol": "gre2"}, "SecurityGroupRuleInvalidProtocol"),
        ({"direction": "ingress", "remote_ip_prefix": "::/0"}, "SecurityGroupConflictingEthertype"),
        (
            {"direction": "ingress", "remote_ip_prefix": "1.0.0.0/8", "remote_group_id": "x"},
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        ),
    ],
)
def test_rule_validation_errors(body: dict, kind: str) -> None:
    with pytest.raises(faults.BadRequest) as exc:
        validate_rule(body)
    assert exc.value.kind == kind
