"""Security groups to iptables-restore text: what a port lets through, compared exactly.

The rendering is the pure half of localcloud's enforcement (network/firewall.py); the
integration test tests/integration/localcloud/test_security_groups.py loads it into
real node containers.
"""

from __future__ import annotations

import pytest

from cloudhp_localcloud.network.enforce import parse_addresses
from cloudhp_localcloud.network.firewall import Allow, PortFilter, render, resolve

PORT = "1234567890abcdef-port"
SWARM = "sg-swarm"


def _rule(direction: str = "ingress", **fields: object) -> dict[str, object]:
    return {"direction": direction, "ethertype": "IPv4", **fields}


def _tcp(port: int, **fields: object) -> dict[str, object]:
    return _rule(protocol="tcp", port_range_min=port, port_range_max=port, **fields)


# The rules of a cloudhp node: Neutron's default egress (both ethertypes), the swarm
# group's ports from its members, SSH from the bastion, HTTP from anywhere.
NODE_RULES = [
    _rule("egress"),
    {"direction": "egress", "ethertype": "IPv6"},
    _tcp(2377, remote_group_id=SWARM),
    _rule(protocol="udp", port_range_min=4789, port_range_max=4789, remote_group_id=SWARM),
    _tcp(22, remote_ip_prefix="10.0.0.1/32"),
    _tcp(80, remote_ip_prefix="0.0.0.0/0"),
]
MEMBERS = {SWARM: ["10.0.0.5", "10.0.0.12"]}

IN = "lc-sg-i1234567890"
OUT = "lc-sg-o1234567890"
NODE_TEXT = f"""\
*mangle
:lc-sg-in - [0:0]
:lc-sg-out - [0:0]
:{IN} - [0:0]
:{OUT} - [0:0]
-A lc-sg-in -i eth0 -g {IN}
-A lc-sg-in -i eth1 -g {IN}
-A lc-sg-out -o eth0 -g {OUT}
-A lc-sg-out -o eth1 -g {OUT}
-A lc-sg-in -i eth+ -j DROP
-A lc-sg-out -o eth+ -j DROP
-A {IN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A {IN} -m conntrack --ctstate INVALID -j DROP
-A {IN} -p tcp -m tcp --dport 80 -j RETURN
-A {IN} -s 10.0.0.1/32 -p tcp -m tcp --dport 22 -j RETURN
-A {IN} -s 10.0.0.12/32 -p tcp -m tcp --dport 2377 -j RETURN
-A {IN} -s 10.0.0.12/32 -p udp -m udp --dport 4789 -j RETURN
-A {IN} -s 10.0.0.5/32 -p tcp -m tcp --dport 2377 -j RETURN
-A {IN} -s 10.0.0.5/32 -p udp -m udp --dport 4789 -j RETURN
-A {IN} -j DROP
-A {OUT} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A {OUT} -m conntrack --ctstate INVALID -j DROP
-A {OUT} -j RETURN
-A {OUT} -j DROP
COMMIT
"""


def test_a_cluster_node_with_a_floating_ip() -> None:
    """Both interfaces of the port (fixed, floating) go to one chain; remote groups
    expand to one rule per member; anything else arriving on a port is dropped."""
    port = PortFilter(PORT, ("eth0", "eth1"), resolve(NODE_RULES, MEMBERS))
    assert render([port]) == NODE_TEXT


def test_the_same_rules_in_any_order_render_the_same_text() -> None:
    """enforce.py skips a reload when the text is unchanged: order must not matter."""
    members = {SWARM: list(reversed(MEMBERS[SWARM]))}
    port = PortFilter(PORT, ("eth0", "eth1"), resolve(list(reversed(NODE_RULES)), members))
    assert render([port]) == NODE_TEXT


def test_no_groups_drops_everything_but_replies() -> None:
    """A port with port security and no group: Neutron drops all new traffic both ways."""
    text = render([PortFilter("abcdefghijkl", ("eth0",))])
    chain_lines = [line for line in text.splitlines() if line.startswith("-A lc-sg-iabcdefghij")]
    assert chain_lines == [
        "-A lc-sg-iabcdefghij -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-A lc-sg-iabcdefghij -m conntrack --ctstate INVALID -j DROP",
        "-A lc-sg-iabcdefghij -j DROP",
    ]
    assert "-A lc-sg-oabcdefghij -j DROP" in text.splitlines()


def test_port_security_disabled_passes_its_interfaces_unfiltered() -> None:
    open_port = PortFilter("bbbbbbbbbbbb", ("eth1",), enabled=False)
    text = render([PortFilter("aaaaaaaaaaaa", ("eth0",)), open_port])
    lines = text.splitlines()
    assert "-A lc-sg-in -i eth1 -j RETURN" in lines
    assert "-A lc-sg-out -o eth1 -j RETURN" in lines
    assert lines.index("-A lc-sg-in -i eth1 -j RETURN") < lines.index("-A lc-sg-in -i eth+ -j DROP")
    assert not any("lc-sg-ibbbbbbbbbb" in line for line in lines)


def test_no_ports_still_closes_every_port_interface() -> None:
    assert render([]) == (
        "*mangle\n:lc-sg-in - [0:0]\n:lc-sg-out - [0:0]\n"
        "-A lc-sg-in -i eth+ -j DROP\n-A lc-sg-out -o eth+ -j DROP\nCOMMIT\n"
    )


@pytest.mark.parametrize(
    ("rule", "allow"),
    [
        (_rule(), Allow("ingress")),
        (_rule(protocol="6", port_range_min=1000, port_range_max=2000),
         Allow("ingress", "tcp", 1000, 2000)),
        (_rule(protocol="17"), Allow("ingress", "udp")),
        (_rule(protocol="50", remote_ip_prefix="10.0.0.0/24"),
         Allow("ingress", "50", remote="10.0.0.0/24")),
        (_rule("egress", protocol="icmp", port_range_min=8, port_range_max=0),
         Allow("egress", "icmp", 8, 0)),
    ],
)  # fmt: skip
def test_resolve_normalises_protocols(rule: dict[str, object], allow: Allow) -> None:
    assert resolve([rule], {}) == (allow,)


def test_resolve_leaves_out_what_ipv4_cannot_carry() -> None:
    rules = [
        {"direction": "ingress", "ethertype": "IPv6", "protocol": "tcp"},
        _rule(protocol="icmpv6"),
        _rule(protocol="ipv6-icmp"),
        _tcp(22, remote_group_id="empty"),  # a remote group without members: nobody
        _tcp(7946, remote_group_id=SWARM),
    ]
    members = {"empty": [], SWARM: ["fd00::5", "10.0.0.0/28"]}
    assert resolve(rules, members) == (Allow("ingress", "tcp", 7946, 7946, "10.0.0.0/28"),)


def test_resolve_removes_duplicates() -> None:
    rules = [_tcp(22, remote_ip_prefix="10.0.0.1/32")] * 2 + [_tcp(22, remote_group_id=SWARM)]
    assert resolve(rules, {SWARM: ["10.0.0.1"]}) == (
        Allow("ingress", "tcp", 22, 22, "10.0.0.1/32"),
    )


def test_matches_of_ports_icmp_and_other_protocols() -> None:
    allows = (
        Allow("ingress", "tcp", 1000, 2000),
        Allow("ingress", "udp"),
        Allow("ingress", "icmp", 8),
        Allow("egress", "icmp", 3, 4, remote="192.0.2.0/24"),
        Allow("ingress", "50", remote="10.0.0.7/32"),
    )
    lines = render([PortFilter("cccccccccccc", ("eth0",), allows)]).splitlines()
    rules = [line.split(" ", 2)[2] for line in lines if line.endswith("-j RETURN")]
    assert sorted(rules) == sorted(
        [
            "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
            "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
            "-p tcp -m tcp --dport 1000:2000 -j RETURN",
            "-p udp -j RETURN",
            "-p icmp -m icmp --icmp-type 8 -j RETURN",
            "-d 192.0.2.0/24 -p icmp -m icmp --icmp-type 3/4 -j RETURN",
            "-s 10.0.0.7/32 -p 50 -j RETURN",
        ]
    )


@pytest.mark.parametrize("name", ["eth0 -j ACCEPT", "-j", "eth0\n-A", "x" * 16, ""])
def test_an_interface_name_cannot_carry_rules(name: str) -> None:
    """Interface names are read from the server, whose root may name them at will."""
    with pytest.raises(ValueError, match="not an interface name"):
        render([PortFilter("dddddddddddd", (name,))])


def test_addresses_of_ip_o_addr() -> None:
    output = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
        "2: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\n"
        "193: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\n"
        "201: eth1@if202    inet 172.24.4.9/24 brd 172.24.4.255 scope global eth1\n"
    )
    assert parse_addresses(output) == {
        "127.0.0.1": "lo",
        "172.17.0.1": "docker0",
        "10.0.0.5": "eth0",
        "172.24.4.9": "eth1",
    }
