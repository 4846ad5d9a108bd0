"""The cluster's three security groups, and exactly the rules each needs.

- swarm: Swarm's ports (2377/tcp management, 7946/tcp+udp gossip, 4789/udp VXLAN, and
  ESP when an overlay network is encrypted) and the cluster registry's (5000/tcp, the
  nodes pull from it) open only to members of the swarm group itself
  (remote_group_id), so nothing outside the cluster reaches the Docker API.
- ssh: 22/tcp, and the registry's 5000/tcp for `cloudhp registry login` and pushes by
  hand, from the bastion's address only.
- ingress: 80 and 443 from anywhere; only the ingress nodes get this group.

A group is ours when it has our name AND our tag. A group with our name but without
the tag belongs to someone else: it is never adopted or changed, because its rules may
open ports we know nothing of, and teardown would then delete someone else's group.
Existing groups get missing rules added; rules are compared by what they allow, so a
rerun adds nothing. Extra rules in our groups are left alone (someone may have added
them on purpose).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openstack.exceptions as os_exc

from cloudhp.commands.registry import PORT as REGISTRY_PORT
from cloudhp.context import ClusterContext
from cloudhp.errors import ConflictError
from cloudhp.naming import resource_name

ROLES = ("swarm", "ssh", "ingress")
SWARM_PORTS = (("tcp", 2377), ("tcp", 7946), ("udp", 7946), ("udp", 4789))
INGRESS_PORTS = (80, 443)
ANYWHERE = "0.0.0.0/0"
DESCRIPTIONS = {
    "swarm": "cloudhp: Docker Swarm ports, only between members of this group",
    "ssh": "cloudhp: SSH from the bastion only",
    "ingress": "cloudhp: HTTP and HTTPS from anywhere, for the ingress nodes",
}
_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "50": "esp"}
_SENT_AS_NUMBER = {"esp": "50"}
"""Every Neutron knows tcp/udp/icmp by name; other names came later (and not to every
Neutron-compatible API), while numbers were always accepted."""


@dataclass(frozen=True)
class Rule:
    """One ingress rule, with the remote group named by role until its id is known."""

    protocol: str
    port: int | None = None  # None: the protocol has no ports (esp)
    remote_ip_prefix: str | None = None
    remote_group: str | None = None  # a role in ROLES
    direction: str = "ingress"
    ethertype: str = "IPv4"


def group_name(cluster: str, role: str) -> str:
    """`<cluster>-sg-<role>`: the servers module refers to the groups by this name."""
    return resource_name(cluster, f"sg-{role}")


def wanted_rules(bastion_address: str, encrypted_overlay: bool = False) -> dict[str, list[Rule]]:
    """The rules each group must have.

    Args:
        bastion_address: The IPv4 address SSH comes from (preflight's bastion_address).
        encrypted_overlay: Whether an overlay network is encrypted; its IPsec traffic
            is IP protocol 50 (ESP), which has no ports.

    Returns:
        Rules by role, in a stable order.
    """
    bastion = ipaddress.IPv4Address(bastion_address)
    swarm = [Rule(proto, port, remote_group="swarm") for proto, port in SWARM_PORTS]
    swarm.append(Rule("tcp", REGISTRY_PORT, remote_group="swarm"))
    if encrypted_overlay:
        swarm.append(Rule("esp", remote_group="swarm"))
    from_bastion = f"{bastion}/32"
    return {
        "swarm": swarm,
        "ssh": [
            Rule("tcp", 22, remote_ip_prefix=from_bastion),
            Rule("tcp", REGISTRY_PORT, remote_ip_prefix=from_bastion),
        ],
        "ingress": [Rule("tcp", port, remote_ip_prefix=ANYWHERE) for port in INGRESS_PORTS],
    }


def rule_body(rule: Rule, group_id: str, group_ids: Mapping[str, str]) -> dict[str, Any]:
    """The arguments of `create_security_group_rule` for `rule` in group `group_id`."""
    body: dict[str, Any] = {
        "security_group_id": group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": _SENT_AS_NUMBER.get(rule.protocol, rule.protocol),
    }
    if rule.port is not None:
        body["port_range_min"] = rule.port
        body["port_range_max"] = rule.port
    if rule.remote_ip_prefix is not None:
        body["remote_ip_prefix"] = rule.remote_ip_prefix
    if rule.remote_group is not None:
        body["remote_group_id"] = group_ids[rule.remote_group]
    return body


def _protocol(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).lower()
    return _PROTOCOL_NUMBERS.get(text, text)


def _prefix(value: Any) -> str | None:
    if not value:
        return None
    return str(ipaddress.ip_network(str(value), strict=False))


def rule_present(rule: Rule, existing: Mapping[str, Any], group_ids: Mapping[str, str]) -> bool:
    """Whether an existing Neutron rule allows exactly what `rule` asks for."""
    remote_group = group_ids[rule.remote_group] if rule.remote_group else None
    port_min = existing.get("port_range_min")
    port_max = existing.get("port_range_max")
    return (
        existing.get("direction") == rule.direction
        and (existing.get("ethertype") or "IPv4") == rule.ethertype
        and _protocol(existing.get("protocol")) == rule.protocol
        and (port_min, port_max) == (rule.port, rule.port)
        and _prefix(existing.get("remote_ip_prefix")) == _prefix(rule.remote_ip_prefix)
        and (existing.get("remote_group_id") or None) == remote_group
    )


def missing_rules(
    wanted: Sequence[Rule], existing: Iterable[Mapping[str, Any]], group_ids: Mapping[str, str]
) -> list[Rule]:
    """The wanted rules that no existing rule matches, in wanted order."""
    existing = list(existing)
    return [r for r in wanted if not any(rule_present(r, e, group_ids) for e in existing)]


def owned_group(found: Sequence[Any], name: str, tag: str) -> Any | None:
    """Our group among those named `name`, or None if there is none yet.

    Raises:
        ConflictError: If a group of that name lacks our tag (someone else's, which we
            must neither adopt nor change), or several carry it.
    """
    foreign = [g for g in found if tag not in (g.tags or [])]
    if foreign:
        ids = ", ".join(sorted(g.id for g in foreign))
        raise ConflictError(
            f"security group {name!r} exists but does not carry the tag {tag!r} "
            f"(id {ids}), so it is not cloudhp's",
            hint="cloudhp never adopts or changes a group it did not create: rename or "
            "delete that group, or use another cluster name",
        )
    if len(found) > 1:
        ids = ", ".join(sorted(g.id for g in found))
        raise ConflictError(
            f"{len(found)} security groups are named {name!r} and tagged {tag!r}: {ids}",
            hint="delete all but one of them, or run `cloudhp teardown` and init again",
        )
    return found[0] if found else None


def ensure_security_groups(ctx: ClusterContext) -> tuple[dict[str, str], bool]:
    """Makes the three groups and their rules exist; a rerun changes nothing.

    Every group is looked up (and checked for conflicts) before the first one is
    created, so a conflict on the third group does not leave the first two behind.

    Returns:
        ({role: group id}, whether anything was created).

    Raises:
        ConflictError: A group with one of our names exists without our tag.
    """
    conn, tag, step = ctx.conn, ctx.tag, ctx.reporter.step
    resolved = ctx.need_resolved()
    project_id = conn.current_project_id
    encrypted = any(o.encrypted for o in ctx.spec.overlay_networks)
    wanted = wanted_rules(resolved.bastion_address, encrypted)

    groups: dict[str, Any] = {}
    for role in ROLES:
        name = group_name(ctx.spec.name, role)
        found = list(conn.network.security_groups(name=name, project_id=project_id))
        groups[role] = owned_group([g for g in found if g.name == name], name, tag)

    changed = False
    for role in ROLES:
        if groups[role] is None:
            groups[role] = _create_group(conn, group_name(ctx.spec.name, role), role, ctx.tags)
            step(f"created security group {groups[role].name}")
            changed = True
    ids = {role: str(sg.id) for role, sg in groups.items()}

    for role in ROLES:
        sg = groups[role]
        for rule in missing_rules(wanted[role], sg.security_group_rules or [], ids):
            try:
                conn.network.create_security_group_rule(**rule_body(rule, sg.id, ids))
            except os_exc.ConflictException:
                continue  # created meanwhile by a concurrent run: what we wanted
            port = f" {rule.port}" if rule.port is not None else ""
            step(f"{sg.name}: allowed {rule.protocol}{port}")
            changed = True
    return ids, changed


def _create_group(conn: Any, name: str, role: str, tags: list[str]) -> Any:
    """Creates a group with its tag in the same request (Neutron's tag-creation).

    A group created untagged and killed before tagging would be refused by the next run
    as someone else's, so the tag goes in the POST; clouds that ignore tags there get
    them set at once afterwards, and a group that cannot be tagged is deleted again.
    """
    sg = conn.network.create_security_group(name=name, description=DESCRIPTIONS[role], tags=tags)
    try:
        if not set(tags) <= set(sg.tags or []):
            conn.network.set_tags(sg, tags)
    except BaseException:
        conn.network.delete_security_group(sg, ignore_missing=True)
        raise
    sg.tags = list(tags)
    return sg
