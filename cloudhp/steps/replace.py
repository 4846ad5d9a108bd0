"""Clearing lost nodes out of the way, so that init can create them afresh.

Read: the cluster's servers (by tag) and the Swarm as the first manager that answers
sees it, with that manager's clock (Down times are the Swarm's, never this machine's).
Compare: `cloudhp.steps.health`. Act: remove the dead Swarm entries (a manager demoted
first, each removal checked against the Raft majority) and delete the lost servers.
Creating a replacement, pinning its host keys, joining and labelling it are then init's
ordinary work on a missing node. The `cloudhp.*` labels a dead node had wait in the
cluster record until its replacement carries them, so an interrupted repair loses none.

A lost node that still has a volume attached is not replaced: moving a volume off a
lost node is the volume controller's work (`cloudhp watch`: fence through Nova, detach,
attach, check, mount, each step recorded), and deleting the server would have Nova
detach it with none of that. So nothing is changed, and the error names the command
that moves the volume (`cloudhp.steps.attached_volumes.left_to_the_controller`); the
dry run refuses the same.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass

import paramiko
from openstack.compute.v2.server import Server

from cloudhp.cloud.calls import cloud_call
from cloudhp.commands.swarm import demote_command, remove_node_command
from cloudhp.context import ClusterContext
from cloudhp.errors import CloudhpError
from cloudhp.remote.hostkeys import KnownHosts
from cloudhp.remote.runner import Runner
from cloudhp.remote.ssh import SSHRunner
from cloudhp.state import ClusterFiles
from cloudhp.steps.attached_volumes import attached_to, left_to_the_controller, read_attached
from cloudhp.steps.health import (
    Health,
    Quorum,
    classify,
    quorum_lost,
    quorum_of,
    removal_order,
)
from cloudhp.steps.health import Server as ServerState
from cloudhp.steps.servers import cluster_servers
from cloudhp.steps.swarm_nodes import SwarmNode, parse_node, parse_time

CONNECT_TIMEOUT = 5.0
"""A dead manager's address is skipped after this long: the next one is asked."""
CARRIED = "carried_labels"
SWARM_VIEW = (
    "date -u +%Y-%m-%dT%H:%M:%S.%NZ && ids=$(timeout 30 docker node ls -q) && "
    "timeout 30 docker node inspect $ids"
)
"""A manager without a leader may answer `docker node ls` with an error or not at all
while Raft elects in vain: bounded, so that it counts as leaderless, not unreachable."""
NO_SWARM = ("not a swarm manager", "not part of a swarm")
_UNREACHABLE = (CloudhpError, OSError, EOFError, paramiko.SSHException)


@dataclass(frozen=True)
class Inspection:
    health: Health
    lead: str | None  # the manager that answered; None when no Swarm was found
    quorum: Quorum | None
    swarm: tuple[SwarmNode, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "lead": self.lead,
            "quorum": None if self.quorum is None else str(self.quorum),
            "quorum_holds": None if self.quorum is None else self.quorum.holds,
            "repairs": [r.to_dict() for r in self.health.repairs],
            "watching": self.health.watching,
        }


def read_swarm(managers: Sequence[tuple[str, Runner]]) -> tuple[str, str, list[SwarmNode]] | None:
    """(manager, its clock, the Swarm's nodes) from the first manager that answers.

    Raises:
        QuorumLost: managers answer, but none of them can list the Swarm's nodes
            (no leader, or none elected within the command's bound).
    """
    leaderless: list[str] = []
    for name, runner in managers:
        try:
            found = runner.run(SWARM_VIEW, check=False, timeout=60)
        except _UNREACHABLE:
            continue
        if found.exited == 0:
            clock, _, docs = found.stdout.partition("\n")
            return name, clock, [parse_node(doc) for doc in json.loads(docs)]
        if not any(text in found.stderr for text in NO_SWARM):
            leaderless.append(name)  # in a Swarm, and cannot list it: no leader
    if leaderless:
        raise quorum_lost(None, leaderless)
    return None


def _address(server: Server) -> str | None:
    for addrs in (server.addresses or {}).values():
        for addr in addrs:
            if addr.get("OS-EXT-IPS:type", "fixed") == "fixed" and addr.get("version", 4) == 4:
                return str(addr["addr"])
    return None


def heal(ctx: ClusterContext, down_after: float, *, dry_run: bool = False) -> Inspection:
    """Find the lost nodes and (unless `dry_run`) clear them away; what was found.

    The nodes looked at are the ones the cluster has had, by the record and by the
    cloud's tag, not the spec's count: a node scaled in is no node to repair.
    """
    with cloud_call("listing the cluster's servers"):
        servers = {
            name: s
            for name, s in cluster_servers(ctx).items()
            if (s.metadata or {}).get("cloudhp-role") in ("manager", "worker")
        }
    recorded = [n for n in ctx.files.read_record().get("nodes") or [] if isinstance(n, dict)]
    roles = {name: str(s.metadata["cloudhp-role"]) for name, s in servers.items()}
    roles |= {str(n["name"]): str(n.get("role")) for n in recorded}
    members = sorted(roles.items(), key=lambda m: (m[1] != "manager", len(m[0]), m[0]))
    known = KnownHosts(ctx.known_hosts_path)
    runners = [
        (
            name,
            SSHRunner(ip, ctx.spec.ssh_user, ctx.key_path, known, connect_timeout=CONNECT_TIMEOUT),
        )
        for name, role in members
        if role == "manager"
        and name in servers
        and servers[name].status == "ACTIVE"
        and (ip := _address(servers[name]))
    ]
    try:
        found = read_swarm(runners) if servers and ctx.key_path.exists() else None
        lead, swarm = (found[0], found[2]) if found else (None, [])
        health = classify(
            members,
            {name: ServerState(s.id, s.status) for name, s in servers.items()},
            swarm,
            frozenset(str(n["name"]) for n in recorded),
            parse_time(found[1]) if found else datetime.datetime.now(datetime.UTC),
            down_after,
        )
        quorum = quorum_of(swarm) if found else None
        inspection = Inspection(health, lead, quorum, tuple(swarm))
        ids = [i for r in health.repairs for i in r.swarm_ids]
        order = removal_order(swarm, ids) if found and health.repairs else []
        lost = {r.name: r.server_id for r in health.replaced if r.server_id}
        if lost:
            held = attached_to(read_attached(ctx.conn, ctx.spec.name), lost)
            refusal = left_to_the_controller(held)
            if refusal is not None:
                raise refusal
        if dry_run or not health.repairs:  # a dry run refuses what the real run would
            return inspection
        ctx.files.update_record(
            **{
                CARRIED: carried_labels(ctx.files)
                | {r.name: dict(r.labels) for r in health.replaced}
            }
        )
        if order and lead is not None:
            manager = dict(runners)[lead]
            for node in order:
                ctx.reporter.step(f"removing the Swarm node {node.hostname} ({node.id})")
                if node.raft_member:
                    manager.run(demote_command(node.id))
                manager.run(remove_node_command(node.id))
        for repair in health.replaced:
            ctx.reporter.step(f"replacing {repair.name}: {repair.reason}")
            if repair.server_id:
                with cloud_call(f"deleting the lost server {repair.name}"):
                    ctx.conn.compute.delete_server(repair.server_id)
                    ctx.conn.compute.wait_for_delete(servers[repair.name], wait=300)
        return inspection
    finally:
        for _, runner in runners:
            runner.close()


def carried_labels(files: ClusterFiles) -> dict[str, dict[str, str]]:
    """Labels of replaced nodes that their replacements are still to be given, by name."""
    value = files.read_record().get(CARRIED) or {}
    return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in value.items()}


def forget_carried(files: ClusterFiles) -> None:
    if carried_labels(files):
        files.update_record(**{CARRIED: {}})
