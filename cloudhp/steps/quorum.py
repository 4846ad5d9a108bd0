"""Managers leave one at a time, and only while the Raft majority holds.

Swarm's managers agree by Raft: a change commits only when more than half of them
acknowledge it. Demoting a manager is such a change, and it shrinks the group, so each
demotion must be agreed by a majority of the managers before it and leave a majority of
reachable managers after it. The plan is a pure function (5 -> 1 is four demotions,
through 3), and the flow checks `docker node inspect`'s reachability before and after
each one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cloudhp.clusterspec import MANAGER_COUNTS
from cloudhp.commands.nodes import demote_command
from cloudhp.errors import ConflictError, WaitTimeout
from cloudhp.polling import poll
from cloudhp.remote.runner import Runner
from cloudhp.steps.health import has_quorum
from cloudhp.steps.swarm_nodes import SwarmNode, swarm_nodes, update_node

DEMOTE_TIMEOUT = 120.0


class QuorumAtRisk(ConflictError):
    """A demotion could lose the Raft majority (a manager is unreachable): refused."""


def safe_to_demote(reachable: int, managers: int) -> bool:
    """The demotion can commit now, and the managers left keep a reachable majority."""
    return has_quorum(reachable, managers) and has_quorum(reachable - 1, managers - 1)


@dataclass(frozen=True)
class Demotion:
    node: str
    managers_before: int
    managers_after: int
    toward: int  # the allowed count (1, 3, 5, 7) this demotion is a step toward


def demotion_plan(leaving: Sequence[str], managers: int) -> list[Demotion]:
    """One demotion per leaving manager, in order, each a step toward the next allowed
    count below: 5 managers losing 4 go 5 -> 4 -> 3 (toward 3), then 3 -> 2 -> 1."""
    plan: list[Demotion] = []
    count = managers
    for node in leaving:
        toward = max(c for c in MANAGER_COUNTS if c < count) if count > 1 else 0
        plan.append(Demotion(node, count, count - 1, toward))
        count -= 1
    return plan


def manager_counts(nodes: Sequence[SwarmNode]) -> tuple[int, int]:
    """(reachable managers, managers)."""
    managers = [n for n in nodes if n.role == "manager"]
    return sum(1 for n in managers if n.reachable_manager), len(managers)


def describe_managers(nodes: Sequence[SwarmNode]) -> str:
    """`a-manager-1 Leader, a-manager-2 Reachable`, as `docker node ls` shows them."""
    return ", ".join(
        f"{n.hostname} {'Leader' if n.leader else n.reachability.capitalize() or '?'}"
        for n in sorted(nodes, key=lambda n: n.hostname)
        if n.role == "manager"
    )


def check_demotion(nodes: Sequence[SwarmNode], step: Demotion) -> None:
    """Checked before the first demotion (so a refusal changes nothing) and before each.

    Raises:
        QuorumAtRisk: the managers (as the lead sees them) are not the plan's count, or
            demoting now would leave no reachable majority.
    """
    reachable, managers = manager_counts(nodes)
    if managers != step.managers_before or not safe_to_demote(reachable, managers):
        raise QuorumAtRisk(
            f"not demoting {step.node}: {reachable} of {managers} managers are reachable "
            f"({describe_managers(nodes)}), and the plan expected "
            f"{step.managers_before} reachable managers; a demotion now could leave the "
            "Swarm without a Raft majority",
            hint="bring the unreachable managers back (`cloudhp repair`), then scale again",
        )


def demote(lead: Runner, step: Demotion, timeout: float = DEMOTE_TIMEOUT) -> None:
    """Demote `step.node` once Raft allows it (`check_demotion`), and wait until the
    managers left have a leader and are all reachable.

    Raises:
        QuorumAtRisk: from `check_demotion`, before anything is done.
        WaitTimeout: the Swarm did not settle on the new managers within `timeout`.
    """
    nodes = swarm_nodes(lead)
    check_demotion(list(nodes.values()), step)
    target = nodes[step.node]
    if target.role == "manager":
        update_node(lead, demote_command(target.id))

    def settled(now: dict[str, SwarmNode]) -> bool:
        left = [n for n in now.values() if n.role == "manager"]
        return (
            now[step.node].role == "worker"
            and len(left) == step.managers_after
            and all(n.reachable_manager for n in left)
            and any(n.leader for n in left)
        )

    try:
        poll(
            lambda: swarm_nodes(lead),
            settled,
            timeout=timeout,
            interval=1.0,
            what=f"{step.node} demoted and {step.managers_after} managers reachable",
        )
    except WaitTimeout as exc:
        now = swarm_nodes(lead)
        raise WaitTimeout(
            f"{exc.message}; managers now: {describe_managers(list(now.values()))}",
            hint="`docker node ls` on a manager (`cloudhp ssh`) shows the Raft state",
        ) from None
