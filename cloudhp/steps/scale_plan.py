"""Which nodes a scale-in removes: the ones with the fewest tasks, never those the
cluster's entry points stand on.

The lead manager (the lowest-numbered manager, which every command talks to) and the
ingress nodes (HAProxy holds the floating IP there, and only their servers carry the
ingress security group) stay; among the rest, the nodes with the fewest running tasks
go first, so the fewest tasks move. On a tie the highest-numbered node goes: the newest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cloudhp.errors import ConflictError


@dataclass(frozen=True)
class Candidate:
    name: str
    role: str  # manager or worker
    index: int
    tasks: int
    ingress: bool
    floating_ip: bool
    lead: bool

    @property
    def why_kept(self) -> str | None:
        if self.lead:
            return "the lead manager every command talks to"
        if self.floating_ip:
            return "the ingress node holding the floating IP"
        if self.ingress:
            return "an ingress node"
        return None


@dataclass(frozen=True)
class Removal:
    managers: tuple[str, ...]  # demoted one at a time, then removed as workers
    workers: tuple[str, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.managers + self.workers


def choose(candidates: Sequence[Candidate], role: str, count: int) -> tuple[str, ...]:
    """`count` nodes of `role` to remove.

    Raises:
        ConflictError: fewer than `count` nodes of the role may go; names the ones kept
            and why.
    """
    if count <= 0:
        return ()
    of_role = [c for c in candidates if c.role == role]
    free = sorted((c for c in of_role if c.why_kept is None), key=lambda c: (c.tasks, -c.index))
    if len(free) < count:
        kept = "; ".join(f"{c.name}: {c.why_kept}" for c in of_role if c.why_kept)
        raise ConflictError(
            f"cannot remove {count} {role}(s): only {len(free)} of {len(of_role)} may go ({kept})",
            hint="ask for more nodes of that role, or fewer ingress nodes in the spec",
        )
    return tuple(c.name for c in free[:count])


def plan_removal(candidates: Sequence[Candidate], managers: int, workers: int) -> Removal:
    """The nodes to remove so that `managers` and `workers` remain."""
    have = {role: sum(1 for c in candidates if c.role == role) for role in ("manager", "worker")}
    return Removal(
        choose(candidates, "manager", have["manager"] - managers),
        choose(candidates, "worker", have["worker"] - workers),
    )
