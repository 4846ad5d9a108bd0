"""Neutron's data plane on Docker, IP allocation, and the calls Nova (compute.py) makes.

Every Neutron network with a subnet is a Docker bridge network "lc-net-<network id>"
with the subnet's CIDR and gateway (created with the first subnet, removed with the
last). The external network `public` (172.24.4.0/24, as in DevStack) is the bridge
"lc-public"; the host holds its gateway 172.24.4.1, so the host reaches floating IPs
directly and servers reach the host (and localcloud's APIs) at that address.

Neutron allocates addresses, not Docker: ports are records with fixed_ips chosen here
from the subnet's allocation pools, and containers are attached with exactly those
addresses (`ipv4_address`). Floating IPs and router gateways are ports too (device
owners network:floatingip / network:router_gateway), so one allocator sees every
address in use.

The calls compute makes (prepare_server_ports, ...) are in network_servers.py.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from cloudhp_localcloud import dockerlabels, faults
from cloudhp_localcloud.store import Record, Store, utcnow

log = logging.getLogger(__name__)

LABEL = "cloudhp.localcloud"
PUBLIC_NAME = "public"
PUBLIC_DOCKER_NETWORK = "lc-public"
PUBLIC_CIDR = "172.24.4.0/24"
PUBLIC_GATEWAY = "172.24.4.1"
PUBLIC_POOL = {"start": "172.24.4.2", "end": "172.24.4.254"}

OWNER_COMPUTE = "compute:nova"
OWNER_FIP = "network:floatingip"
OWNER_ROUTER_GW = "network:router_gateway"
OWNER_ROUTER_IF = "network:router_interface"

_client: docker.DockerClient | None = None
_client_lock = threading.Lock()


@dataclass
class PortBinding:
    """Where a server container plugs in: Docker network, address, Neutron port."""

    docker_network: str
    ip: str
    port_id: str
    mac: str | None = None


def server_container(server_id: str) -> str:
    return f"lc-server-{server_id}"


def server_labels(server_id: str) -> dict[str, str]:
    return dockerlabels.labels("server", server=server_id)


def docker_network_name(network_id: str) -> str:
    return f"lc-net-{network_id}"


# --- Docker --------------------------------------------------------------------------


def cached_client() -> docker.DockerClient | None:
    """The engine if one was connected already (cleanup paths must not need Docker)."""
    return _client


def set_docker_client(client: docker.DockerClient | None) -> None:
    """Use this client (tests), or None to go back to the local engine."""
    global _client
    _client = client


def docker_client() -> docker.DockerClient:
    """The local engine, connected on first use.

    Raises:
        faults.ServiceUnavailable: no Docker engine, so networks cannot be made real.
    """
    global _client
    with _client_lock:
        if _client is None:
            from cloudhp.errors import CloudhpError
            from cloudhp.images.engine import local_engine

            try:
                _client = local_engine()
            except CloudhpError as exc:
                raise faults.ServiceUnavailable(f"Docker engine unavailable: {exc}") from exc
        return _client


def ensure_bridge(
    client: docker.DockerClient, name: str, cidr: str, gateway: str | None, network_id: str
) -> None:
    """Create the bridge for a network unless it exists (idempotent).

    Raises:
        faults.Conflict: Docker refuses the CIDR because another network overlaps it.
    """
    if any(
        n.name == name for n in client.networks.list(names=[name])
    ):  # names= is a substring filter
        return
    pool = docker.types.IPAMPool(subnet=cidr, gateway=gateway) if gateway else None
    ipam = docker.types.IPAMConfig(pool_configs=[pool or docker.types.IPAMPool(subnet=cidr)])
    try:
        client.networks.create(
            name,
            driver="bridge",
            ipam=ipam,
            # The public bridge is shared by every localcloud on this engine.
            labels={LABEL: "network", f"{LABEL}.network": network_id}
            if name == PUBLIC_DOCKER_NETWORK
            else dockerlabels.labels("network", network=network_id),
            check_duplicate=True,
        )
    except docker.errors.APIError as exc:
        if "overlap" in str(exc).lower():
            raise faults.Conflict(
                f"Subnet {cidr} overlaps with another network on this Docker engine; "
                "localcloud networks share one address space.",
                kind="InvalidInput",
            ) from exc
        raise


def remove_bridge(client: docker.DockerClient, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.networks.get(name).remove()


def ensure_public_network(client: docker.DockerClient) -> str:
    """Create "lc-public" (172.24.4.0/24) idempotently; returns the host's gateway IP.

    The daemon binds an extra listener on the returned address so servers can reach
    the APIs (Heat signals) without a route to the host's loopback.
    """
    ensure_bridge(client, PUBLIC_DOCKER_NETWORK, PUBLIC_CIDR, PUBLIC_GATEWAY, PUBLIC_NAME)
    return PUBLIC_GATEWAY


def connect_container(client: docker.DockerClient, server_id: str, network: str, ip: str) -> bool:
    """Plug a server's container into `network` at `ip`; False if no container yet."""
    try:
        container = client.containers.get(server_container(server_id))
    except docker.errors.NotFound:
        return False
    attached = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
    if network in attached:
        if attached[network].get("IPAMConfig", {}).get("IPv4Address") == ip:
            return True
        raise faults.Conflict(
            f"Server {server_id} already has an address on {network}; localcloud gives "
            "a server at most one floating IP.",
            kind="FloatingIPSetInUse",
        )
    client.api.connect_container_to_network(container.id, network, ipv4_address=ip)
    return True


def disconnect_container(client: docker.DockerClient, server_id: str, network: str) -> None:
    try:
        client.api.disconnect_container_from_network(server_container(server_id), network)
    except docker.errors.APIError as exc:  # NotFound included: already gone is fine
        log.debug("disconnect %s from %s: %s", server_id, network, exc)


def remove_labelled_networks(client: docker.DockerClient, data_dir: Path) -> int:
    """Reset hook body: this instance's networks (their containers are gone by now).

    lc-public stays: every localcloud on this engine shares it and listens on its
    gateway, so removing it would cut off the others (`docker network rm lc-public`
    removes it by hand once no localcloud runs).
    """
    count = 0
    for net in client.networks.list(filters={"label": dockerlabels.instance_filter(data_dir)}):
        net.reload()
        for cid in net.attrs.get("Containers") or {}:
            with contextlib.suppress(docker.errors.APIError):
                net.disconnect(cid, force=True)
        net.remove()
        count += 1
    return count


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
    from cloudhp_localcloud.network_security import ensure_default_group

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
