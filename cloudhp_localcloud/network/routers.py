"""Neutron routers: bookkeeping only, and what floating IPs need of them.

Routers carry no traffic (Docker bridges are isolated from each other; the host
reaches every bridge), but they keep Neutron's books: the gateway port on the
external network, interface ports on subnets, and the checks Neutron makes (a
router's gateway or interface cannot go while a floating IP needs it), so code that
forgets the router fails here as it would on OpenStack.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from cloudhp_localcloud import faults
from cloudhp_localcloud.network import addresses as nb
from cloudhp_localcloud.network.common import (
    body_of,
    bp,
    bump,
    empty,
    get_visible,
    given,
    list_response,
    member_response,
    owned,
    project_records,
    standard_doc,
    standard_view,
    store,
    target_project,
)
from cloudhp_localcloud.network.floatingips import FIP, external_network, service_port
from cloudhp_localcloud.network.quotas import check_quota
from cloudhp_localcloud.store import Record, Store, utcnow


def _gateway_info(s: Store, router: Record) -> dict[str, Any] | None:
    info = router.get("external_gateway_info")
    if not info:
        return None
    port = s.get("port", info.get("port_id", ""))
    return {
        "network_id": info["network_id"],
        "enable_snat": info.get("enable_snat", True),
        "external_fixed_ips": list(port.get("fixed_ips", [])) if port else [],
    }


def router_view(record: Record) -> dict[str, Any]:
    fields = {
        "status": "ACTIVE",
        "admin_state_up": record.get("admin_state_up", True),
        "external_gateway_info": _gateway_info(store(), record),
        "routes": record.get("routes", []),
        "distributed": False,
        "ha": False,
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "flavor_id": None,
    }
    return standard_view(record, fields)


def _set_gateway(s: Store, router: Record, info: dict[str, Any] | None) -> dict[str, Any] | None:
    """Replace the router's gateway port; returns the stored external_gateway_info."""
    old = router.get("external_gateway_info") or {}
    if old.get("port_id"):
        moved = info is None or info.get("network_id") != old.get("network_id")
        if moved and s.list(FIP, router_id=router["id"]):
            raise faults.Conflict(
                f"Gateway cannot be updated for router {router['id']}, since a gateway to "
                f"external network {old['network_id']} is required by one or more "
                "floating IPs.",
                kind="RouterExternalGatewayInUseByFloatingIp",
            )
        s.delete("port", old["port_id"])
    if not info:
        return None
    net = external_network(s, str(info.get("network_id", "")))
    wanted = (info.get("external_fixed_ips") or [{}])[0].get("ip_address")
    port = service_port(s, net, nb.OWNER_ROUTER_GW, router["id"], wanted)
    return {
        "network_id": net["id"],
        "enable_snat": info.get("enable_snat", True),
        "port_id": port["id"],
    }


def _visible_router(rid: str) -> Record:
    return get_visible(store(), "router", rid, "RouterNotFound")


@bp.get("/v2.0/routers")
def list_routers() -> Response:
    return list_response("routers", [router_view(r) for r in project_records("router")])


@bp.post("/v2.0/routers")
def create_router() -> Response:
    body = body_of("router")
    s = store()
    nb.ensure_public(s)
    project = target_project(body)
    with s.transaction():
        check_quota(s, project, "router", len(s.list("router", project_id=project)))
        doc = {
            **standard_doc(body),
            "admin_state_up": body.get("admin_state_up", True),
            "routes": [],
            "external_gateway_info": None,
        }
        router = s.insert("router", doc, project_id=project, name=body.get("name", ""))
        if body.get("external_gateway_info"):
            gw = _set_gateway(s, router, body["external_gateway_info"])
            router = s.update("router", router["id"], {"external_gateway_info": gw})
    return member_response("router", router_view(router), 201)


@bp.get("/v2.0/routers/<rid>")
def show_router(rid: str) -> Response:
    return member_response("router", router_view(_visible_router(rid)))


@bp.put("/v2.0/routers/<rid>")
def update_router(rid: str) -> Response:
    router = owned(_visible_router(rid), "router", "RouterNotFound")
    body = body_of("router")
    s = store()
    changes = given(body, ("name", "description", "admin_state_up", "routes"))
    with s.transaction():
        if "external_gateway_info" in body:
            changes["external_gateway_info"] = _set_gateway(
                s, router, body["external_gateway_info"] or None
            )
        router = s.update("router", rid, bump(changes, router))
    return member_response("router", router_view(router))


@bp.delete("/v2.0/routers/<rid>")
def delete_router(rid: str) -> Response:
    router = owned(_visible_router(rid), "router", "RouterNotFound")
    s = store()
    with s.transaction():
        if s.list("port", device_id=rid, device_owner=nb.OWNER_ROUTER_IF):
            raise faults.Conflict(f"Router {rid} still has ports", kind="RouterInUse")
        _set_gateway(s, router, None)
        s.delete("router", rid)
    return empty()


def _interface_body(router: Record, port: Record) -> Response:
    subnet_ids = [f["subnet_id"] for f in port.get("fixed_ips", [])]
    return jsonify(
        {
            "id": router["id"],
            "tenant_id": router["project_id"],
            "project_id": router["project_id"],
            "port_id": port["id"],
            "network_id": port["network_id"],
            "subnet_id": subnet_ids[0] if subnet_ids else None,
            "subnet_ids": subnet_ids,
        }
    )


@bp.put("/v2.0/routers/<rid>/add_router_interface")
def add_interface(rid: str) -> Response:
    router = owned(_visible_router(rid), "router", "RouterNotFound")
    body = faults.json_body()
    s = store()
    with s.transaction():
        if body.get("port_id"):
            port = owned(
                get_visible(s, "port", body["port_id"], "PortNotFound"), "port", "PortNotFound"
            )
            if port.get("device_id"):
                raise faults.Conflict(
                    f"Port {port['id']} has owner {port.get('device_owner')} and therefore "
                    f"cannot be deleted directly via the port API.",
                    kind="PortInUse",
                )
            port = s.update(
                "port",
                port["id"],
                {"device_id": rid, "status": "ACTIVE", "device_owner": nb.OWNER_ROUTER_IF},
            )
        elif body.get("subnet_id"):
            subnet = owned(
                get_visible(s, "subnet", body["subnet_id"], "SubnetNotFound"),
                "subnet",
                "SubnetNotFound",
            )
            if not subnet.get("gateway_ip"):
                raise faults.BadRequest(
                    f"Bad router request: Subnet {subnet['id']} does not have a gateway IP.",
                    kind="BadRequest",
                )
            for iface in s.list("port", device_id=rid, device_owner=nb.OWNER_ROUTER_IF):
                if any(f["subnet_id"] == subnet["id"] for f in iface["fixed_ips"]):
                    raise faults.BadRequest(
                        f"Bad router request: Router already has a port on subnet {subnet['id']}.",
                        kind="BadRequest",
                    )
            net = s.get("network", subnet["network_id"])
            assert net is not None
            port = nb.new_port(
                s,
                net,
                router["project_id"],
                fixed_ips=[],
                device_id=rid,
                device_owner=nb.OWNER_ROUTER_IF,
            )
            port = s.update(
                "port",
                port["id"],
                {"fixed_ips": [{"subnet_id": subnet["id"], "ip_address": subnet["gateway_ip"]}]},
            )
        else:
            raise faults.BadRequest(
                "Bad router request: Either subnet_id or port_id must be specified.",
                kind="BadRequest",
            )
        s.update("router", rid, bump({}, router))
    return _interface_body(router, port)


@bp.put("/v2.0/routers/<rid>/remove_router_interface")
def remove_interface(rid: str) -> Response:
    router = owned(_visible_router(rid), "router", "RouterNotFound")
    body = faults.json_body()
    s = store()
    with s.transaction():
        ifaces = s.list("port", device_id=rid, device_owner=nb.OWNER_ROUTER_IF)
        if body.get("port_id"):
            found = [p for p in ifaces if p["id"] == body["port_id"]]
            missing = f"Router {rid} does not have an interface with id {body['port_id']}"
        else:
            sid = body.get("subnet_id")
            found = [p for p in ifaces if any(f["subnet_id"] == sid for f in p["fixed_ips"])]
            missing = f"Router {rid} has no interface on subnet {sid}"
        if not found:
            raise faults.NotFound(missing, kind="RouterInterfaceNotFound")
        port = found[0]
        subnets = {f["subnet_id"] for f in port["fixed_ips"]}
        for fip in s.list(FIP, router_id=rid):
            inner = s.get("port", fip.get("port_id") or "")
            if inner and subnets & {f["subnet_id"] for f in inner["fixed_ips"]}:
                raise faults.Conflict(
                    f"Router interface for subnet {next(iter(subnets))} on router {rid} "
                    "cannot be deleted, as it is required by one or more floating IPs.",
                    kind="RouterInterfaceInUseByFloatingIP",
                )
        s.delete("port", port["id"])
        s.update("router", rid, {"updated_at": utcnow()})
    return _interface_body(router, port)
