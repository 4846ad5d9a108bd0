"""Neutron's IP address management, ports, and the records of the external network.

Neutron allocates addresses, not Docker: ports are records with fixed_ips chosen here
from the subnet's allocation pools, and containers are attached with exactly those
addresses (`ipv4_address`, bridges.py). Floating IPs and router gateways are ports
too (device owners network:floatingip / network:router_gateway), so one allocator
sees every address in use.

The calls compute makes (prepare_server_ports, ...) are in servers.py.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from typing import Any

import docker
import docker.errors

from cloudhp_localcloud import faults
from cloudhp_localcloud.network.bridges import (
    PUBLIC_CIDR,
    PUBLIC_DOCKER_NETWORK,
    PUBLIC_GATEWAY,
    PUBLIC_NAME,
    docker_client,
    ensure_public_network,
)
from cloudhp_localcloud.network.security import ensure_default_group
from cloudhp_localcloud.store import Record, Store, utcnow

log = logging.getLogger(__name__)

PUBLIC_POOL = {"start": "172.24.4.2", "end": "172.24.4.254"}

OWNER_COMPUTE = "compute:nova"
OWNER_FIP = "network:floatingip"
OWNER_ROUTER_GW = "network:router_gateway"
OWNER_ROUTER_IF = "network:router_interface"


# --- addresses -----------------------------------------------------------------------


def random_mac() -> str:
    """An address in OpenStack's default base_mac fa:16:3e:00:00:00."""
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


def default_pool(cidr: str, gateway: str | None) -> list[dict[str, str]]:
    """Neutron's default allocation pool: the whole subnet but network, gateway, broadcast."""
    net = ipaddress.ip_network(cidr)
    hosts = [h for h in (net.network_address + 1, net.broadcast_address - 1)]
    first, last = hosts
    if gateway and ipaddress.ip_address(gateway) == first:
        first += 1
    elif gateway and ipaddress.ip_address(gateway) == last:
        last -= 1
    return [{"start": str(first), "end": str(last)}]


def ips_in_use(store: Store, subnet_id: str) -> set[str]:
    used = set()
    for port in store.list("port"):
        for fixed in port.get("fixed_ips", []):
            if fixed.get("subnet_id") == subnet_id:
                used.add(fixed["ip_address"])
    return used


def taken_on_shared_bridge(store: Store, subnet: Record) -> set[str]:
    """Addresses other localclouds on this machine hold on the public bridge.

    Every localcloud's `public` network is the one Docker bridge lc-public (their APIs
    listen on its gateway), so an address another instance attached to a server is
    taken here too, though this instance's store does not know it.
    """
    network = store.get("network", subnet["network_id"])
    if network is None or network.get("docker_network") != PUBLIC_DOCKER_NETWORK:
        return set()
    try:
        attrs = docker_client().networks.get(PUBLIC_DOCKER_NETWORK).attrs
    except docker.errors.DockerException:
        return set()
    return {
        str(c.get("IPv4Address", "")).split("/")[0]
        for c in (attrs.get("Containers") or {}).values()
    }


def allocate_ip(store: Store, subnet: Record, wanted: str | None = None) -> str:
    """A free address of `subnet` (or check `wanted`); call inside store.transaction().

    Raises:
        faults.BadRequest: `wanted` is outside the subnet or is its gateway.
        faults.Conflict: `wanted` is taken (IpAddressAlreadyAllocated) or the pool is
            exhausted (IpAddressGenerationFailure), as Neutron answers.
    """
    used = ips_in_use(store, subnet["id"])
    if wanted is not None:
        try:
            addr = ipaddress.ip_address(wanted)
        except ValueError:
            raise faults.BadRequest(
                f"Invalid input for ip_address. Reason: '{wanted}' is not a valid IP address.",
                kind="HTTPBadRequest",
            ) from None
        if addr not in ipaddress.ip_network(subnet["cidr"]) or wanted == subnet.get("gateway_ip"):
            raise faults.BadRequest(
                f"IP address {wanted} is not a valid IP for the specified subnet.",
                kind="InvalidIpForSubnet",
            )
        if wanted in used:
            raise faults.Conflict(
                f"IP address {wanted} already allocated in subnet {subnet['id']}",
                kind="IpAddressAlreadyAllocated",
            )
        return wanted
    used |= taken_on_shared_bridge(store, subnet)
    for pool in subnet.get("allocation_pools", []):
        current = ipaddress.IPv4Address(pool["start"])
        end = ipaddress.IPv4Address(pool["end"])
        while current <= end:
            if str(current) not in used and str(current) != subnet.get("gateway_ip"):
                return str(current)
            current += 1
    raise faults.Conflict(
        f"No more IP addresses available on network {subnet['network_id']}.",
        kind="IpAddressGenerationFailure",
    )


def network_subnets(store: Store, network_id: str) -> list[Record]:
    return store.list("subnet", network_id=network_id)


# --- ports (shared with the API) -----------------------------------------------------


def default_security_group(store: Store, project_id: str) -> Record:
    """The project's "default" group, created on first need as Neutron does."""
    return ensure_default_group(store, project_id)


def new_port(
    store: Store,
    network: Record,
    project_id: str,
    *,
    fixed_ips: list[dict[str, Any]] | None = None,
    device_id: str = "",
    device_owner: str = "",
    extra: dict[str, Any] | None = None,
) -> Record:
    """Allocate addresses and insert a port; call inside store.transaction().

    `fixed_ips` entries are Neutron's {subnet_id?, ip_address?}; None means one
    address from the network's first subnet.
    """
    subnets = {s["id"]: s for s in network_subnets(store, network["id"])}
    requested = fixed_ips if fixed_ips is not None else ([{}] if subnets else [])
    allocated: list[dict[str, str]] = []
    for item in requested:
        subnet = _subnet_for(store, network, subnets, item)
        ip = allocate_ip(store, subnet, item.get("ip_address"))
        if any(a["ip_address"] == ip for a in allocated):
            raise faults.Conflict(f"IP address {ip} already allocated in subnet {subnet['id']}")
        allocated.append({"subnet_id": subnet["id"], "ip_address": ip})
    now = utcnow()
    doc = {
        "network_id": network["id"],
        "admin_state_up": True,
        "status": "ACTIVE" if device_id else "DOWN",
        "mac_address": random_mac(),
        "fixed_ips": allocated,
        "device_id": device_id,
        "device_owner": device_owner,
        "security_groups": [],
        "port_security_enabled": True,
        "allowed_address_pairs": [],
        "binding:host_id": "localcloud" if device_id else "",
        "binding:vnic_type": "normal",
        "description": "",
        "tags": [],
        "updated_at": now,
        "revision_number": 0,
        **(extra or {}),
    }
    if device_owner.startswith("compute:") and not doc["security_groups"]:
        doc["security_groups"] = [default_security_group(store, project_id)["id"]]
    return store.insert("port", doc, project_id=project_id)


def _subnet_for(
    store: Store, network: Record, subnets: dict[str, Record], item: dict[str, Any]
) -> Record:
    if item.get("subnet_id"):
        subnet = subnets.get(item["subnet_id"])
        if subnet is None:
            raise faults.BadRequest(
                f"Invalid input for operation: Failed to create port on network "
                f"{network['id']}, because fixed_ips included invalid subnet "
                f"{item['subnet_id']}.",
                kind="InvalidInput",
            )
        return subnet
    if item.get("ip_address"):
        addr = ipaddress.ip_address(item["ip_address"])
        for subnet in subnets.values():
            if addr in ipaddress.ip_network(subnet["cidr"]):
                return subnet
        raise faults.BadRequest(
            f"IP address {item['ip_address']} is not a valid IP for any subnet of "
            f"network {network['id']}.",
            kind="InvalidIpForNetwork",
        )
    if not subnets:
        raise faults.BadRequest(f"Network {network['id']} has no subnet.", kind="InvalidInput")
    return next(iter(subnets.values()))


def clear_floating_ips(store: Store, port_id: str) -> list[Record]:
    """Disassociate every floating IP from a port (it is going away); returns them."""
    cleared = []
    for fip in store.list("floatingip", port_id=port_id):
        cleared.append(
            store.update(
                "floatingip",
                fip["id"],
                {
                    "port_id": None,
                    "fixed_ip_address": None,
                    "status": "DOWN",
                    "router_id": None,
                    "updated_at": utcnow(),
                },
            )
        )
    return cleared


# --- the external network ------------------------------------------------------------

_public_ready: set[str] = set()


def ensure_public(store: Store, client: docker.DockerClient | None = None) -> Record:
    """The `public` external network and subnet in the store (and Docker), once.

    Owned by the admin project, visible to all as router:external networks are.
    """
    key = str(store.path)
    found = [n for n in store.list("network", name=PUBLIC_NAME) if n.get("router:external")]
    if found and key in _public_ready:
        return found[0]
    with store.transaction():
        found = [n for n in store.list("network", name=PUBLIC_NAME) if n.get("router:external")]
        if found:
            net = found[0]
        else:
            admins = store.list("project", name="admin")
            owner = admins[0]["id"] if admins else ""
            net = store.insert(
                "network",
                {
                    **network_doc(),
                    "router:external": True,
                    "docker_network": PUBLIC_DOCKER_NETWORK,
                    "subnets": [],
                },
                project_id=owner,
                name=PUBLIC_NAME,
            )
            subnet = store.insert(
                "subnet",
                {
                    **subnet_doc(net["id"], PUBLIC_CIDR, PUBLIC_GATEWAY, [PUBLIC_POOL]),
                    "enable_dhcp": False,
                },
                project_id=owner,
                name="public-subnet",
            )
            net = store.update("network", net["id"], {"subnets": [subnet["id"]]})
    try:
        ensure_public_network(client or docker_client())
    except faults.Fault as exc:
        log.warning("public network not backed by Docker: %s", exc.message)
        return net
    _public_ready.add(key)
    return net


def network_doc() -> dict[str, Any]:
    now = utcnow()
    return {
        "admin_state_up": True,
        "status": "ACTIVE",
        "shared": False,
        "router:external": False,
        "mtu": 1500,
        "port_security_enabled": True,
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "is_default": False,
        "description": "",
        "tags": [],
        "updated_at": now,
        "revision_number": 0,
    }


def subnet_doc(
    network_id: str, cidr: str, gateway: str | None, pools: list[dict[str, str]]
) -> dict[str, Any]:
    now = utcnow()
    return {
        "network_id": network_id,
        "ip_version": 4,
        "cidr": cidr,
        "gateway_ip": gateway,
        "allocation_pools": pools,
        "enable_dhcp": True,
        "dns_nameservers": [],
        "host_routes": [],
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "subnetpool_id": None,
        "service_types": [],
        "description": "",
        "tags": [],
        "updated_at": now,
        "revision_number": 0,
    }
