"""Scaling a cluster in: what `cloudhp init` (and `cloudhp scale-nodes`, which runs
init with the recorded spec and new counts) does when the spec asks for fewer nodes.

Scaling out needs nothing here: init's servers and swarm phases create and join what
is missing. Scaling in reads first and acts only when every check passed: which nodes
go (`cloudhp.steps.scale_plan`), whether the rest can hold the services' memory
reservations (`cloudhp.steps.capacity`), whether each manager demotion keeps the
Raft majority (`cloudhp.steps.quorum`), and where each Cinder volume on a leaving node
goes. Then each such volume is moved gracefully, as `cloudhp volume move` does (its
task stopped, the volume unmounted, detached, attached, mounted, the task started on
the node that stays), managers are demoted one at a time, the leaving nodes are
drained together (the capacity check counted them all gone), each leaves the Swarm,
the record forgets them (so `status`, `ssh` and `deploy` never pick a node that is
going) and their servers are deleted, never one with a volume still attached
(`cloudhp.steps.attached_volumes`). When the spec asks for no fewer nodes, nothing is
read over SSH at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from openstack.compute.v2.server import Server

from cloudhp.cloud.calls import cloud_call
from cloudhp.context import ClusterContext
from cloudhp.errors import CloudhpError, ConflictError
from cloudhp.flows.nodes import ClusterNodes, RecordedNode
from cloudhp.flows.volumes import move_volume
from cloudhp.naming import resource_name
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.ssh import SSHRunner
from cloudhp.steps.attached_volumes import (
    Attached,
    attached_to,
    read_attached,
    refuse_if_attached,
    still_attached,
)
from cloudhp.steps.capacity import MIB, capacity_after, read_reservations, refuse_unless_fits
from cloudhp.steps.drain import drain, leave_and_forget
from cloudhp.steps.quorum import Demotion, check_demotion, demote, demotion_plan
from cloudhp.steps.scale_plan import (
    Candidate,
    HeldVolume,
    Removal,
    VolumeMove,
    plan_removal,
    plan_volume_moves,
)
from cloudhp.steps.servers import Node, cluster_servers, fixed_ip, floating_ip
from cloudhp.steps.swarm_nodes import SwarmNode, running_tasks, swarm_nodes

DELETE_TIMEOUT = 300.0

Connect = Callable[[list[Node]], dict[str, SSHRunner]]
"""Pins the nodes' host keys (from their consoles, as init does) and opens runners."""


@dataclass
class ScaleIn:
    """What a scale-in did, for init's report: the nodes removed and, first, the
    volumes moved off them (each as `cloudhp volume move` reports it)."""

    removed: list[str] = field(default_factory=list)
    moved_volumes: list[dict[str, object]] = field(default_factory=list)


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


def scale_in(ctx: ClusterContext, connect: Connect, timeout: float = 300.0) -> ScaleIn:
    """Remove the nodes the spec no longer asks for; what was removed and moved.

    Raises:
        CapacityShortfall: the nodes left could not hold the services' memory
            reservations (exit 4); nothing was changed.
        QuorumAtRisk: a manager is unreachable, so a demotion could lose the Raft
            majority (exit 4); nothing was changed, or only managers already demoted.
        ConflictError: not enough nodes of a role may go (the lead, ingress nodes); a
            volume on a leaving node has nowhere to go, is mid-move, or is not the
            cluster's (nothing was changed); a volume's move failed, or a volume is
            still attached (no node was drained or deleted).
        DeployFailed: a drained node's tasks did not run elsewhere within `timeout`.
    """
    spec = ctx.spec
    with cloud_call("listing the cluster's servers"):
        servers = cluster_servers(ctx)
    recorded = {str(n["name"]): n for n in ctx.files.read_record().get("nodes") or []}
    nodes = [n for n in (_node(ctx, s, recorded) for s in servers.values()) if n is not None]
    have = Counter(n.role for n in nodes)
    if have["manager"] <= spec.managers and have["worker"] <= spec.workers:
        return ScaleIn()
    runners = connect(nodes)
    first = min((n for n in nodes if n.role == "manager"), key=lambda n: n.index)
    lead = runners[first.name]
    in_swarm = swarm_nodes(lead)
    try:
        removal, plan, moves = _checked_plan(ctx, lead, nodes, first, in_swarm)
    except ConflictError:
        # Refused before any change: the recorded spec stays the cluster's real one.
        as_is = replace(spec, managers=have["manager"], workers=have["worker"])
        ctx.files.update_record(spec=asdict(as_is))
        raise
    gone = [servers[name] for name in removal.nodes]
    result = ScaleIn(list(removal.nodes), _move_volumes(ctx, nodes, first, moves, timeout))
    refuse_if_attached(ctx.conn, spec.name, {s.name: s.id for s in gone}, "scale-in")
    for step in plan:
        ctx.reporter.step(
            f"demoting {step.node}: managers {step.managers_before} -> {step.managers_after}"
            + (f" (toward {step.toward})" if step.toward != step.managers_after else "")
        )
        demote(lead, step)
    _remove(ctx, lead, runners, gone, timeout)
    return result


def _checked_plan(
    ctx: ClusterContext,
    lead: SSHRunner,
    nodes: list[Node],
    first: Node,
    in_swarm: dict[str, SwarmNode],
) -> tuple[Removal, list[Demotion], tuple[VolumeMove, ...]]:
    """Which nodes go, the demotions and the volume moves, once every check passed;
    changes nothing."""
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
    removal = plan_removal(candidates, ctx.spec.managers, ctx.spec.workers)
    remaining = {
        host: sn.memory_bytes
        for host, sn in in_swarm.items()
        if host not in removal.nodes and sn.schedulable
    }
    capacity = capacity_after(read_reservations(lead), remaining)
    refuse_unless_fits(capacity, removal.nodes, remaining)
    managers = [sn for sn in in_swarm.values() if sn.role == "manager"]
    demoting = [n for n in removal.managers if n in {sn.hostname for sn in managers}]
    plan = demotion_plan(demoting, len(managers))
    if plan:
        check_demotion(list(in_swarm.values()), plan[0])
    staying = [c for c in candidates if c.name in remaining]
    moves = _volume_plan(ctx, nodes, removal, staying)
    ctx.reporter.step(
        f"removing {', '.join(removal.nodes)}: {capacity.available_bytes // MIB} MiB left "
        f"for {capacity.needed_bytes // MIB} MiB of reservations"
    )
    return removal, plan, moves


def held_volumes(volumes: list[Attached], nodes: list[Node]) -> list[HeldVolume]:
    """The cluster's volumes by the node holding them: attached there, else recorded
    there (a detached volume goes back to its recorded node on the next deploy)."""
    by_id = {n.server_id: n.name for n in nodes}
    held = []
    for volume in volumes:
        if volume.logical is None:
            continue
        node = by_id.get(volume.server_id or "") or volume.recorded_node
        if node:
            held.append(HeldVolume(volume.logical, node, volume.move))
    return held


def _volume_plan(
    ctx: ClusterContext, nodes: list[Node], removal: Removal, staying: list[Candidate]
) -> tuple[VolumeMove, ...]:
    """Where the leaving nodes' volumes go; refuses what cloudhp cannot move."""
    volumes = read_attached(ctx.conn, ctx.spec.name)
    leaving = {n.name: n.server_id for n in nodes if n.name in removal.nodes}
    foreign = [(n, v) for n, v in attached_to(volumes, leaving) if v.logical is None]
    if foreign:
        raise still_attached(foreign, "scale-in")
    return plan_volume_moves(held_volumes(volumes, nodes), set(leaving), staying)


def _move_volumes(
    ctx: ClusterContext,
    nodes: list[Node],
    first: Node,
    moves: tuple[VolumeMove, ...],
    timeout: float,
) -> list[dict[str, object]]:
    """Each move done as `cloudhp volume move` does it; a failure stops the scale-in
    before any node is drained.

    Raises:
        ConflictError: a move failed; it stays recorded on the volume (exit 4).
    """
    if not moves:
        return []
    recorded = [
        RecordedNode(n.name, n.role, n.private_ip or "", n.ingress, n.server_id, n.floating_ip)
        for n in sorted(nodes, key=lambda n: (n is not first, n.name))
    ]  # the lead first: ClusterNodes leads from its first manager
    cluster = ClusterNodes(ctx.files, recorded, ctx.spec.ssh_user)
    done: list[dict[str, object]] = []
    try:
        for move in moves:
            ctx.reporter.step(f"moving volume {move.volume} off {move.from_node} to {move.to_node}")
            try:
                report = move_volume(
                    ctx.conn, cluster, move.volume, move.to_node, ctx.reporter, timeout
                )
            except CloudhpError as exc:
                raise ConflictError(
                    f"scale-in stopped: volume {move.volume} did not move from "
                    f"{move.from_node} to {move.to_node} ({exc.message}); no node was "
                    "drained or deleted",
                    hint=f"`cloudhp volume move {move.volume} --to {move.to_node}` completes "
                    "the move; then run the scale-in again",
                ) from exc
            done.append(report.to_dict())
    finally:
        cluster.close()
    return done


def _remove(
    ctx: ClusterContext,
    lead: SSHRunner,
    runners: dict[str, SSHRunner],
    gone: list[Server],
    timeout: float,
) -> None:
    """Drain the nodes, let each leave, forget them in the record, delete their servers."""
    say = ctx.reporter.step
    in_swarm = swarm_nodes(lead)
    leaving = [in_swarm[s.name] for s in gone if s.name in in_swarm]
    drain(lead, leaving, timeout, say)
    for node in leaving:
        leave_and_forget(lead, node, runners.get(node.hostname), say)
    for server in gone:
        if server.name in runners:
            runners[server.name].close()
    names = {s.name for s in gone}
    record = ctx.files.read_record()
    ctx.files.update_record(
        nodes=[n for n in record.get("nodes") or [] if n.get("name") not in names]
    )

    def delete(server: Server) -> None:
        with cloud_call(f"deleting server {server.name}"):
            ctx.conn.compute.delete_server(server)
            ctx.conn.compute.wait_for_delete(server, wait=DELETE_TIMEOUT)

    # Checked again at the last moment: no deletion detaches a volume behind Nova's word.
    refuse_if_attached(ctx.conn, ctx.spec.name, {s.name: s.id for s in gone}, "scale-in")
    say(f"deleting servers {', '.join(sorted(names))}")
    in_parallel(delete, gone)
