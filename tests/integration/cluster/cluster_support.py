"""Helpers for the cluster step tests, importable from test modules (conftest is not)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import openstack.exceptions as os_exc
from openstack.connection import Connection

from cloudhp.context import ClusterContext
from cloudhp.steps.preflight import preflight

PRIVATE_NET = "cluster-tests-net"


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:7]}"


def create_private_network(conn: Connection, name: str) -> tuple[Any, Any]:
    """A network and an IPv4 /24 subnet; the CIDR is random because all localclouds
    on this machine share one Docker engine, where bridge subnets may not overlap."""
    network = conn.network.create_network(name=name)
    last: Exception | None = None
    for _ in range(8):
        cidr = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}.0/24"
        try:
            subnet = conn.network.create_subnet(
                network_id=network.id, name=f"{name}-subnet", ip_version=4, cidr=cidr
            )
            return network, subnet
        except os_exc.HttpException as exc:  # overlaps another bridge: try another
            last = exc
    conn.network.delete_network(network)
    raise RuntimeError(f"could not create a subnet for {name}: {last}")


def delete_private_network(conn: Connection, network: Any) -> None:
    for port in conn.network.ports(network_id=network.id):
        conn.network.delete_port(port, ignore_missing=True)
    for subnet in conn.network.subnets(network_id=network.id):
        conn.network.delete_subnet(subnet, ignore_missing=True)
    conn.network.delete_network(network, ignore_missing=True)


def ready(make_ctx: Callable[..., ClusterContext], **values: Any) -> ClusterContext:
    """A fresh cluster's context through preflight, with the smallest flavor."""
    ctx = make_ctx(flavor="m1.tiny", **values)
    ctx.facts["bastion_address"] = "10.9.8.7"
    ctx.resolved = preflight(ctx)
    return ctx


def boot(
    conn: Connection, ctx: ClusterContext, name: str, tagged: bool, image_id: str | None = None
) -> Any:
    """A server on the cluster's network, from the base image unless told otherwise."""
    res = ctx.need_resolved()
    extra: dict[str, Any] = {"tags": [ctx.tag]} if tagged else {}
    return conn.compute.create_server(
        name=name,
        image_id=image_id or res.image_id,
        flavor_id=res.flavor_id,
        networks=[{"uuid": res.network_id}],
        **extra,
    )
