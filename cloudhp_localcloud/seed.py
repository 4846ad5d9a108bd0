"""What DevStack's stack.sh leaves in the demo project: a private network and a router.

Created through the public API as the demo user right after the daemon starts, so
`cloudhp init --cloud local` finds "the only private network" and can put a floating IP
on it, as on a fresh DevStack. Each piece is checked on its own, so a start that was cut
short is completed by the next one. Several localclouds may share one Docker engine,
whose bridges cannot overlap: the subnet takes the first free CIDR of a short list.
"""

from __future__ import annotations

import logging
from typing import Any

import openstack
import openstack.exceptions

from cloudhp_localcloud.config import CLOUD_NAME, LocalCloudConfig, read_clouds_yaml

log = logging.getLogger(__name__)

NETWORK = "private"
SUBNET = "private-subnet"
CIDRS = [f"10.0.{i}.0/24" for i in range(0, 32)]
ROUTER = "router1"


def seed_demo_project(config: LocalCloudConfig) -> bool:
    """Create what is missing of the demo network, subnet and router; True if anything."""
    entry = read_clouds_yaml(config.credentials_path)["clouds"][CLOUD_NAME]
    auth = dict(entry["auth"], auth_url=config.auth_url)
    conn = openstack.connect(
        load_yaml_config=False, load_envvars=False, identity_api_version="3",
        region_name=config.region, **auth,
    )  # fmt: skip
    net = conn.network
    changed = False
    network = net.find_network(NETWORK)
    if network is None:
        network = net.create_network(name=NETWORK)
        changed = True
    subnet = net.find_subnet(SUBNET)
    if subnet is None:
        subnet = _create_subnet(conn, network.id)
        changed = True
    router = net.find_router(ROUTER)
    if router is None:
        public = net.find_network("public")
        router = net.create_router(
            name=ROUTER, external_gateway_info={"network_id": public.id} if public else None
        )
        net.add_interface_to_router(router, subnet=subnet.id)
        changed = True
    if changed:
        log.info("seeded the demo project's %s (%s) and %s", NETWORK, subnet.cidr, ROUTER)
    return changed


def _create_subnet(conn: openstack.connection.Connection, network_id: str) -> Any:
    for cidr in CIDRS:
        gateway = cidr.replace(".0/24", ".1")
        try:
            return conn.network.create_subnet(
                name=SUBNET, network_id=network_id, ip_version=4, cidr=cidr, gateway_ip=gateway
            )
        except openstack.exceptions.ConflictException:
            continue  # another network on this Docker engine has it
    raise RuntimeError(f"no free CIDR for {SUBNET} among {CIDRS[0]} .. {CIDRS[-1]}")
