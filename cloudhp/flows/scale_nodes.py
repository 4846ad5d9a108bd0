"""Scaling a cluster in: what `cloudhp init` (and `cloudhp scale-nodes`, which runs
init with the recorded spec and new counts) does when the spec asks for fewer nodes.

Scaling out needs nothing here: init's servers and swarm phases create and join what
is missing. Scaling in reads first and acts only when every check passed: which nodes
go (`cloudhp.steps.scale_plan`), whether the rest can hold the services' memory
reservations (`cloudhp.steps.capacity`), and whether each manager demotion keeps the
Raft majority (`cloudhp.steps.quorum`). Then managers are demoted one at a time, and
each leaving node is drained, leaves the Swarm, and its server is deleted, the record
updated after each so that `status`, `ssh` and `deploy` never see a node that is gone.
When the spec asks for no fewer nodes, nothing is read over SSH at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from openstack.compute.v2.server import Server

from cloudhp.cloud.calls import cloud_call
from cloudhp.context import ClusterContext
from cloudhp.naming import resource_name
from cloudhp.remote.ssh import SSHRunner
from cloudhp.steps.capacity import capacity_after, read_reservations, refuse_unless_fits
from cloudhp.steps.drain import drain, leave_and_forget
from cloudhp.steps.quorum import demote, demotion_plan
from cloudhp.steps.scale_plan import Candidate, plan_removal
from cloudhp.steps.servers import Node, cluster_servers, fixed_ip, floating_ip
from cloudhp.steps.swarm_nodes import running_tasks, swarm_nodes

DELETE_TIMEOUT = 300.0

Connect = Callable[[list[Node]], dict[str, SSHRunner]]
"""Pins the nodes' host keys (from their consoles, as init does) and opens runners."""


def _node(
    ctx: ClusterContext, server: Server, recorded: dict[str, dict[str, object]]
) -> Node | None:
    """The cluster node `server` is, or None for a server that is not one (a builder)."""
    for role in ("manager", "worker"):
        prefix = resource_name(ctx.spec.name, role) + "-"
        number = server.name.removeprefix(prefix)
        if server.name.startswith(prefix) and number.isdigit():
            net = ctx.need_resolved().network_name
            return Node(
                server.name,
                role,
                int(number),
                bool((recorded.get(server.name) or {}).get("ingress")),
                server.id,
                server.status,
                fixed_ip(server, net),
                floating_ip(server),
            )
    return None


def scale_in(ctx: ClusterContext, connect: Connect, timeout: float = 300.0) -> list[str]:
    """Remove the nodes the spec no longer asks for; returns their names ([]: none).

    Raises:
        CapacityShortfall: the nodes left could not hold the services' memory
            reservations (exit 4); nothing was changed.
        QuorumAtRisk: a manager is unreachable, so a demotion could lose the Raft
            majority (exit 4); nothing was changed, or only managers already demoted.
        ConflictError: not enough nodes of a role may go (the lead, ingress nodes).
        DeployFailed: a drained node's tasks did not run elsewhere within `timeout`.
    """
    spec = ctx.spec
    with cloud_call("listing the cluster's servers"):
        servers = cluster_servers(ctx)
    recorded = {str(n["name"]): n for n in ctx.files.read_record().get("nodes") or []}
    nodes = [n for n in (_node(ctx, s, recorded) for s in servers.values()) if n is not None]
    have = Counter(n.role for n in nodes)
    if have["manager"] <= spec.managers and have["worker"] <= spec.workers:
        return []
    runners = connect(nodes)
    first = min((n for n in nodes if n.role == "manager"), key=lambda n: n.index)
    lead = runners[first.name]
    in_swarm = swarm_nodes(lead)
    tasks = running_tasks(lead, [n.id for n in in_swarm.values()])
    labelled = {h for h, sn in in_swarm.items() if sn.labels.get("cloudhp.ingress") == "true"}
    candidates = [
        Candidate(
            n.name,
            n.role,
            n.index,
            tasks[n.name],
            ingress=n.ingress or n.name in labelled,
            floating_ip=n.floating_ip is not None,
            lead=n is first,
        )
        for n in nodes
    ]
    removal = plan_removal(candidates, spec.managers, spec.workers)
    remaining = {
        host: sn.memory_bytes
        for host, sn in in_swarm.items()
        if host not in removal.nodes and sn.schedulable
    }
    capacity = capacity_after(read_reservations(lead), remaining)
    refuse_unless_fits(capacity, removal.nodes, remaining)
    ctx.reporter.step(
        f"removing {', '.join(removal.nodes)}: {capacity.available_bytes // 2**20} MiB left "
        f"for {capacity.needed_bytes // 2**20} MiB of reservations"
    )
    managing = [m for m in removal.managers if m in in_swarm and in_swarm[m].role == "manager"]
    count = sum(1 for sn in in_swarm.values() if sn.role == "manager")
    for step in demotion_plan(managing, count):
        ctx.reporter.step(
            f"demoting {step.node}: managers {step.managers_before} -> {step.managers_after}"
            + (f" (toward {step.toward})" if step.toward != step.managers_after else "")
        )
        demote(lead, step)
    for name in removal.nodes:
        _remove(ctx, lead, runners.get(name), servers[name], timeout)
    return list(removal.nodes)


def _remove(
    ctx: ClusterContext, lead: SSHRunner, on_node: SSHRunner | None, server: Server, timeout: float
) -> None:
    say = ctx.reporter.step
    found = swarm_nodes(lead).get(server.name)
    if found is not None:
        drain(lead, found, timeout, say)
        leave_and_forget(lead, found, on_node, say)
    if on_node is not None:
        on_node.close()
    say(f"deleting server {server.name}")
    with cloud_call(f"deleting server {server.name}"):
        ctx.conn.compute.delete_server(server)
        ctx.conn.compute.wait_for_delete(server, wait=DELETE_TIMEOUT)
    record = ctx.files.read_record()
    kept = [n for n in record.get("nodes") or [] if n.get("name") != server.name]
    ctx.files.update_record(nodes=kept)
