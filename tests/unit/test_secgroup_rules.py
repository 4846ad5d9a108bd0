"""The security group rules cloudhp wants, and how existing rules are matched."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloudhp.errors import ConflictError
from cloudhp.steps.keypair import keypair_name, same_public_key
from cloudhp.steps.secgroups import (
    Rule,
    group_name,
    missing_rules,
    owned_group,
    rule_body,
    rule_present,
    wanted_rules,
)

IDS = {"swarm": "sg-swarm-id", "ssh": "sg-ssh-id", "ingress": "sg-ingress-id"}
TAG = "cloudhp-cluster=demo"


def test_wanted_rules_exactly() -> None:
    assert wanted_rules("10.0.0.5") == {
        "swarm": [
            Rule("tcp", 2377, remote_group="swarm"),
            Rule("tcp", 7946, remote_group="swarm"),
            Rule("udp", 7946, remote_group="swarm"),
            Rule("udp", 4789, remote_group="swarm"),
            Rule("tcp", 5000, remote_group="swarm"),  # the cluster registry
        ],
        "ssh": [
            Rule("tcp", 22, remote_ip_prefix="10.0.0.5/32"),
            Rule("tcp", 5000, remote_ip_prefix="10.0.0.5/32"),  # registry login, by hand
        ],
        "ingress": [
            Rule("tcp", 80, remote_ip_prefix="0.0.0.0/0"),
            Rule("tcp", 443, remote_ip_prefix="0.0.0.0/0"),
        ],
    }


def test_encrypted_overlay_adds_esp_between_members() -> None:
    swarm = wanted_rules("10.0.0.5", encrypted_overlay=True)["swarm"]
    assert swarm[-1] == Rule("esp", None, remote_group="swarm")
    assert len(swarm) == 6


def test_bastion_must_be_ipv4() -> None:
    with pytest.raises(ValueError):
        wanted_rules("not-an-address")


def test_group_names() -> None:
    assert [group_name("demo", r) for r in ("swarm", "ssh", "ingress")] == [
        "demo-sg-swarm",
        "demo-sg-ssh",
        "demo-sg-ingress",
    ]
    assert keypair_name("demo") == "demo-key"


def test_rule_body_with_remote_group() -> None:
    assert rule_body(Rule("udp", 4789, remote_group="swarm"), "sg-swarm-id", IDS) == {
        "security_group_id": "sg-swarm-id",
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": "udp",
        "port_range_min": 4789,
        "port_range_max": 4789,
        "remote_group_id": "sg-swarm-id",
    }


def test_rule_body_with_prefix_and_without_ports() -> None:
    assert rule_body(Rule("tcp", 22, remote_ip_prefix="10.0.0.5/32"), "sg-ssh-id", IDS) == {
        "security_group_id": "sg-ssh-id",
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": "tcp",
        "port_range_min": 22,
        "port_range_max": 22,
        "remote_ip_prefix": "10.0.0.5/32",
    }
    esp = rule_body(Rule("esp", remote_group="swarm"), "sg-swarm-id", IDS)
    assert "port_range_min" not in esp and esp["protocol"] == "50"


def neutron_rule(**fields: object) -> dict[str, object]:
    """A rule as Neutron returns it: every field present, unset ones null."""
    base: dict[str, object] = {
        "id": "r",
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        "remote_ip_prefix": None,
        "remote_group_id": None,
    }
    return base | fields


def test_rule_present_normalises_protocol_numbers_and_prefixes() -> None:
    ssh = Rule("tcp", 22, remote_ip_prefix="10.0.0.5/32")
    same = neutron_rule(
        protocol="6", port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.5/32"
    )
    assert rule_present(ssh, same, IDS)
    assert not rule_present(ssh, same | {"remote_ip_prefix": "10.0.0.6/32"}, IDS)
    assert not rule_present(ssh, same | {"port_range_max": 23}, IDS)
    assert not rule_present(ssh, same | {"direction": "egress"}, IDS)
    assert not rule_present(ssh, same | {"ethertype": "IPv6"}, IDS)
    assert not rule_present(ssh, same | {"remote_group_id": "sg-swarm-id"}, IDS)


def test_rule_present_compares_the_remote_group_id() -> None:
    gossip = Rule("udp", 7946, remote_group="swarm")
    existing = neutron_rule(
        protocol="udp", port_range_min=7946, port_range_max=7946, remote_group_id="sg-swarm-id"
    )
    assert rule_present(gossip, existing, IDS)
    assert not rule_present(gossip, existing | {"remote_group_id": "other"}, IDS)
    assert not rule_present(gossip, existing | {"remote_ip_prefix": "0.0.0.0/0"}, IDS)


def test_missing_rules_ignores_default_egress_and_keeps_order() -> None:
    wanted = wanted_rules("10.0.0.5")["ingress"]
    existing = [
        neutron_rule(direction="egress"),
        neutron_rule(direction="egress", ethertype="IPv6"),
        neutron_rule(
            protocol="tcp", port_range_min=443, port_range_max=443, remote_ip_prefix="0.0.0.0/0"
        ),
    ]
    assert missing_rules(wanted, existing, IDS) == [Rule("tcp", 80, remote_ip_prefix="0.0.0.0/0")]
    assert missing_rules(wanted, [], IDS) == wanted


def group(id: str, tags: list[str] | None) -> SimpleNamespace:
    return SimpleNamespace(id=id, name="demo-sg-ssh", tags=tags)


def test_owned_group() -> None:
    ours = group("1", [TAG, "other"])
    assert owned_group([ours], "demo-sg-ssh", TAG) is ours
    assert owned_group([], "demo-sg-ssh", TAG) is None


def test_untagged_group_with_our_name_is_a_conflict() -> None:
    with pytest.raises(ConflictError) as err:
        owned_group([group("1", [TAG]), group("2", [])], "demo-sg-ssh", TAG)
    assert "'demo-sg-ssh' exists but does not carry the tag" in err.value.message
    assert "(id 2)" in err.value.message
    assert "never adopts" in (err.value.hint or "")
    with pytest.raises(ConflictError):
        owned_group([group("3", None)], "demo-sg-ssh", TAG)


def test_two_tagged_groups_are_a_conflict() -> None:
    with pytest.raises(ConflictError, match="2 security groups"):
        owned_group([group("1", [TAG]), group("2", [TAG])], "demo-sg-ssh", TAG)


def test_same_public_key_ignores_the_comment() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoo"
    assert same_public_key(key + " cloudhp-demo", key + " someone@laptop")
    assert same_public_key(key, key + " c")
    assert not same_public_key(key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBar c")
