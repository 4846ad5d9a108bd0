"""What compute (Nova) asks of Neutron: ports for a new server, and its addresses.

    prepare_server_ports(store, project_id, server_id, requested) -> [PortBinding]
    release_server_ports(store, server_id) -> None
    server_addresses(store, server_id) -> Nova "addresses" dict
    enforce_security_groups(store, server_id) -> None   once its container (re)started
    refresh_security_groups(store, server_ids) -> None  in the background (reconcile)

Server containers are named `dockerlabels.server_container(server_id)`
("lc-server-<id>"). The first binding is the container's network at create; each
further one is a `docker network connect` (a floating IP already associated with a
pre-existing port comes back as a binding on "lc-public"). Faults raised here render in the caller's
(Nova's) style, with Nova's messages.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import docker

from cloudhp_localcloud import faults
from cloudhp_localcloud.network import enforce
from cloudhp_localcloud.network.addresses import (
    OWNER_COMPUTE,
    clear_floating_ips,
    default_security_group,
    ensure_public,
    network_subnets,
    new_port,
)
from cloudhp_localcloud.network.bridges import (
    PUBLIC_DOCKER_NETWORK,
    cached_client,
    disconnect_container,
    docker_client,
    docker_network_name,
    ensure_bridge,
)
from cloudhp_localcloud.store import Record, Store, utcnow


@dataclass
class PortBinding:
    """Where a server container plugs in: Docker network, address, Neutron port."""

    docker_network: str
    ip: str
    port_id: str
    mac: str | None = None


def _compute_network(store: Store, project_id: str, network_id: str) -> Record:
    net = store.get("network", network_id)
    if net is None or not (
        net["project_id"] == project_id or net.get("shared") or net.get("router:external")
    ):
        raise faults.BadRequest(f"Network {network_id} could not be found.")
    if net.get("router:external") and not net.get("shared") and net["project_id"] != project_id:
        raise faults.Forbidden(
            f"It is not allowed to create an interface on external network {network_id}"
        )
    if not network_subnets(store, network_id):
        raise faults.BadRequest(
            f"Network {network_id} requires a subnet in order to boot instances on."
        )
    return net


def _auto_network(store: Store, project_id: str) -> str:
    candidates = [
        n
        for n in store.list("network", project_id=project_id)
        if not n.get("router:external") and network_subnets(store, n["id"])
    ]
    if not candidates:
        raise faults.BadRequest(
            f"Unable to automatically allocate a network for project {project_id}"
        )
    if len(candidates) > 1:
        raise faults.Conflict(
            "Multiple possible networks found, use a Network ID to be more specific."
        )
    return candidates[0]["id"]


def prepare_server_ports(
    store: Store,
    project_id: str,
    server_id: str,
    requested: list[dict[str, Any]] | str,
    security_groups: list[str] | None = None,
) -> list[PortBinding]:
    """Create or bind the Neutron ports of a new server, in Nova's `networks` order.

    `requested` is Nova's value: [{"uuid": ...}, {"port": ...}, {"uuid":, "fixed_ip":}],
    "auto" (the project's only private network) or "none". `security_groups` (names or
    ids) replaces the default group on ports created here. Nothing is left behind when
    one request fails.

    Raises:
        faults.BadRequest / Conflict / Forbidden: in Nova's words (unknown network,
            port in use, no subnet, ambiguous "auto").
    """
    if requested == "none":
        return []
    if requested == "auto" or not requested:
        requested = [{"uuid": _auto_network(store, project_id)}]
    if isinstance(requested, str):
        raise faults.BadRequest(f"Bad networks format: {requested!r}")
    ensure_public(store)
    client = docker_client()
    bindings: list[PortBinding] = []
    created: list[str] = []
    bound: list[str] = []
    try:
        with store.transaction():
            groups = _resolve_groups(store, project_id, security_groups)
            for item in requested:
                if item.get("port"):
                    port = _bind_existing(store, project_id, server_id, item["port"])
                    bound.append(port["id"])
                else:
                    net = _compute_network(store, project_id, str(item.get("uuid", "")))
                    fixed = [{"ip_address": item["fixed_ip"]}] if item.get("fixed_ip") else None
                    extra: dict[str, Any] = {"lc_created_for": server_id}
                    if groups:
                        extra["security_groups"] = groups
                    port = new_port(
                        store,
                        net,
                        project_id,
                        fixed_ips=fixed,
                        device_id=server_id,
                        device_owner=OWNER_COMPUTE,
                        extra=extra,
                    )
                    created.append(port["id"])
                bindings.extend(_bindings_for(store, client, port))
    except BaseException:
        for pid in created:
            store.delete("port", pid)
        for pid in bound:
            store.update("port", pid, {"device_id": "", "device_owner": "", "status": "DOWN"})
        raise
    enforce.changed(store, members_of=enforce.groups_of(store.list("port", device_id=server_id)))
    return bindings


def _resolve_groups(store: Store, project_id: str, wanted: list[str] | None) -> list[str]:
    if not wanted:
        return []
    out = []
    for ref in wanted:
        found = store.get("security_group", ref, project_id=project_id) or next(
            iter(store.list("security_group", project_id=project_id, name=ref)), None
        )
        if found is None and ref == "default":
            found = default_security_group(store, project_id)
        if found is None:
            raise faults.BadRequest(f"Security group {ref} not found for project {project_id}.")
        out.append(found["id"])
    return out


def _bind_existing(store: Store, project_id: str, server_id: str, port_id: str) -> Record:
    port = store.get("port", port_id)
    if port is None or port["project_id"] != project_id:
        raise faults.BadRequest(f"Port id {port_id} could not be found.")
    if port.get("device_id"):
        raise faults.Conflict(f"Port {port_id} is still in use.")
    if not port.get("fixed_ips"):
        raise faults.BadRequest(f"Port {port_id} requires a FixedIP in order to be used.")
    return store.update(
        "port",
        port_id,
        {
            "device_id": server_id,
            "device_owner": OWNER_COMPUTE,
            "status": "ACTIVE",
            "binding:host_id": "localcloud",
            "updated_at": utcnow(),
        },
    )


def _bindings_for(store: Store, client: docker.DockerClient, port: Record) -> list[PortBinding]:
    subnet = store.get("subnet", port["fixed_ips"][0]["subnet_id"])
    assert subnet is not None
    net = store.get("network", port["network_id"])
    assert net is not None
    docker_net = net.get("docker_network") or docker_network_name(net["id"])
    ensure_bridge(client, docker_net, subnet["cidr"], subnet.get("gateway_ip"), net["id"])
    out = [
        PortBinding(
            docker_net, port["fixed_ips"][0]["ip_address"], port["id"], port.get("mac_address")
        )
    ]
    for fip in store.list("floatingip", port_id=port["id"]):
        out.append(PortBinding(PUBLIC_DOCKER_NETWORK, fip["floating_ip_address"], port["id"]))
    return out


def release_server_ports(store: Store, server_id: str) -> None:
    """Delete the ports made for a server, unbind the ones it was given.

    Floating IPs on deleted ports stay allocated with no port, as in Neutron; the
    container's lc-public endpoint goes with the container (disconnected here too if
    the container still exists).
    """
    enforce.forget(server_id)
    with store.transaction():
        ports = store.list("port", device_id=server_id)
        had_fip = False
        for port in ports:
            if port.get("lc_created_for") == server_id:
                had_fip |= bool(clear_floating_ips(store, port["id"]))
                store.delete("port", port["id"])
            else:
                had_fip |= bool(store.list("floatingip", port_id=port["id"]))
                store.update(
                    "port",
                    port["id"],
                    {
                        "device_id": "",
                        "device_owner": "",
                        "status": "DOWN",
                        "binding:host_id": "",
                        "updated_at": utcnow(),
                    },
                )
    client = cached_client()
    if had_fip and client is not None:
        disconnect_container(client, server_id, PUBLIC_DOCKER_NETWORK)
    enforce.changed(store, members_of=enforce.groups_of(ports))


def enforce_security_groups(store: Store, server_id: str) -> None:
    """Load the server's security groups into its container, now.

    Compute calls this once the container has started (at boot, start and reboot: each
    start is a new network namespace, with no rules), before the server is ACTIVE.

    Raises:
        enforce.EnforcementError: The container refused the rules.
    """
    enforce.apply(store, server_id)


def refresh_security_groups(store: Store, server_ids: list[str]) -> None:
    """Re-apply these servers' rules in the background (after a daemon restart)."""
    enforce.changed(store, servers=server_ids)


def server_addresses(store: Store, server_id: str) -> dict[str, list[dict[str, Any]]]:
    """Nova's `addresses`: {network name: [fixed then floating entries]}."""
    out: dict[str, list[dict[str, Any]]] = {}
    for port in store.list("port", device_id=server_id):
        net = store.get("network", port["network_id"])
        name = (net or {}).get("name") or port["network_id"]
        entries = out.setdefault(name, [])
        mac = port.get("mac_address")
        for fixed in port.get("fixed_ips", []):
            version = ipaddress.ip_address(fixed["ip_address"]).version
            entries.append(
                {
                    "version": version,
                    "addr": fixed["ip_address"],
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": mac,
                }
            )
        for fip in store.list("floatingip", port_id=port["id"]):
            entries.append(
                {
                    "version": 4,
                    "addr": fip["floating_ip_address"],
                    "OS-EXT-IPS:type": "floating",
                    "OS-EXT-IPS-MAC:mac_addr": mac,
                }
            )
    return out
