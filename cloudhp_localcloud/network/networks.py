"""Neutron networks and subnets (v2.0), backed by Docker bridges; ports are ports.py's.

Differences from Neutron, all forced by Docker bridges (see bridges.py):
one IPv4 subnet per network; subnets of different networks may not overlap (one
engine, one address space: 409); a subnet's CIDR and gateway cannot change; a bound
port's addresses cannot change.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Response

from cloudhp_localcloud import faults
from cloudhp_localcloud.network import addresses as nb
from cloudhp_localcloud.network import bridges
from cloudhp_localcloud.network.common import (
    body_of,
    bp,
    bump,
    caller_project,
    empty,
    get_visible,
    given,
    given_with_tags,
    is_admin,
    list_response,
    member_response,
    owned,
    standard_view,
    store,
    target_project,
)
from cloudhp_localcloud.network.quotas import check_quota
from cloudhp_localcloud.store import Record, Store

_NET_FIELDS = (
    "admin_state_up", "status", "shared", "router:external", "mtu", "port_security_enabled",
    "availability_zones", "availability_zone_hints", "ipv4_address_scope",
    "ipv6_address_scope", "is_default",
)  # fmt: skip
_SUBNET_FIELDS = (
    "network_id", "ip_version", "cidr", "gateway_ip", "allocation_pools", "enable_dhcp",
    "dns_nameservers", "host_routes", "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id",
    "service_types",
)  # fmt: skip
_NET_CREATE_KEYS = (
    "admin_state_up", "shared", "router:external", "port_security_enabled", "mtu",
    "description",
)  # fmt: skip


def network_visible(record: Record) -> bool:
    return bool(record.get("shared") or record.get("router:external"))


# --- networks ------------------------------------------------------------------------


def network_view(record: Record) -> dict[str, Any]:
    fields = {k: record.get(k) for k in _NET_FIELDS}
    fields["subnets"] = [s["id"] for s in nb.network_subnets(store(), record["id"])]
    fields["l2_adjacency"] = True
    return standard_view(record, fields)


def visible_network(rid: str) -> Record:
    return get_visible(store(), "network", rid, "NetworkNotFound", network_visible)


@bp.get("/v2.0/networks")
def list_networks() -> Response:
    nb.ensure_public(store())
    records = store().list("network")
    if not is_admin():
        me = caller_project()
        records = [r for r in records if r["project_id"] == me or network_visible(r)]
    return list_response("networks", [network_view(r) for r in records])


@bp.post("/v2.0/networks")
def create_network() -> Response:
    body = body_of("network")
    project = target_project(body)
    for admin_only in ("router:external", "shared"):
        if body.get(admin_only) and not is_admin():
            raise faults.Forbidden(
                f"(rule:create_network:{admin_only}) is disallowed by policy",
                kind="PolicyNotAuthorized",
            )
    s = store()
    with s.transaction():
        check_quota(s, project, "network", len(s.list("network", project_id=project)))
        doc = nb.network_doc()
        doc.update(given_with_tags(body, _NET_CREATE_KEYS))
        record = s.insert("network", doc, project_id=project, name=body.get("name", ""))
    return member_response("network", network_view(record), 201)


@bp.get("/v2.0/networks/<rid>")
def show_network(rid: str) -> Response:
    return member_response("network", network_view(visible_network(rid)))


@bp.put("/v2.0/networks/<rid>")
def update_network(rid: str) -> Response:
    record = owned(visible_network(rid), "network", "NetworkNotFound")
    body = body_of("network")
    changes = given(body, ("name", "description", "admin_state_up", "port_security_enabled", "mtu"))
    for admin_only in ("router:external", "shared"):
        if admin_only in body:
            if not is_admin():
                raise faults.Forbidden(
                    f"(rule:update_network:{admin_only}) is disallowed by policy",
                    kind="PolicyNotAuthorized",
                )
            changes[admin_only] = body[admin_only]
    record = store().update("network", rid, bump(changes, record))
    return member_response("network", network_view(record))


@bp.delete("/v2.0/networks/<rid>")
def delete_network(rid: str) -> Response:
    record = owned(visible_network(rid), "network", "NetworkNotFound")
    s = store()
    with s.transaction():
        if s.list("port", network_id=rid):
            raise faults.Conflict(
                f"Unable to complete operation on network {rid}. There are one or more "
                "ports still in use on the network.",
                kind="NetworkInUse",
            )
        for subnet in nb.network_subnets(s, rid):
            s.delete("subnet", subnet["id"])
        s.delete("network", rid)
    if record.get("docker_network") != bridges.PUBLIC_DOCKER_NETWORK:
        bridges.remove_bridge(bridges.docker_client(), bridges.docker_network_name(rid))
    return empty()


# --- subnets -------------------------------------------------------------------------


def subnet_view(record: Record) -> dict[str, Any]:
    return standard_view(record, {k: record.get(k) for k in _SUBNET_FIELDS})


def visible_subnet(rid: str) -> Record:
    def via_network(subnet: Record) -> bool:
        net = store().get("network", subnet["network_id"])
        return bool(net and network_visible(net))

    return get_visible(store(), "subnet", rid, "SubnetNotFound", via_network)


@bp.get("/v2.0/subnets")
def list_subnets() -> Response:
    nb.ensure_public(store())
    s = store()
    records = s.list("subnet")
    if not is_admin():
        visible = {n["id"] for n in s.list("network") if network_visible(n)}
        me = caller_project()
        records = [r for r in records if r["project_id"] == me or r["network_id"] in visible]
    return list_response("subnets", [subnet_view(r) for r in records])


def _parse_cidr(cidr: Any) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(str(cidr), strict=True)
    except ValueError:
        raise faults.BadRequest(
            f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet.",
            kind="HTTPBadRequest",
        ) from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise faults.BadRequest(
            "Invalid input for operation: localcloud supports IPv4 subnets only.",
            kind="InvalidInput",
        )
    if net.prefixlen > 30:
        raise faults.BadRequest(
            f"Invalid input for operation: CIDR {cidr} is too small for a subnet.",
            kind="InvalidInput",
        )
    return net


def _pools(body: dict[str, Any], net: ipaddress.IPv4Network, gateway: str | None) -> list:
    pools = body.get("allocation_pools")
    if not pools:
        return nb.default_pool(str(net), gateway)
    for pool in pools:
        try:
            start, end = ipaddress.IPv4Address(pool["start"]), ipaddress.IPv4Address(pool["end"])
        except (KeyError, TypeError, ValueError):
            raise faults.BadRequest(
                f"Invalid input for allocation_pools: {pool}", kind="HTTPBadRequest"
            ) from None
        if start not in net or end not in net or start > end:
            raise faults.BadRequest(
                f"The allocation pool {pool['start']}-{pool['end']} spans beyond the subnet "
                f"cidr {net}.",
                kind="OutOfBoundsAllocationPool",
            )
    return [{"start": p["start"], "end": p["end"]} for p in pools]


@bp.post("/v2.0/subnets")
def create_subnet() -> Response:
    body = body_of("subnet")
    s = store()
    network = visible_network(str(body.get("network_id", "")))
    owned(network, "network", "NetworkNotFound")
    if int(body.get("ip_version", 4)) != 4:
        raise faults.BadRequest(
            "Invalid input for operation: localcloud supports IPv4 subnets only.",
            kind="InvalidInput",
        )
    if "cidr" not in body:
        raise faults.BadRequest(
            "Bad subnets request: a cidr must be specified in the absence of a subnet pool.",
            kind="BadRequest",
        )
    cidr = _parse_cidr(body["cidr"])
    gateway = body.get("gateway_ip", str(cidr.network_address + 1))
    if gateway is not None:
        try:
            gw = ipaddress.ip_address(gateway)
        except ValueError:
            raise faults.BadRequest(
                f"Invalid input for gateway_ip. Reason: '{gateway}' is not a valid IP address.",
                kind="HTTPBadRequest",
            ) from None
        if gw not in cidr or gw in (cidr.network_address, cidr.broadcast_address):
            raise faults.BadRequest(
                f"Invalid input for operation: Gateway is not valid on subnet {cidr}.",
                kind="InvalidInput",
            )
    pools = _pools(body, cidr, gateway)
    project = target_project(body) if is_admin() else network["project_id"]
    with s.transaction():
        check_quota(s, project, "subnet", len(s.list("subnet", project_id=project)))
        _check_overlap(s, network["id"], cidr)
        bridges.ensure_bridge(
            bridges.docker_client(),
            bridges.docker_network_name(network["id"]),
            str(cidr),
            gateway,
            network["id"],
        )
        doc = nb.subnet_doc(network["id"], str(cidr), gateway, pools)
        doc.update(
            given_with_tags(body, ("enable_dhcp", "dns_nameservers", "host_routes", "description"))
        )
        record = s.insert("subnet", doc, project_id=project, name=body.get("name", ""))
        s.update(
            "network", network["id"], {"docker_network": bridges.docker_network_name(network["id"])}
        )
    return member_response("subnet", subnet_view(record), 201)


def _check_overlap(s: Store, network_id: str, cidr: ipaddress.IPv4Network) -> None:
    for other in s.list("subnet"):
        if not ipaddress.ip_network(other["cidr"]).overlaps(cidr):
            continue
        if other["network_id"] == network_id:
            raise faults.BadRequest(
                f"Invalid input for operation: Requested subnet with cidr: {cidr} for "
                f"network: {network_id} overlaps with another subnet.",
                kind="InvalidInput",
            )
        raise faults.Conflict(
            f"Subnet {cidr} overlaps with subnet {other['id']} ({other['cidr']}) of network "
            f"{other['network_id']}; localcloud networks are Docker bridges on one engine "
            "and cannot overlap.",
            kind="InvalidInput",
        )
    if nb.network_subnets(s, network_id):
        raise faults.Conflict(
            f"Network {network_id} already has a subnet; localcloud supports one subnet "
            "per network (a Docker bridge has one address range).",
            kind="InvalidInput",
        )


@bp.get("/v2.0/subnets/<rid>")
def show_subnet(rid: str) -> Response:
    return member_response("subnet", subnet_view(visible_subnet(rid)))


@bp.put("/v2.0/subnets/<rid>")
def update_subnet(rid: str) -> Response:
    record = owned(visible_subnet(rid), "subnet", "SubnetNotFound")
    body = body_of("subnet")
    for fixed in ("cidr", "ip_version", "network_id"):
        if fixed in body and body[fixed] != record.get(fixed):
            raise faults.BadRequest(
                f"Cannot update read-only attribute {fixed}", kind="HTTPBadRequest"
            )
    if "gateway_ip" in body and body["gateway_ip"] != record.get("gateway_ip"):
        raise faults.Conflict(
            "localcloud cannot change a subnet's gateway: its Docker bridge is fixed.",
            kind="InvalidInput",
        )
    changes = given(body, ("name", "description", "enable_dhcp", "dns_nameservers", "host_routes"))
    if "allocation_pools" in body:
        changes["allocation_pools"] = _pools(
            body, ipaddress.IPv4Network(record["cidr"]), record.get("gateway_ip")
        )
    record = store().update("subnet", rid, bump(changes, record))
    return member_response("subnet", subnet_view(record))


@bp.delete("/v2.0/subnets/<rid>")
def delete_subnet(rid: str) -> Response:
    record = owned(visible_subnet(rid), "subnet", "SubnetNotFound")
    s = store()
    with s.transaction():
        if nb.ips_in_use(s, rid):
            raise faults.Conflict(
                f"Unable to complete operation on subnet {rid}: One or more ports have an "
                "IP allocation from this subnet.",
                kind="SubnetInUse",
            )
        s.delete("subnet", rid)
        last = not nb.network_subnets(s, record["network_id"])
        net = s.get("network", record["network_id"])
    if last and net and net.get("docker_network") != bridges.PUBLIC_DOCKER_NETWORK:
        bridges.remove_bridge(
            bridges.docker_client(), bridges.docker_network_name(record["network_id"])
        )
    return empty()
