"""Neutron's data plane: Docker bridge networks, and servers plugged into them.

Every Neutron network with a subnet is a Docker bridge network "lc-net-<network id>"
with the subnet's CIDR and gateway (created with the first subnet, removed with the
last). The external network `public` (172.24.4.0/24, as in DevStack) is the bridge
"lc-public"; the host holds its gateway 172.24.4.1, so the host reaches floating IPs
directly and servers reach the host (and localcloud's APIs) at that address.

The daemon calls `ensure_public_network(client) -> "172.24.4.1"` before it listens
(server.py binds a listener there, reachable from every server). The reset removes
this instance's networks (`remove_docker_networks`); lc-public stays.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

import docker
import docker.errors

from cloudhp_localcloud import dockerlabels, faults
from cloudhp_localcloud.config import LocalCloudConfig

log = logging.getLogger(__name__)

PUBLIC_DOCKER_NETWORK = "lc-public"
PUBLIC_NAME = "public"  # its Neutron network, made on first use (addresses.ensure_public)
PUBLIC_CIDR = "172.24.4.0/24"
PUBLIC_GATEWAY = "172.24.4.1"

_client: docker.DockerClient | None = None
_client_lock = threading.Lock()


def docker_network_name(network_id: str) -> str:
    return f"lc-net-{network_id}"


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
            labels={dockerlabels.LABEL: "network", f"{dockerlabels.LABEL}.network": network_id}
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
        container = client.containers.get(dockerlabels.server_container(server_id))
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
        client.api.disconnect_container_from_network(
            dockerlabels.server_container(server_id), network
        )
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


def remove_docker_networks(config: LocalCloudConfig) -> None:
    """Reset: remove this instance's Docker networks (lc-net-*; lc-public stays).

    Last in the reset order (registry.py): the server containers on them are gone.
    """
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException:
        return  # no engine, nothing of ours on it to remove
    remove_labelled_networks(client, config.data_dir)
