"""Neutron floating IPs, made real on Docker.

A floating IP is an address on the external network `public` (172.24.4.0/24).
Associating it with a server's port connects the server's container to the Docker
network "lc-public" at that address, so the host (which holds 172.24.4.1 on that
bridge) reaches the server there, e.g. by SSH; disassociating disconnects it. There
is no NAT: inside the server the floating IP is visible on a second interface,
unlike OpenStack where only the fixed IP is. A server can hold one floating IP. That
interface is filtered by the port's security groups (enforce.py), so associating or
disassociating re-applies the server's rules.

Association checks, as Neutron does, that the port's subnet is plugged into a router
(routers.py) whose gateway is on the floating IP's network (404
ExternalGatewayForFloatingIPNotFound otherwise).
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
from cloudhp_localcloud.store import Record, Store, new_id

FIP = "floatingip"


def external_network(s: Store, network_id: str) -> Record:
    net = s.get("network", network_id)
    if net is None:
        raise not_found("network", network_id, "NetworkNotFound")
    if not net.get("router:external"):
        raise faults.BadRequest(
            f"Bad floatingip request: Network {network_id} is not a valid external network.",
            kind="BadRequest",
        )
    return net


def service_port(s: Store, net: Record, owner: str, device_id: str, ip: str | None) -> Record:
    """A port on the external network, owned by no project, as Neutron makes them."""
    fixed = [{"ip_address": ip}] if ip else None
    return nb.new_port(s, net, "", fixed_ips=fixed, device_id=device_id, device_owner=owner)


# --- floating IPs --------------------------------------------------------------------


def fip_view(record: Record) -> dict[str, Any]:
    port_details = None
    if record.get("port_id"):
        port = store().get("port", record["port_id"])
        if port:
            port_details = {
                "name": port.get("name") or "",
                "network_id": port["network_id"],
                "mac_address": port.get("mac_address"),
                "admin_state_up": port.get("admin_state_up", True),
                "status": port.get("status"),
                "device_id": port.get("device_id"),
                "device_owner": port.get("device_owner"),
            }
    fields = {
        k: record.get(k)
        for k in (
            "floating_ip_address",
            "floating_network_id",
            "router_id",
            "port_id",
            "fixed_ip_address",
            "status",
        )
    }
    fields.update(
        {
            "port_details": port_details,
            "dns_domain": "",
            "dns_name": "",
            "port_forwardings": [],
            "qos_policy_id": None,
        }
    )
    view = standard_view(record, fields)
    view.pop("name")
    return view


@bp.get("/v2.0/floatingips")
def list_fips() -> Response:
    return list_response("floatingips", [fip_view(r) for r in project_records(FIP)])


@bp.post("/v2.0/floatingips")
def create_fip() -> Response:
    body = body_of("floatingip")
    s = store()
    nb.ensure_public(s)
    project = target_project(body)
    net = external_network(s, str(body.get("floating_network_id", "")))
    fid = new_id()
    with s.transaction():
        check_quota(s, project, "floatingip", len(s.list(FIP, project_id=project)))
        port = service_port(s, net, nb.OWNER_FIP, fid, body.get("floating_ip_address"))
        doc = {
            **standard_doc(body),
            "floating_ip_address": port["fixed_ips"][0]["ip_address"],
            "floating_network_id": net["id"],
            "floating_port_id": port["id"],
            "router_id": None,
            "port_id": None,
            "fixed_ip_address": None,
            "status": "DOWN",
        }
        record = s.insert(FIP, doc, id=fid, project_id=project)
    if body.get("port_id"):
        try:
            record = _associate(s, record, body["port_id"], body.get("fixed_ip_address"))
        except faults.Fault:
            _delete(s, record)
            raise
    return member_response("floatingip", fip_view(record), 201)


def _visible_fip(rid: str) -> Record:
    return get_visible(store(), FIP, rid, "FloatingIPNotFound")


@bp.get("/v2.0/floatingips/<rid>")
def show_fip(rid: str) -> Response:
    return member_response("floatingip", fip_view(_visible_fip(rid)))


@bp.put("/v2.0/floatingips/<rid>")
def update_fip(rid: str) -> Response:
    record = owned(_visible_fip(rid), FIP, "FloatingIPNotFound")
    body = body_of("floatingip")
    s = store()
    if "description" in body:
        record = s.update(FIP, rid, bump({"description": body["description"]}, record))
    if "port_id" in body:
        if body["port_id"]:
            record = _associate(s, record, body["port_id"], body.get("fixed_ip_address"))
        else:
            record = _disassociate(s, record)
    return member_response("floatingip", fip_view(record))


@bp.delete("/v2.0/floatingips/<rid>")
def delete_fip(rid: str) -> Response:
    _delete(store(), owned(_visible_fip(rid), FIP, "FloatingIPNotFound"))
    return empty()


def _delete(s: Store, record: Record) -> None:
    _disassociate(s, record)
    with s.transaction():
        s.delete("port", record["floating_port_id"])
        s.delete(FIP, record["id"])


def _router_for(s: Store, fip: Record, port: Record, fixed_ip: str) -> str:
    """The router joining the port's subnet to the FIP's network, as Neutron requires."""
    subnet_id = next(f["subnet_id"] for f in port["fixed_ips"] if f["ip_address"] == fixed_ip)
    for router in s.list("router"):
        gw = router.get("external_gateway_info") or {}
        if gw.get("network_id") != fip["floating_network_id"]:
            continue
        for iface in s.list("port", device_id=router["id"], device_owner=nb.OWNER_ROUTER_IF):
            if any(f["subnet_id"] == subnet_id for f in iface.get("fixed_ips", [])):
                return router["id"]
    raise faults.NotFound(
        f"External network {fip['floating_network_id']} is not reachable from subnet "
        f"{subnet_id}.  Therefore, cannot associate Port {port['id']} with a Floating IP.",
        kind="ExternalGatewayForFloatingIPNotFound",
    )


def _associate(s: Store, fip: Record, port_id: str, fixed_ip: str | None) -> Record:
    port = s.get("port", port_id)
    if port is None or (port["project_id"] != fip["project_id"] and not is_admin()):
        raise not_found("port", port_id, "PortNotFound")
    ips = [f["ip_address"] for f in port.get("fixed_ips", [])]
    if not ips:
        raise faults.BadRequest(
            f"Bad floatingip request: Port {port_id} does not have any IPv4 addresses.",
            kind="BadRequest",
        )
    if fixed_ip is None:
        fixed_ip = ips[0]
    elif fixed_ip not in ips:
        raise faults.BadRequest(
            f"Bad floatingip request: Port {port_id} does not have fixed ip {fixed_ip}.",
            kind="BadRequest",
        )
    with s.transaction():
        for other in s.list(FIP, port_id=port_id):
            if other["id"] != fip["id"]:
                raise faults.Conflict(
                    f"Cannot associate floating IP {fip['floating_ip_address']} "
                    f"({fip['id']}) with port {port_id} using fixed IP {fixed_ip}, as that "
                    f"fixed IP already has a floating IP on external network "
                    f"{fip['floating_network_id']}.",
                    kind="FloatingIPPortAlreadyAssociated",
                )
        router_id = _router_for(s, fip, port, fixed_ip)
    if fip.get("port_id") and fip["port_id"] != port_id:
        fip = _disassociate(s, fip)
    server = enforce.bound_server(port)
    if server:
        bridges.connect_container(
            bridges.docker_client(),
            server,
            bridges.PUBLIC_DOCKER_NETWORK,
            fip["floating_ip_address"],
        )
    fip = s.update(
        FIP,
        fip["id"],
        bump(
            {
                "port_id": port_id,
                "fixed_ip_address": fixed_ip,
                "router_id": router_id,
                "status": "ACTIVE",
            },
            fip,
        ),
    )
    enforce.changed(s, servers=[server] if server else [])
    return fip


def _disassociate(s: Store, fip: Record) -> Record:
    if not fip.get("port_id"):
        return fip
    port = s.get("port", fip["port_id"])
    server = enforce.bound_server(port) if port else None
    if server:
        bridges.disconnect_container(bridges.docker_client(), server, bridges.PUBLIC_DOCKER_NETWORK)
    fip = s.update(
        FIP,
        fip["id"],
        bump({"port_id": None, "fixed_ip_address": None, "router_id": None, "status": "DOWN"}, fip),
    )
    enforce.changed(s, servers=[server] if server else [])
    return fip
