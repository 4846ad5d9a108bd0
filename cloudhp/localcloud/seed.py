"""What DevStack's stack.sh leaves in the demo project: a private network and a router.

Created through the public API as the demo user, once, right after the daemon starts,
so `cloudhp init --cloud local` finds "the only private network" and can put a
floating IP on it, as on a fresh DevStack.
"""

from __future__ import annotations

import logging

import openstack

from cloudhp.localcloud.config import CLOUD_NAME, LocalCloudConfig, read_clouds_yaml

log = logging.getLogger(__name__)

NETWORK = "private"
SUBNET = "private-subnet"
CIDR = "10.0.0.0/24"
ROUTER = "router1"


def seed_demo_project(config: LocalCloudConfig) -> bool:
    """Create the demo project's network, subnet and router if missing; True if it did."""
    entry = read_clouds_yaml(config.credentials_path)["clouds"][CLOUD_NAME]
    auth = dict(entry["auth"], auth_url=config.auth_url)
    conn = openstack.connect(
        load_yaml_config=False, load_envvars=False, identity_api_version="3",
        region_name=config.region, **auth,
    )  # fmt: skip
    if conn.network.find_network(NETWORK) is not None:
        return False
    net = conn.network.create_network(name=NETWORK)
    subnet = conn.network.create_subnet(
        name=SUBNET, network_id=net.id, ip_version=4, cidr=CIDR, gateway_ip="10.0.0.1"
    )
    public = conn.network.find_network("public")
    router = conn.network.create_router(
        name=ROUTER, external_gateway_info={"network_id": public.id} if public else None
    )
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    log.info("seeded the demo project's network %s (%s) and %s", NETWORK, CIDR, ROUTER)
    return True
