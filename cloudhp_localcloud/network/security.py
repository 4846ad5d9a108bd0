"""Neutron security groups and rules: stored, validated and listed as Neutron does.

Enforced on Nova servers' ports (enforce.py, firewall.py): every change here that can
change what a port lets through (a rule added or deleted, a group deleted with the
rules that named it as remote group) re-applies the rules of the servers it reaches.
Each project gets Neutron's "default" group (egress anywhere, ingress from members of
the group) on first use.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Response

from cloudhp_localcloud import faults
from cloudhp_localcloud.network import enforce
from cloudhp_localcloud.network.common import (
    body_of,
    bp,
    bump,
    caller_project,
    empty,
    get_visible,
    given,
    is_admin,
    list_response,
    member_response,
    not_found,
    owned,
    project_records,
    standard_doc,
    standard_view,
    store,
    target_project,
)
from cloudhp_localcloud.network.quotas import check_quota
from cloudhp_localcloud.store import Record, Store, utcnow

SG = "security_group"
RULE = "security_group_rule"
_PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132, "ipv6-icmp": 58}
_RULE_KEYS = (
    "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
    "remote_ip_prefix", "remote_group_id", "remote_address_group_id",
)  # fmt: skip


def _insert_group(
    s: Store, project_id: str, name: str, description: str, tags: list[str] | None = None
) -> Record:
    fields = {"description": description, "tags": tags or []}
    doc = {**standard_doc(fields), "stateful": True, "shared": False}
    group = s.insert(SG, doc, project_id=project_id, name=name)
    for ethertype in ("IPv4", "IPv6"):
        _insert_rule(s, group, {"direction": "egress", "ethertype": ethertype})
    return group


def ensure_default_group(s: Store, project_id: str) -> Record:
    """The project's "default" group with Neutron's four rules (created once)."""
    with s.transaction():
        found = s.list(SG, project_id=project_id, name="default")
        if found:
            return found[0]
        group = _insert_group(s, project_id, "default", "Default security group")
        for ethertype in ("IPv4", "IPv6"):
            _insert_rule(
                s,
                group,
                {"direction": "ingress", "ethertype": ethertype, "remote_group_id": group["id"]},
            )
        return group


def _insert_rule(s: Store, group: Record, rule: dict[str, Any]) -> Record:
    doc = {k: rule.get(k) for k in _RULE_KEYS}
    doc.update(
        security_group_id=group["id"],
        description=rule.get("description", "") or "",
        updated_at=utcnow(),
        revision_number=0,
    )
    return s.insert(RULE, doc, project_id=group["project_id"])


def rule_view(record: Record) -> dict[str, Any]:
    view = {"id": record["id"], "security_group_id": record["security_group_id"]}
    view.update({k: record.get(k) for k in _RULE_KEYS})
    prefix = record.get("remote_ip_prefix")
    view.update(
        {
            "normalized_cidr": prefix,
            "description": record.get("description", ""),
            "project_id": record["project_id"],
            "tenant_id": record["project_id"],
            "created_at": record["created_at"],
            "updated_at": record.get("updated_at", record["created_at"]),
            "revision_number": record.get("revision_number", 0),
            "tags": [],
        }
    )
    return view


def group_view(record: Record) -> dict[str, Any]:
    rules = store().list(RULE, security_group_id=record["id"])
    return standard_view(
        record,
        {
            "security_group_rules": [rule_view(r) for r in rules],
            "stateful": record.get("stateful", True),
            "shared": record.get("shared", False),
        },
    )


def _visible_group(rid: str) -> Record:
    return get_visible(store(), SG, rid, "SecurityGroupNotFound")


@bp.get("/v2.0/security-groups")
def list_groups() -> Response:
    ensure_default_group(store(), caller_project())
    return list_response("security_groups", [group_view(r) for r in project_records(SG)])


@bp.post("/v2.0/security-groups")
def create_group() -> Response:
    body = body_of("security_group")
    project = target_project(body)
    name = body.get("name", "")
    if name == "default":
        raise faults.Conflict(
            "Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists"
        )
    s = store()
    with s.transaction():
        ensure_default_group(s, project)
        check_quota(s, project, "security_group", len(s.list(SG, project_id=project)))
        group = _insert_group(s, project, name, body.get("description", "") or "", body.get("tags"))
    return member_response("security_group", group_view(group), 201)


@bp.get("/v2.0/security-groups/<rid>")
def show_group(rid: str) -> Response:
    return member_response("security_group", group_view(_visible_group(rid)))


@bp.put("/v2.0/security-groups/<rid>")
def update_group(rid: str) -> Response:
    record = owned(_visible_group(rid), SG, "SecurityGroupNotFound")
    body = body_of("security_group")
    if record["name"] == "default" and body.get("name", "default") != "default":
        raise faults.Conflict(
            "Updating default security group not allowed.", kind="SecurityGroupCannotUpdateDefault"
        )
    changes = given(body, ("name", "description", "stateful"))
    record = store().update(SG, rid, bump(changes, record))
    return member_response("security_group", group_view(record))


@bp.delete("/v2.0/security-groups/<rid>")
def delete_group(rid: str) -> Response:
    record = owned(_visible_group(rid), SG, "SecurityGroupNotFound")
    s = store()
    with s.transaction():
        if record["name"] == "default" and not is_admin():
            raise faults.Conflict(
                "Insufficient rights for removing default security group.",
                kind="SecurityGroupCannotRemoveDefault",
            )
        if any(rid in p.get("security_groups", []) for p in s.list("port")):
            raise faults.Conflict(f"Security Group {rid} in use.", kind="SecurityGroupInUse")
        naming = s.list(RULE, remote_group_id=rid)
        for rule in s.list(RULE, security_group_id=rid) + naming:
            s.delete(RULE, rule["id"])
        s.delete(SG, rid)
    enforce.changed(s, rules_of={r["security_group_id"] for r in naming})
    return empty()


# --- rules ---------------------------------------------------------------------------


def _bad(message: str, kind: str = "InvalidInput") -> faults.BadRequest:
    return faults.BadRequest(message, kind=kind)


def validate_rule(body: dict[str, Any]) -> dict[str, Any]:
    """Neutron's checks on a new rule; returns the normalised rule fields.

    Raises:
        faults.BadRequest: with the message Neutron gives for the same mistake.
    """
    direction = body.get("direction")
    if direction not in ("ingress", "egress"):
        raise _bad(
            f"Invalid input for direction. Reason: {direction} is not in valid_values.",
            "HTTPBadRequest",
        )
    ethertype = body.get("ethertype") or "IPv4"
    if ethertype not in ("IPv4", "IPv6"):
        raise _bad(
            f"Invalid input for ethertype. Reason: {ethertype} is not in valid_values.",
            "HTTPBadRequest",
        )
    protocol = body.get("protocol")
    if isinstance(protocol, str) and protocol.lower() == "any":
        protocol = None
    if protocol is not None:
        protocol = str(protocol).lower()
        if protocol not in _PROTOCOLS and not (protocol.isdigit() and int(protocol) <= 255):
            raise _bad(
                f"Security group rule protocol {protocol} not supported.",
                "SecurityGroupRuleInvalidProtocol",
            )
    pmin, pmax = body.get("port_range_min"), body.get("port_range_max")
    if (pmin is not None or pmax is not None) and protocol is None:
        raise _bad(
            "Must also specify protocol if port range is given.",
            "SecurityGroupProtocolRequiredWithPorts",
        )
    if protocol in ("tcp", "udp", "sctp", "6", "17", "132"):
        if pmin is None and pmax is not None:
            pmin = pmax
        if pmin is not None and pmax is None:
            pmax = pmin
        for value in (pmin, pmax):
            if value is not None and not 0 < int(value) <= 65535:
                raise _bad(f"Invalid value for port {value}.", "SecurityGroupInvalidPortValue")
        if pmin is not None and pmax is not None and int(pmin) > int(pmax):
            raise _bad(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                "SecurityGroupInvalidPortRange",
            )
    elif protocol is not None and protocol.startswith("icmp"):
        for value, what in ((pmin, "type"), (pmax, "code")):
            if value is not None and not 0 <= int(value) <= 255:
                raise _bad(
                    f"Invalid value for ICMP {what} (port-range-min): {value}. "
                    "It must be 0 to 255.",
                    "SecurityGroupInvalidIcmpValue",
                )
    prefix = body.get("remote_ip_prefix")
    if prefix and body.get("remote_group_id"):
        raise _bad(
            "Only remote_ip_prefix or remote_group_id may be provided.",
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        )
    if prefix:
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise _bad(
                f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a valid IP subnet.",
                "HTTPBadRequest",
            ) from None
        if f"IPv{net.version}" != ethertype:
            raise _bad(
                f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                "SecurityGroupConflictingEthertype",
            )
        prefix = str(net)
    return {
        "direction": direction,
        "ethertype": ethertype,
        "protocol": protocol,
        "port_range_min": int(pmin) if pmin is not None else None,
        "port_range_max": int(pmax) if pmax is not None else None,
        "remote_ip_prefix": prefix,
        "remote_group_id": body.get("remote_group_id"),
        "remote_address_group_id": None,
        "description": body.get("description", "") or "",
    }


@bp.get("/v2.0/security-group-rules")
def list_rules() -> Response:
    return list_response("security_group_rules", [rule_view(r) for r in project_records(RULE)])


@bp.post("/v2.0/security-group-rules")
def create_rule() -> Response:
    body = body_of("security_group_rule")
    group = owned(
        _visible_group(str(body.get("security_group_id", ""))), SG, "SecurityGroupNotFound"
    )
    fields = validate_rule(body)
    s = store()
    with s.transaction():
        if fields["remote_group_id"] and s.get(SG, fields["remote_group_id"]) is None:
            raise not_found(SG, fields["remote_group_id"], "SecurityGroupNotFound")
        for other in s.list(RULE, security_group_id=group["id"]):
            if all(other.get(k) == fields[k] for k in _RULE_KEYS):
                raise faults.Conflict(
                    f"Security group rule already exists. Rule id is {other['id']}.",
                    kind="SecurityGroupRuleExists",
                )
        project = group["project_id"]
        check_quota(s, project, "security_group_rule", len(s.list(RULE, project_id=project)))
        rule = _insert_rule(s, group, fields)
        s.update(SG, group["id"], bump({}, group))
    enforce.changed(s, rules_of=[group["id"]])
    return member_response("security_group_rule", rule_view(rule), 201)


@bp.get("/v2.0/security-group-rules/<rid>")
def show_rule(rid: str) -> Response:
    return member_response("security_group_rule", rule_view(_visible_rule(rid)))


def _visible_rule(rid: str) -> Record:
    return get_visible(store(), RULE, rid, "SecurityGroupRuleNotFound")


@bp.delete("/v2.0/security-group-rules/<rid>")
def delete_rule(rid: str) -> Response:
    rule = owned(_visible_rule(rid), RULE, "SecurityGroupRuleNotFound")
    store().delete(RULE, rid)
    enforce.changed(store(), rules_of=[rule["security_group_id"]])
    return empty()
