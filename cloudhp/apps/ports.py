"""`expose` and `ports`, translated into the one port the ingress routes to and host ports.

This cluster has no IPVS, so Swarm's routing mesh (ingress-mode ports) is not there:
HTTP reaches services through HAProxy, and any other port a file publishes is
published in host mode on the node running the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudhp.apps.model import PublishedPort
from cloudhp.apps.source import At, check_keys, describe, integer, mapping, sequence

INGRESS_PORTS = frozenset({80})
"""Host ports the ingress binds on its nodes; a service publishing them would collide."""

NOT_HTTP = frozenset(
    {21, 22, 25, 53, 110, 143, 389, 445, 1433, 1521, 1883, 2181, 3306, 4222, 5432, 5671,
     5672, 6379, 9042, 9092, 11211, 27017}
)  # fmt: skip
"""Well-known ports of databases, brokers and mail, never guessed to be the HTTP port."""

PROTOCOLS = frozenset({"tcp", "udp", "sctp"})
_LONG_KEYS = ("target", "published", "protocol", "mode", "host_ip", "name", "app_protocol")
_ROUTE_HINT = "name the HTTP port with x-cloudhp: {port: N}"


@dataclass(frozen=True)
class PortEntry:
    target: int
    published: int | None
    protocol: str
    at: At


def _number(at: At, text: str) -> int:
    if not text.isdigit():
        raise at.error(f"{text!r} is not a port number")
    return integer(at, int(text), 1, 65535)


def _span(at: At, text: str) -> list[int]:
    low, dash, high = text.partition("-")
    if not dash:
        return [_number(at, text)]
    first, last = _number(at, low), _number(at, high)
    if last < first:
        raise at.error(f"port range {text!r} runs backwards")
    return list(range(first, last + 1))


def _protocol(at: At, value: Any) -> str:
    if value not in PROTOCOLS:
        raise at.error(f"protocol {value!r} is not one of {', '.join(sorted(PROTOCOLS))}")
    return str(value)


def _no_address(at: At, address: str) -> None:
    raise at.error(
        f"Swarm cannot publish a port on one address ({address}): it publishes on every "
        "address of the node",
        hint="drop the address, or drop the entry: the project's services reach this one "
        "by name on any port without publishing it",
    )


def _short(at: At, spec: Any) -> list[PortEntry]:
    if isinstance(spec, int) and not isinstance(spec, bool):
        return [PortEntry(integer(at, spec, 1, 65535), None, "tcp", at)]
    if not isinstance(spec, str):
        raise at.error(f'must be a port such as "8080:80", not {describe(spec)}')
    body, slash, proto = spec.partition("/")
    protocol = _protocol(at, proto) if slash else "tcp"
    parts = body.rsplit(":", 2)
    if len(parts) == 3:
        if parts[0]:
            _no_address(at, parts[0])
        parts = parts[1:]
    targets = _span(at, parts[-1])
    if len(parts) == 1:
        return [PortEntry(t, None, protocol, at) for t in targets]
    published = _span(at, parts[0])
    if len(published) != len(targets):
        raise at.error(f"{spec!r} maps {len(published)} host ports onto {len(targets)} ports")
    return [PortEntry(t, p, protocol, at) for p, t in zip(published, targets, strict=True)]


def _long(at: At, spec: Any) -> list[PortEntry]:
    spec = mapping(at, spec)
    check_keys(at, spec, _LONG_KEYS)
    if "target" not in spec:
        raise at.error("a port needs its target (the container's port)")
    if spec.get("host_ip"):
        _no_address(at.child(spec, "host_ip"), str(spec["host_ip"]))
    target = integer(at.child(spec, "target"), spec["target"], 1, 65535)
    protocol = _protocol(at.child(spec, "protocol"), spec.get("protocol", "tcp"))
    published = spec.get("published")
    if published is None:
        return [PortEntry(target, None, protocol, at)]
    if isinstance(published, str):
        hosts = _span(at.child(spec, "published"), published)
        if len(hosts) != 1:
            raise at.child(spec, "published").error("a long-syntax port publishes one host port")
        return [PortEntry(target, hosts[0], protocol, at)]
    return [
        PortEntry(target, integer(at.child(spec, "published"), published, 1, 65535), protocol, at)
    ]


def parse_ports(at: At, value: Any) -> list[PortEntry]:
    items = sequence(at, value)
    entries: list[PortEntry] = []
    for index, spec in enumerate(items):
        where = at.item(items, index)
        entries += _long(where, spec) if isinstance(spec, dict) else _short(where, spec)
    return entries


def parse_expose(at: At, value: Any) -> list[PortEntry]:
    items = sequence(at, value)
    entries: list[PortEntry] = []
    for index, spec in enumerate(items):
        where = at.item(items, index)
        if isinstance(spec, str) and ":" in spec:
            raise where.error(f"{spec!r}: expose takes container ports only, not host:container")
        entries += _short(where, spec)
    return entries


def _http_candidates(entries: list[PortEntry]) -> list[int]:
    found: list[int] = []
    for entry in entries:
        if entry.protocol == "tcp" and entry.target not in NOT_HTTP and entry.target not in found:
            found.append(entry.target)
    return found


def choose_route(
    at: At, expose: list[PortEntry], ports: list[PortEntry], wanted: int | bool | None
) -> tuple[int | None, tuple[PublishedPort, ...], str | None]:
    """Picks the routed port and the host-mode ports; returns an advice when unsure.

    x-cloudhp.port wins (`false` keeps the service off the ingress); else the one
    exposed HTTP port (a `ports` entry without a host port counts as exposed); else,
    with nothing exposed, the target of a single `ports` entry. A `ports` entry that
    targets the routed port is served by the ingress and not also published.
    """
    published = [e for e in ports if e.published is not None]
    exposed = expose + [e for e in ports if e.published is None]
    advice = None
    port: int | None
    if wanted is False:
        port = None
    elif isinstance(wanted, int) and not isinstance(wanted, bool):
        port = wanted
    else:
        candidates = _http_candidates(exposed)
        if len(candidates) > 1:
            shown = ", ".join(str(c) for c in candidates)
            raise at.error(f"exposes several HTTP ports ({shown}) and the ingress routes to one",
                           hint=_ROUTE_HINT)  # fmt: skip
        port = candidates[0] if candidates else None
        if port is None and not exposed and len(published) == 1:
            port = next(iter(_http_candidates(published)), None)
        elif port is None and not exposed and len(_http_candidates(published)) > 1:
            advice = f"{at.where()}: publishes several ports and none is routed; {_ROUTE_HINT}"
    result: list[PublishedPort] = []
    for entry in published:
        if entry.published is None or (entry.target == port and entry.protocol == "tcp"):
            continue
        if entry.published in INGRESS_PORTS:
            raise entry.at.error(
                f"host port {entry.published} belongs to the ingress",
                hint="HTTP reaches services through the ingress under /<project>-<service>; "
                "publish another host port or drop the entry",
            )
        port_value = PublishedPort(entry.published, entry.target, entry.protocol)
        if port_value not in result:
            result.append(port_value)
    return port, tuple(result), advice
