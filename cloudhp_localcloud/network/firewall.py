"""Security groups as iptables rules: the pure half of enforcement (enforce.py applies it).

Neutron's iptables firewall driver gives every port an ingress and an egress chain:
RELATED,ESTABLISHED accepted, INVALID dropped, one accept per rule (a remote group
expands to its members' addresses), everything else dropped. localcloud renders the
same chains, as an `iptables-restore --noflush` text for the server's own network
namespace (the node container's), with these choices:

- The mangle table, not filter. The nested dockerd owns filter's FORWARD and the nat
  table; a port published by a Swarm task (host mode) is DNAT'ed in nat PREROUTING and
  forwarded, never reaching INPUT. mangle PREROUTING sees every packet that arrives on
  the port before DNAT and routing, as Neutron's filter sees it before the VM does,
  and mangle POSTROUTING every packet that leaves. dockerd's rules are in filter and
  nat, but for the overlay driver's marks on encrypted networks (mangle OUTPUT).
- Only the port's own interfaces are matched (its fixed address's and its floating IP's
  on lc-public): lo, docker0 and the nested containers' veths are the VM's inside,
  which Neutron never sees either.
- An allowed packet RETURNs rather than ACCEPTs, so rules that others add to the
  mangle chains (those marks) still run. The entry chains go to (`-g`) a port's chain,
  so its RETURN leaves the entry chain too.
- Two entry chains (`lc-sg-in`, `lc-sg-out`) are rewritten whole on every apply, so a
  port that goes away (a floating IP disassociated) stops being dispatched to. They
  end by dropping what comes through any other `eth*` interface: Docker names a
  container's network interfaces so and the nested engine never does, so an interface
  plugged in since the last apply (a floating IP being associated) is closed, not
  open, until its port's rules are loaded.
- IPv4 only: IPv6 rules are stored but localcloud networks carry no IPv6.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CHAIN_IN = "lc-sg-in"
CHAIN_OUT = "lc-sg-out"
HOOKS = (("PREROUTING", CHAIN_IN), ("POSTROUTING", CHAIN_OUT))
"""Where the entry chains are jumped to from (mangle), by enforce.py's apply script."""

PORT_INTERFACES = "eth+"  # how Docker names a container's interfaces (iptables wildcard)
ANYWHERE = "0.0.0.0/0"
_NAMED = {"6": "tcp", "17": "udp", "1": "icmp", "132": "sctp"}
_WITH_PORTS = {"tcp", "udp", "sctp"}
_IPV6_ONLY = {"icmpv6", "ipv6-icmp", "58"}
_INTERFACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")
_STATE_RULES = (
    "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
    "-m conntrack --ctstate INVALID -j DROP",
)


@dataclass(frozen=True)
class Allow:
    """One thing a port lets through: a Neutron rule with its remote resolved.

    `remote` is a CIDR (the source for ingress, the destination for egress), or None
    for anywhere. `port_min`/`port_max` are ports for tcp/udp/sctp, ICMP type/code for
    icmp, as Neutron stores them.
    """

    direction: str
    protocol: str | None = None
    port_min: int | None = None
    port_max: int | None = None
    remote: str | None = None


@dataclass(frozen=True)
class PortFilter:
    """A port of the server: its interfaces in the namespace and what its groups allow.

    `enabled` is Neutron's port_security_enabled: a port without port security is not
    filtered at all.
    """

    port_id: str
    interfaces: tuple[str, ...]
    allows: tuple[Allow, ...] = ()
    enabled: bool = True


def _protocol(value: Any) -> str | None:
    """iptables' spelling of a stored protocol; "" for one that IPv4 cannot carry."""
    if value is None:
        return None
    text = str(value).lower()
    if text in _IPV6_ONLY:
        return ""
    return _NAMED.get(text, text)


def _cidr(value: str) -> str | None:
    """A member address or prefix as an IPv4 CIDR; None for IPv6 ones."""
    net = ipaddress.ip_network(value, strict=False)
    return str(net) if net.version == 4 else None


def resolve(
    rules: Iterable[Mapping[str, Any]], members: Mapping[str, Iterable[str]]
) -> tuple[Allow, ...]:
    """The Allows of a port's rules (those of all its groups).

    Args:
        rules: Neutron rule records (direction, ethertype, protocol, port_range_min/max,
            remote_ip_prefix, remote_group_id).
        members: For each remote group, the addresses of its members' ports (fixed IPs
            and allowed address pairs; floating IPs are not members, as in Neutron,
            where traffic through a floating IP is NATed and comes from elsewhere).

    Returns:
        IPv4 Allows, duplicates removed, in a stable order; a remote group with no
        members allows nothing.
    """
    out: dict[Allow, None] = {}
    for rule in rules:
        if (rule.get("ethertype") or "IPv4") != "IPv4":
            continue
        protocol = _protocol(rule.get("protocol"))
        if protocol == "":
            continue
        remote_group = rule.get("remote_group_id")
        remotes: list[str | None]
        if remote_group:
            found = {c for a in members.get(str(remote_group), ()) if (c := _cidr(a))}
            remotes = [*sorted(found)]
        else:
            prefix = rule.get("remote_ip_prefix")
            remotes = [None if not prefix or prefix == ANYWHERE else str(prefix)]
        pmin, pmax = rule.get("port_range_min"), rule.get("port_range_max")
        for remote in remotes:
            allow = Allow(
                direction=str(rule["direction"]),
                protocol=protocol,
                port_min=int(pmin) if pmin is not None else None,
                port_max=int(pmax) if pmax is not None else None,
                remote=remote,
            )
            out[allow] = None
    return tuple(out)


def _match(allow: Allow) -> str:
    """The iptables match of one Allow (without the remote)."""
    if allow.protocol is None:
        return ""
    parts = [f"-p {allow.protocol}"]
    if allow.protocol in _WITH_PORTS and allow.port_min is not None:
        ports = str(allow.port_min)
        if allow.port_max is not None and allow.port_max != allow.port_min:
            ports += f":{allow.port_max}"
        parts.append(f"-m {allow.protocol} --dport {ports}")
    elif allow.protocol == "icmp" and allow.port_min is not None:
        icmp = str(allow.port_min)
        if allow.port_max is not None:
            icmp += f"/{allow.port_max}"
        parts.append(f"-m icmp --icmp-type {icmp}")
    return " ".join(parts)


def _allow_line(chain: str, allow: Allow) -> str:
    flag = "-s" if allow.direction == "ingress" else "-d"
    words = [f"-A {chain}"]
    if allow.remote is not None:
        words.append(f"{flag} {allow.remote}")
    match = _match(allow)
    if match:
        words.append(match)
    words.append("-j RETURN")
    return " ".join(words)


def port_chains(port_id: str) -> tuple[str, str]:
    """The port's ingress and egress chains, named as Neutron names them (id[:10])."""
    return f"lc-sg-i{port_id[:10]}", f"lc-sg-o{port_id[:10]}"


def render(ports: Sequence[PortFilter]) -> str:
    """The iptables-restore text (mangle table) that enforces these ports' groups.

    Raises:
        ValueError: An interface name that is not one (it is read from the server,
            which must not be able to inject rules through it).
    """
    declared = [f":{CHAIN_IN} - [0:0]", f":{CHAIN_OUT} - [0:0]"]
    dispatch_in: list[str] = []
    dispatch_out: list[str] = []
    chains: list[str] = []
    for port in sorted(ports, key=lambda p: p.port_id):
        bad = [i for i in port.interfaces if not _INTERFACE.match(i)]
        if bad:
            raise ValueError(f"not an interface name: {bad[0]!r}")
        if not port.enabled:
            dispatch_in += [f"-A {CHAIN_IN} -i {iface} -j RETURN" for iface in port.interfaces]
            dispatch_out += [f"-A {CHAIN_OUT} -o {iface} -j RETURN" for iface in port.interfaces]
            continue
        chain_in, chain_out = port_chains(port.port_id)
        declared += [f":{chain_in} - [0:0]", f":{chain_out} - [0:0]"]
        for iface in port.interfaces:
            dispatch_in.append(f"-A {CHAIN_IN} -i {iface} -g {chain_in}")
            dispatch_out.append(f"-A {CHAIN_OUT} -o {iface} -g {chain_out}")
        for chain, direction in ((chain_in, "ingress"), (chain_out, "egress")):
            chains += [f"-A {chain} {state}" for state in _STATE_RULES]
            allowed = {_allow_line(chain, a) for a in port.allows if a.direction == direction}
            chains += sorted(allowed)
            chains.append(f"-A {chain} -j DROP")
    closed = [
        f"-A {CHAIN_IN} -i {PORT_INTERFACES} -j DROP",
        f"-A {CHAIN_OUT} -o {PORT_INTERFACES} -j DROP",
    ]
    lines = ["*mangle", *declared, *dispatch_in, *dispatch_out, *closed, *chains, "COMMIT", ""]
    return "\n".join(lines)
