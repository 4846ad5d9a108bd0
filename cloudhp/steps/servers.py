"""Cluster nodes as Nova servers: created in parallel, watched by one shared wait loop.

Creation calls go out with bounded concurrency; then a single loop lists the cluster's
servers (by tag) every few seconds instead of one poller per server. A server that ends
in ERROR, or is still in BUILD after `BUILD_DEADLINE` (a lost boot on a busy
hypervisor, which Nova may never time out), is deleted and created again once; a second
failure fails the run with Nova's fault message or the time it spent building.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Collection
from dataclasses import dataclass

from openstack.compute.v2.server import Server

from cloudhp.cloud.calls import cloud_call
from cloudhp.context import ClusterContext
from cloudhp.errors import CloudhpError
from cloudhp.naming import resource_name
from cloudhp.polling import poll
from cloudhp.remote.parallel import in_parallel

CREATE_CONCURRENCY = 4
POLL_SECONDS = 2.0
BUILD_DEADLINE = 300.0
"""Seconds a server may stay in BUILD (counted from when this run first saw it so)."""


@dataclass(frozen=True)
class WantedNode:
    name: str
    role: str  # "manager" or "worker"
    index: int
    ingress: bool


@dataclass
class Node:
    name: str
    role: str
    index: int
    ingress: bool
    server_id: str
    status: str
    private_ip: str | None = None
    floating_ip: str | None = None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def wanted_nodes(
    managers: int,
    workers: int,
    ingress_nodes: int,
    cluster: str,
    existing: Collection[str] = (),
) -> list[WantedNode]:
    """The nodes a spec asks for; ingress goes on the first managers, then workers.

    Nodes that exist (by name in `existing`) keep their numbers and new ones take the
    lowest free numbers, because scaling in removes the nodes with the fewest tasks,
    not the last ones: `worker-1` may be gone while `worker-2` stays.
    """

    def numbers(role: str, count: int) -> list[int]:
        prefix = resource_name(cluster, role) + "-"
        found = (n.removeprefix(prefix) for n in existing if n.startswith(prefix))
        kept = sorted(int(i) for i in found if i.isdigit())[:count]
        free = (i for i in itertools.count(1) if i not in kept)
        return sorted(kept + [next(free) for _ in range(count - len(kept))])

    nodes = [
        WantedNode(resource_name(cluster, "manager", i), "manager", i, False)
        for i in numbers("manager", managers)
    ] + [
        WantedNode(resource_name(cluster, "worker", i), "worker", i, False)
        for i in numbers("worker", workers)
    ]
    return [
        WantedNode(n.name, n.role, n.index, ingress=i < ingress_nodes) for i, n in enumerate(nodes)
    ]


def fixed_ip(server: Server, network_name: str) -> str | None:
    for addr in (server.addresses or {}).get(network_name, []):
        if addr.get("OS-EXT-IPS:type", "fixed") == "fixed" and addr.get("version", 4) == 4:
            return str(addr["addr"])
    return None


def floating_ip(server: Server) -> str | None:
    for addrs in (server.addresses or {}).values():
        for addr in addrs:
            if addr.get("OS-EXT-IPS:type") == "floating":
                return str(addr["addr"])
    return None


def cluster_servers(ctx: ClusterContext) -> dict[str, Server]:
    return {s.name: s for s in ctx.conn.compute.servers(details=True, tags=ctx.tag)}


def _create(
    ctx: ClusterContext, node: WantedNode, image_id: str, key_name: str, sgs: dict[str, str]
) -> None:
    res = ctx.need_resolved()
    groups = [sgs["swarm"], sgs["ssh"]] + ([sgs["ingress"]] if node.ingress else [])
    with cloud_call(f"creating server {node.name}"):
        ctx.conn.compute.create_server(
            name=node.name,
            image_id=image_id,
            flavor_id=res.flavor_id,
            key_name=key_name,
            networks=[{"uuid": res.network_id}],
            security_groups=[{"name": g} for g in groups],
            tags=ctx.tags,
            metadata={"cloudhp-cluster": ctx.spec.name, "cloudhp-role": node.role},
        )


def ensure_servers(
    ctx: ClusterContext,
    image_id: str,
    key_name: str,
    security_groups: dict[str, str],
    timeout: float = 600.0,
    build_deadline: float = BUILD_DEADLINE,
) -> tuple[list[Node], bool]:
    """Make every wanted node exist and be ACTIVE; returns the nodes and whether any was made.

    `security_groups` maps role (swarm, ssh, ingress) to the group's name.
    """
    existing = cluster_servers(ctx)
    wanted = wanted_nodes(
        ctx.spec.managers, ctx.spec.workers, ctx.spec.ingress_nodes, ctx.spec.name, existing
    )
    attempts: dict[str, int] = {}
    missing = [n for n in wanted if n.name not in existing]
    for n in wanted:
        if n.name in existing and existing[n.name].status == "ERROR":
            _replace(ctx, existing[n.name], attempts, "in ERROR")
            missing.append(n)
    if missing:
        ctx.reporter.step(f"creating {len(missing)} servers")
        in_parallel(
            lambda n: _create(ctx, n, image_id, key_name, security_groups),
            missing,
            limit=CREATE_CONCURRENCY,
        )
    by_name = {n.name: n for n in wanted}

    building_since: dict[str, float] = {}

    def failure(server: Server) -> str | None:
        """Why `server` must be replaced, or None while it may still become ACTIVE."""
        if server.status == "ERROR":
            return str((server.fault or {}).get("message", "no fault reported"))
        if server.status != "BUILD":
            return None
        since = building_since.setdefault(server.id, time.monotonic())
        if time.monotonic() - since > build_deadline:
            return f"still in BUILD after {build_deadline:.0f}s"
        return None

    def look() -> dict[str, Server]:
        with cloud_call("listing the cluster's servers"):
            servers = cluster_servers(ctx)
        for name in by_name:
            why = failure(servers[name]) if name in servers else None
            if why is None:
                continue
            if attempts.get(name, 0) >= 1:
                raise CloudhpError(
                    f"server {name} failed twice: {why}",
                    hint="check the flavor and image, or the cloud's capacity",
                )
            _replace(ctx, servers[name], attempts, why)
            _create(ctx, by_name[name], image_id, key_name, security_groups)
        return servers

    def all_active(servers: dict[str, Server]) -> bool:
        active = sum(1 for name in by_name if name in servers and servers[name].status == "ACTIVE")
        ctx.reporter.step(f"{active}/{len(wanted)} servers ACTIVE")
        return active == len(wanted)

    servers = poll(
        look,
        all_active,
        timeout=timeout,
        interval=POLL_SECONDS,
        what=f"{len(wanted)} servers becoming ACTIVE",
    )
    net = ctx.need_resolved().network_name
    nodes = [
        Node(
            w.name,
            w.role,
            w.index,
            w.ingress,
            servers[w.name].id,
            servers[w.name].status,
            fixed_ip(servers[w.name], net),
            floating_ip(servers[w.name]),
        )
        for w in wanted
    ]
    return nodes, bool(missing or attempts)


def _replace(ctx: ClusterContext, server: Server, attempts: dict[str, int], why: str) -> None:
    ctx.reporter.step(f"server {server.name} failed ({why}); replacing it")
    attempts[server.name] = attempts.get(server.name, 0) + 1
    with cloud_call(f"replacing server {server.name}"):
        ctx.conn.compute.delete_server(server)
        ctx.conn.compute.wait_for_delete(server, wait=120)
