"""Which nodes a scale-in removes: the ones with the fewest tasks, never those the
cluster's entry points stand on.

The lead manager (the lowest-numbered manager, which every command talks to) and the
ingress nodes (HAProxy holds the floating IP there, and only their servers carry the
ingress security group) stay; among the rest, the nodes with the fewest running tasks
go first, so the fewest tasks move. On a tie the highest-numbered node goes: the newest.

A Cinder volume on a leaving node goes, before anything is drained, to a node that
stays: the worker with the fewest tasks (counting the volumes sent there already), an
ingress node or a manager only when no other node can take it. A scale-in that would
strand a volume (no node that stays takes tasks, or the volume is mid-move) is refused
before anything changes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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


@dataclass(frozen=True)
class HeldVolume:
    """A cluster volume and the node holding it (attached there, else recorded there)."""

    logical: str
    node: str
    move: str = ""  # cloudhp-move: a move in progress, or FENCE_PENDING


@dataclass(frozen=True)
class VolumeMove:
    volume: str
    from_node: str
    to_node: str

    def to_dict(self) -> dict[str, str]:
        return {"volume": self.volume, "from_node": self.from_node, "to_node": self.to_node}


def plan_volume_moves(
    held: Sequence[HeldVolume], leaving: Collection[str], staying: Sequence[Candidate]
) -> tuple[VolumeMove, ...]:
    """Where each volume on a leaving node goes; `staying` are the nodes that stay and
    take tasks (Ready and Active).

    Raises:
        ConflictError: a volume on a leaving node is mid-move, or no node that stays can
            take it: nothing may change until that is settled.
    """
    load = {c.name: c.tasks for c in staying}
    moves = []
    for volume in sorted(held, key=lambda v: v.logical):
        if volume.node not in leaving:
            continue
        if volume.move:
            raise ConflictError(
                f"cannot remove {volume.node}: its volume {volume.logical} is being moved "
                f"({volume.move}); nothing was changed",
                hint=f"`cloudhp volume confirm-fence {volume.logical}` for a FENCE_PENDING one, "
                f"else `cloudhp volume move {volume.logical} --to NODE` completes the move",
            )
        if not staying:
            raise ConflictError(
                f"cannot remove {volume.node}: it holds volume {volume.logical}, and no node "
                "that stays is Ready and Active to take it; nothing was changed",
                hint="keep more nodes (a larger --workers), or make a staying node Active "
                "(`docker node update --availability active NODE`)",
            )
        target = min(
            staying,
            key=lambda c: (c.ingress or c.floating_ip, c.role != "worker", load[c.name], c.name),
        )
        load[target.name] += 1
        moves.append(VolumeMove(volume.logical, volume.node, target.name))
    return tuple(moves)
