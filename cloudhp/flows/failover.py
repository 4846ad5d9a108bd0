"""Moving one volume off a lost node, step by recorded step.

Before each step the volume's metadata (`cloudhp-move=<step>:<from>:<to>`) and the
audit log say what is about to be done, then it is done; every step reads before it
acts. A controller killed anywhere is restarted by cron or systemd, reads the step and
does it again, so a move always completes and no volume stays half attached. A fence
that cannot be confirmed stops the move before anything leaves the old node: the
volume is marked FENCE_PENDING, and `confirm_fence` is how a person who made sure the
node is off lets it go on.

Unlike a first mount (`cloudhp.steps.volumes.prepare`), a move never formats: a device
that looks blank on the new node is the wrong device or a lost filesystem, and the
move stops at its mount with the UUID check's error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudhp import audit
from cloudhp.commands.registry import VOLUME as REGISTRY_VOLUME
from cloudhp.commands.volumes import META_MOVE, META_NODE, META_UUID, META_VOLUME, mount_script
from cloudhp.errors import ConflictError, NotFoundError
from cloudhp.flows.nodes import ClusterNodes, RecordedNode
from cloudhp.flows.registry import point_registry
from cloudhp.progress import Reporter
from cloudhp.remote.runner import Runner
from cloudhp.steps import volumes as vol
from cloudhp.steps.failover_plan import FENCE_PENDING, Move, parse_move
from cloudhp.steps.fence import FenceUnconfirmed, fence


@dataclass(frozen=True)
class Timeouts:
    fence: float = 60.0  # Nova must show the node SHUTOFF within this, else FENCE_PENDING
    step: float = 120.0  # each detach and attach


def confirm_command(logical: str) -> str:
    return f"cloudhp volume confirm-fence {logical}"


def recorded_move(volume: Any) -> Move | None:
    meta = vol.metadata(volume)
    return parse_move(meta.get(META_MOVE), meta.get(META_NODE, ""))


@dataclass
class Mover:
    """What a move works with; `manager` is a runner on a reachable Swarm manager."""

    conn: Any
    nodes: ClusterNodes
    manager: Runner
    cluster_dir: Path
    reporter: Reporter
    timeouts: Timeouts

    def node(self, name: str) -> RecordedNode:
        for node in self.nodes.nodes:
            if node.name == name:
                return node
        raise NotFoundError(
            f"node {name} is not in cluster {self.nodes.files.name}'s record",
            hint="`cloudhp init` records the cluster's nodes again from the cloud",
        )

    def record(self, volume: Any, move: Move, detail: str = "") -> Any:
        """The step, in the volume's metadata then in the audit log, before it is done."""
        volume = vol.record(
            self.conn, volume, META_MOVE, "" if move.step == "done" else move.text()
        )
        step = "fence_pending" if move.step == FENCE_PENDING else move.step
        logical = vol.metadata(volume)[META_VOLUME]
        audit.record(self.cluster_dir, logical, step, move.from_node, move.to_node, detail)
        return volume

    def run(self, volume: Any, move: Move) -> str:
        """Do the move's remaining steps; returns "moved", or FENCE_PENDING.

        Raises:
            CloudhpError: a step failed (it stays recorded; the next pass does it again).
        """
        logical = vol.metadata(volume)[META_VOLUME]
        for step in move.remaining:
            volume = self.record(volume, move.at(step))
            if step == "fence" and not self._fence(volume, move):
                self.reporter.step(
                    f"{logical}: node {move.from_node} could not be fenced; nothing moved. "
                    f"Once it is off for certain: {confirm_command(logical)}"
                )
                return FENCE_PENDING
            volume = self._do(step, volume, move)
        self.reporter.step(f"{logical}: moved from {move.from_node} to {move.to_node}")
        return "moved"

    def _do(self, step: str, volume: Any, move: Move) -> Any:
        logical = vol.metadata(volume)[META_VOLUME]
        if step == "detach":
            held = vol.attachment(volume)
            if held is not None and held[0] == self.node(move.to_node).server_id:
                return volume  # attached already: the detach was done before
            volume, _ = vol.detach(self.conn, volume, wait=self.timeouts.step)
        elif step == "attach":
            server = self.node(move.to_node).server_id
            volume, _ = vol.attach(self.conn, volume, server, wait=self.timeouts.step)
        elif step == "check":
            runner, device = self._device(volume, move.to_node)
            if not vol.is_mounted(runner, logical):  # mounted: e2fsck must not touch it
                vol.check_filesystem(runner, device, logical)
        elif step == "mount":
            runner, device = self._device(volume, move.to_node)
            uuid = vol.metadata(volume).get(META_UUID, "")
            runner.run(mount_script(device, uuid, logical))
        elif step == "placement":
            vol.place(self.manager, move.to_node, logical)
            volume = vol.record(self.conn, volume, META_NODE, move.to_node)
            if logical == REGISTRY_VOLUME:  # the nodes find the registry by a hosts line
                point_registry(self.nodes, self.node(move.to_node), self.reporter)
        return volume

    def _fence(self, volume: Any, move: Move) -> bool:
        node = self.node(move.from_node)
        logical = vol.metadata(volume)[META_VOLUME]
        try:
            detail = fence(self.conn, node.server_id, node.name, timeout=self.timeouts.fence)
        except FenceUnconfirmed as exc:
            self.record(volume, move.at(FENCE_PENDING), exc.message)
            return False
        audit.record(self.cluster_dir, logical, "fenced", move.from_node, move.to_node, detail)
        return True

    def _device(self, volume: Any, node_name: str) -> tuple[Runner, str]:
        """A runner on the node and the volume's block device there."""
        node = self.node(node_name)
        held = vol.attachment(volume)
        if held is None or held[0] != node.server_id:
            raise ConflictError(
                f"volume {vol.metadata(volume)[META_VOLUME]} is not attached to {node_name}",
                hint="the move stays recorded; the next pass of `cloudhp watch` attaches it",
            )
        runner = self.nodes.runner(node)
        return runner, vol.node_device(runner, volume, held[1])


def confirm_fence(conn: Any, cluster_dir: Path, volume: Any, to_node: str) -> Move:
    """The operator says the old node is off: the move is recorded from detach on, for
    whichever controller runs it (this command, or the `cloudhp watch` holding the lock).

    Raises:
        ConflictError: the volume is not FENCE_PENDING (nothing to confirm).
    """
    move = recorded_move(volume)
    logical = vol.metadata(volume)[META_VOLUME]
    if move is None or move.step != FENCE_PENDING:
        state = "at rest" if move is None else f"at step {move.step}"
        raise ConflictError(
            f"volume {logical} is not waiting for a fence ({state})",
            hint="confirm-fence is for a volume `cloudhp volumes` shows FENCE_PENDING",
        )
    confirmed = Move("detach", move.from_node, to_node)
    audit.record(cluster_dir, logical, "fenced", move.from_node, to_node, "confirmed by hand")
    vol.record(conn, volume, META_MOVE, confirmed.text())
    return confirmed
