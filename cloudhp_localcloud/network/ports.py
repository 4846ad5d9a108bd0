"""Neutron ports (v2.0): addresses on a network's Docker bridge.

A port is Neutron's bookkeeping until a server is plugged into it (device_owner
"compute:..."): then it is the container's interface on the bridge, so a bound
port's addresses cannot change (409 PortInUse), and deleting it disconnects the
container. Ports owned by routers and floating IPs are deleted through those APIs.
A port's groups are enforced on its server (enforce.py): changing them, its addresses
or port security, creating or deleting a port re-applies the servers this reaches.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from cloudhp_localcloud import faults
from cloudhp_localcloud.network import addresses as nb
from cloudhp_localcloud.network import bridges, enforce
from cloudhp_localcloud.network.common import (
    body_of,
    bp,
    bump,
    empty,
    get_visible,
    given,
    given_with_tags,
    is_admin,
    list_response,
    member_response,
    not_found,
    owned,
    project_records,
    standard_view,
    store,
    target_project,
)
from cloudhp_localcloud.network.networks import visible_network
from cloudhp_localcloud.network.quotas import check_quota
from cloudhp_localcloud.store import Record, Store

_PORT_FIELDS = (
    "network_id", "admin_state_up", "status", "mac_address", "fixed_ips", "device_id",
    "device_owner", "security_groups", "port_security_enabled", "allowed_address_pairs",
    "binding:host_id", "binding:vnic_type",
)  # fmt: skip


_PORT_CREATE_KEYS = (
    "admin_state_up", "port_security_enabled", "allowed_address_pairs", "description",
    "binding:vnic_type", "mac_address",
)  # fmt: skip


# What an update may change that changes what a server's ports let through.
_ENFORCED_KEYS = {
    "security_groups", "port_security_enabled", "fixed_ips", "allowed_address_pairs",
    "device_id", "device_owner",
}  # fmt: skip

_PORT_UPDATE_KEYS = (
    "name", "description", "admin_state_up", "device_id", "device_owner",
    "port_security_enabled", "allowed_address_pairs", "binding:host_id",
)  # fmt: skip


def port_view(record: Record) -> dict[str, Any]:
    fields = {k: record.get(k) for k in _PORT_FIELDS}
    fields.update(
        {
            "extra_dhcp_opts": [],
            "dns_name": "",
            "ip_allocation": "immediate",
            "propagate_uplink_status": False,
        }
    )
    return standard_view(record, fields)


@bp.get("/v2.0/ports")
def list_ports() -> Response:
    return list_response("ports", [port_view(r) for r in project_records("port")])


def _security_groups(s: Store, project: str, ids: list[str]) -> list[str]:
    for sg in ids:
        if s.get("security_group", sg, project_id=None if is_admin() else project) is None:
            raise not_found("security_group", sg, "SecurityGroupNotFound")
    return list(ids)


@bp.post("/v2.0/ports")
def create_port() -> Response:
    body = body_of("port")
    network = visible_network(str(body.get("network_id", "")))
    project = target_project(body)
    if network["project_id"] != project and not network.get("shared") and not is_admin():
        raise faults.Forbidden(
            "(rule:create_port) is disallowed by policy", kind="PolicyNotAuthorized"
        )
    s = store()
    with s.transaction():
        check_quota(s, project, "port", len(s.list("port", project_id=project)))
        extra = given_with_tags(body, _PORT_CREATE_KEYS)
        if "security_groups" in body:
            extra["security_groups"] = _security_groups(s, project, body["security_groups"])
        elif body.get("port_security_enabled", True):
            extra["security_groups"] = [nb.default_security_group(s, project)["id"]]
        extra["name"] = body.get("name", "")
        record = nb.new_port(
            s,
            network,
            project,
            fixed_ips=body.get("fixed_ips"),
            device_id=body.get("device_id", ""),
            device_owner=body.get("device_owner", ""),
            extra=extra,
        )
    enforce.changed(s, members_of=enforce.groups_of([record]))
    return member_response("port", port_view(record), 201)


def visible_port(rid: str) -> Record:
    return get_visible(store(), "port", rid, "PortNotFound")


@bp.get("/v2.0/ports/<rid>")
def show_port(rid: str) -> Response:
    return member_response("port", port_view(visible_port(rid)))


@bp.put("/v2.0/ports/<rid>")
def update_port(rid: str) -> Response:
    record = visible_port(rid)
    body = body_of("port")
    s = store()
    changes = given(body, _PORT_UPDATE_KEYS)
    with s.transaction():
        if "security_groups" in body:
            changes["security_groups"] = _security_groups(
                s, record["project_id"], body["security_groups"] or []
            )
        bound = record.get("device_owner", "").startswith("compute:") and record.get("device_id")
        if "fixed_ips" in body or "mac_address" in body:
            if bound:
                raise faults.Conflict(
                    f"Port {rid} is plugged into server {record['device_id']}; localcloud "
                    "cannot change the addresses of a running container.",
                    kind="PortInUse",
                )
            if "mac_address" in body:
                changes["mac_address"] = body["mac_address"]
            if "fixed_ips" in body:
                net = s.get("network", record["network_id"])
                assert net is not None
                s.update("port", rid, {"fixed_ips": []})  # free the old addresses first
                try:
                    fresh = nb.new_port(s, net, record["project_id"], fixed_ips=body["fixed_ips"])
                finally:
                    s.update("port", rid, {"fixed_ips": record["fixed_ips"]})
                s.delete("port", fresh["id"])
                changes["fixed_ips"] = fresh["fixed_ips"]
        if "device_id" in changes:
            changes["status"] = "ACTIVE" if changes["device_id"] else "DOWN"
        before = record
        record = s.update("port", rid, bump(changes, record))
    if _ENFORCED_KEYS & set(changes):
        enforce.changed(
            s,
            members_of=enforce.groups_of([before, record]),
            servers=[x for p in (before, record) if (x := enforce.bound_server(p))],
        )
    return member_response("port", port_view(record))


@bp.delete("/v2.0/ports/<rid>")
def delete_port(rid: str) -> Response:
    record = owned(visible_port(rid), "port", "PortNotFound")
    if record.get("device_owner") in (nb.OWNER_ROUTER_IF, nb.OWNER_ROUTER_GW, nb.OWNER_FIP):
        raise faults.Conflict(
            f"Port {rid} cannot be deleted directly via the port API: has device owner "
            f"{record['device_owner']}.",
            kind="ServicePortInUse",
        )
    s = store()
    with s.transaction():
        fips = nb.clear_floating_ips(s, rid)
        s.delete("port", rid)
    server = enforce.bound_server(record)
    if server:
        client = bridges.docker_client()
        net = s.get("network", record["network_id"])
        if net:
            bridges.disconnect_container(client, server, bridges.docker_network_name(net["id"]))
        if fips:
            bridges.disconnect_container(client, server, bridges.PUBLIC_DOCKER_NETWORK)
    enforce.changed(s, members_of=enforce.groups_of([record]), servers=[server] if server else [])
    return empty()
