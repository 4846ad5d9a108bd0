"""Which nodes must be replaced, from what Nova and the Swarm say about them.

Pure, so that every case is decided by exact tests without a cloud. A node is lost when
its server is in ERROR or SHUTOFF or gone, or when the Swarm has seen it Down for longer
than a threshold. Either signal is enough on its own: a cloud may go on reporting a dead
machine's server ACTIVE (Nova learns of a power loss only at its next sync), while the
Swarm marks a node Down within seconds of its heartbeats stopping. The threshold keeps a
reboot or a short network cut from costing a node.

Managers are removed only while the Raft majority holds (more than half of the managers
reachable), checked for each removal as it would leave the Swarm.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cloudhp.errors import ConflictError
from cloudhp.steps.swarm_nodes import SwarmNode

DEFAULT_DOWN_AFTER = 60.0
"""Seconds a Swarm node may be Down (its server still ACTIVE) before it is replaced."""
LOST_STATUSES = ("ERROR", "SHUTOFF")
LABEL_PREFIX = "cloudhp."
"""Labels the replacement inherits (role, ingress, volume placement): cloudhp's own."""


class QuorumLost(ConflictError):
    """Too few managers are reachable for Raft to agree on anything: no manager can be
    removed or added, so nothing is changed (recovering means choosing which state
    survives, a decision left to a person)."""


@dataclass(frozen=True)
class Repair:
    """What to do about one node: `replace` it (delete `server_id` if any, create it
    anew), or only remove Swarm entries a replacement left behind."""

    name: str
    role: str
    reason: str
    replace: bool
    server_id: str | None
    swarm_ids: tuple[str, ...]
    labels: Mapping[str, str]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "reason": self.reason,
            "replace": self.replace,
            "server_id": self.server_id,
            "swarm_ids": list(self.swarm_ids),
            "labels": dict(self.labels),
        }


@dataclass(frozen=True)
class Health:
    repairs: list[Repair]
    watching: list[str]  # Down, but for less than the threshold: left alone for now

    @property
    def replaced(self) -> list[Repair]:
        return [r for r in self.repairs if r.replace]


@dataclass(frozen=True)
class Server:
    server_id: str
    status: str


def classify(
    members: Sequence[tuple[str, str]],
    servers: Mapping[str, Server],
    swarm: Sequence[SwarmNode],
    known: frozenset[str],
    now: datetime.datetime,
    down_after: float = DEFAULT_DOWN_AFTER,
) -> Health:
    """Decide each member (name, role) of the cluster.

    `known` are the names the cluster had before (its record): a member without a
    server is lost only if it existed, else it is simply still to be created.
    """
    repairs: list[Repair] = []
    watching: list[str] = []
    for name, role in members:
        entries = [n for n in swarm if n.hostname == name]
        decided = _decide(name, role, servers.get(name), entries, name in known, now, down_after)
        if isinstance(decided, Repair):
            repairs.append(decided)
        elif decided == WATCHING:
            watching.append(name)
    return Health(repairs, watching)


WATCHING = "watching"


def _decide(
    name: str,
    role: str,
    server: Server | None,
    entries: Sequence[SwarmNode],
    known: bool,
    now: datetime.datetime,
    down_after: float,
) -> Repair | str | None:
    """One member: a Repair, WATCHING (Down, not for long enough yet), or None."""
    ready = [n for n in entries if n.state == "ready"]
    others = [n for n in entries if n.state != "ready"]

    def repair(reason: str, ids: Sequence[SwarmNode], *, replace: bool = True) -> Repair:
        server_id = server.server_id if server and replace else None
        ids_ = tuple(n.id for n in ids)
        return Repair(name, role, reason, replace, server_id, ids_, _inherited(entries))

    if server is None:
        return repair("its server is gone", entries) if known or entries else None
    if server.status in LOST_STATUSES:
        return repair(f"its server is {server.status}", entries)
    if server.status != "ACTIVE":
        return None  # BUILD and the like: creating servers is init's business
    if ready and others:
        return repair("Swarm entries of a server it replaced", others, replace=False)
    if others:
        down_for = min((now - n.since).total_seconds() for n in others)
        if down_for <= down_after:
            return WATCHING
        return repair(f"its Swarm node is Down for {down_for:.0f}s (> {down_after:.0f}s)", others)
    return None


def _inherited(entries: Sequence[SwarmNode]) -> dict[str, str]:
    """cloudhp's labels of the newest entry of a name (the one last labelled)."""
    if not entries:
        return {}
    newest = max(entries, key=lambda n: n.since)
    return {k: v for k, v in newest.labels.items() if k.startswith(LABEL_PREFIX)}


def has_quorum(reachable: int, managers: int) -> bool:
    """Raft agrees when more than half of its members answer."""
    return managers > 0 and 2 * reachable > managers


@dataclass(frozen=True)
class Quorum:
    managers: int
    reachable: int

    @property
    def holds(self) -> bool:
        return has_quorum(self.reachable, self.managers)

    def __str__(self) -> str:
        return f"{self.reachable}/{self.managers} managers reachable"

    def without(self, node: SwarmNode) -> Quorum:
        """The quorum once `node` (a manager) is demoted and removed."""
        return Quorum(self.managers - 1, self.reachable - (1 if node.reachable_manager else 0))


def quorum_of(swarm: Sequence[SwarmNode]) -> Quorum:
    managers = [n for n in swarm if n.raft_member]
    return Quorum(len(managers), sum(1 for n in managers if n.reachable_manager))


def removal_order(swarm: Sequence[SwarmNode], ids: Iterable[str]) -> list[SwarmNode]:
    """The entries to remove, unreachable managers first (each one removed makes the
    majority easier to reach), workers last; refuses when any step would lose quorum.

    Raises:
        QuorumLost: quorum is lost already, or removing these managers would lose it.
    """
    by_id = {n.id: n for n in swarm}
    chosen = [by_id[i] for i in ids if i in by_id]
    chosen.sort(key=lambda n: (not n.raft_member, n.reachable_manager, n.hostname))
    quorum = quorum_of(swarm)
    if not quorum.holds:
        raise quorum_lost(
            quorum, [n.hostname for n in swarm if n.raft_member and n.reachable_manager]
        )
    for node in chosen:
        if not node.raft_member:
            continue
        after = quorum.without(node)
        if not after.holds:
            raise QuorumLost(
                f"removing manager {node.hostname} would leave {after}: Raft would lose "
                "its majority",
                hint="repair the other managers first, or add managers (`cloudhp init` "
                "with more --managers) before removing this one",
            )
        quorum = after
    return chosen


def quorum_lost(quorum: Quorum | None, survivors: Sequence[str]) -> QuorumLost:
    where = f"on {survivors[0]} " if survivors else "on a surviving manager "
    return QuorumLost(
        f"the Swarm has lost its Raft quorum ({quorum or 'no manager has a leader'}): "
        "no manager can be replaced or removed, so nothing was changed",
        hint=f"recover by hand: `docker swarm init --force-new-cluster` {where}"
        "(`cloudhp ssh NODE`) keeps that manager's state and makes it the only manager; "
        "then `cloudhp repair` replaces the others",
    )
