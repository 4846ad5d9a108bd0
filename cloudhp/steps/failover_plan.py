"""The failover's decisions, as pure functions: is a node lost, where does a volume go,
and which step comes next.

A move is recorded in the volume's metadata (`cloudhp-move=<step>:<from>:<to>`) before
each step is acted on, so whoever reads the volume next (a restarted controller, an
operator) knows the step to do again; every step is safe to repeat (it reads before it
acts). `FENCE_PENDING` alone means the old node could not be shown to be off: nothing
moves until a person confirms it (`cloudhp volume confirm-fence`), and the node is
still the one in `cloudhp-node`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cloudhp.errors import UsageError

STEPS = ("fence", "detach", "attach", "check", "mount", "placement", "done")
"""The order high-availability systems use: the old node is off before the disk leaves
it, and the task may start elsewhere only once the disk is checked and mounted there."""

FENCE_PENDING = "FENCE_PENDING"


@dataclass(frozen=True)
class Move:
    step: str
    from_node: str
    to_node: str

    def text(self) -> str:
        """The metadata value; FENCE_PENDING stands alone, as `cloudhp volumes` shows it."""
        if self.step == FENCE_PENDING:
            return FENCE_PENDING
        return f"{self.step}:{self.from_node}:{self.to_node}"

    def at(self, step: str) -> Move:
        return Move(step, self.from_node, self.to_node)

    @property
    def remaining(self) -> tuple[str, ...]:
        """The steps still to do, this one first; none while the fence is pending."""
        if self.step == FENCE_PENDING:
            return ()
        return STEPS[STEPS.index(self.step) :]


def parse_move(text: str | None, holder: str) -> Move | None:
    """The move recorded in `cloudhp-move`, or None when the volume is at rest.

    Args:
        text: The metadata value ("" or missing at rest).
        holder: `cloudhp-node`, the node the volume was on (FENCE_PENDING's from-node).

    Raises:
        UsageError: a value cloudhp never writes (edited by hand), naming the right form.
    """
    if not text:
        return None
    if text == FENCE_PENDING:
        return Move(FENCE_PENDING, holder, "")
    parts = text.split(":")
    if len(parts) != 3 or parts[0] not in STEPS or not parts[1] or not parts[2]:
        raise UsageError(
            f"the volume's cloudhp-move metadata {text!r} is not a move cloudhp records",
            hint=f"it is '<step>:<from node>:<to node>' with a step among {', '.join(STEPS)}, "
            f"{FENCE_PENDING}, or empty when no move is under way",
        )
    return Move(*parts)


def is_lost(
    down_for: float | None, window: float, server_status: str | None, reachable: bool | None
) -> bool:
    """Lost: Swarm has seen the node Down for the whole window, and Nova does not show it
    running or it does not answer SSH. Swarm alone is not enough (a manager's heartbeat
    can lapse while the node serves); a paused or partitioned VM stays ACTIVE, so SSH
    decides then.

    Args:
        down_for: Seconds Swarm has reported the node Down, None while it is Ready.
        window: The detection window (`--down-after`).
        server_status: Nova's status, None when the server is gone.
        reachable: Whether SSH connected, None when not probed.
    """
    if down_for is None or down_for < window:
        return False
    return server_status != "ACTIVE" or reachable is False


@dataclass(frozen=True)
class Candidate:
    name: str
    ready: bool  # Swarm: Ready, and availability active
    tasks: int


def pick_target(candidates: Iterable[Candidate], exclude: Iterable[str]) -> str | None:
    """The healthy node with the fewest running tasks (by name on a tie, so two passes
    choose alike); None when there is none."""
    excluded = set(exclude)
    usable = [c for c in candidates if c.ready and c.name not in excluded]
    if not usable:
        return None
    return min(usable, key=lambda c: (c.tasks, c.name)).name
