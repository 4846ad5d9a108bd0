"""`cloudhp watch`: the volume controller, a loop on the bastion.

It runs on the bastion, not as a service in the cluster: it must decide that a node is
lost and switch it off through Nova, and a task inside the cluster may be on the very
side of a partition that it should be fencing; and the cloud credential that can stop
servers and move disks would otherwise live on every node. On the bastion it holds the
cluster's application credential only (a 0600 clouds.yaml init made), never a password.

One controller per cluster: it holds `<cluster dir>/watch.lock` (flock, released by
the kernel even on SIGKILL) for its lifetime; the cron entry that keeps it alive starts
one every minute and it leaves at once, quietly, while another holds the lock. It takes
the cluster's lock only while it moves a volume, without waiting: a running deploy,
scale or teardown is never raced, and the move is tried again on the next pass.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import paramiko

from cloudhp import audit
from cloudhp.cloud.access import open_clouds_file
from cloudhp.commands.volumes import META_NODE, META_VOLUME
from cloudhp.errors import (
    CloudhpError,
    ConflictError,
    NotFoundError,
    RemoteUnreachable,
    UsageError,
)
from cloudhp.flows.failover import FENCE_PENDING, Mover, Timeouts, confirm_fence, recorded_move
from cloudhp.flows.nodes import ClusterNodes, RecordedNode, open_nodes
from cloudhp.lock import ClusterBusy, cluster_lock
from cloudhp.progress import Reporter
from cloudhp.remote.runner import Runner
from cloudhp.state import ClusterFiles
from cloudhp.steps import volumes as vol
from cloudhp.steps.appcred import credential_name, credential_path
from cloudhp.steps.failover_plan import Move, is_lost, pick_target
from cloudhp.steps.failover_swarm import SwarmView, candidates, swarm_view
from cloudhp.steps.fence import is_fenced, server_or_none

LOCK = "watch.lock"
SSH_ERRORS = (CloudhpError, paramiko.SSHException, OSError, EOFError)


class AlreadyWatched(ConflictError):
    """Another controller holds the cluster's watch lock."""


@dataclass(frozen=True)
class WatchSettings:
    down_after: float = 30.0  # seconds Swarm must show a node Down before it may be lost
    interval: float = 5.0
    timeouts: Timeouts = field(default_factory=Timeouts)


@contextmanager
def watch_lock(files: ClusterFiles) -> Iterator[None]:
    """Hold the cluster's watch lock for the block.

    Raises:
        AlreadyWatched: another controller holds it, naming its pid.
    """
    path = files.create().path / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise AlreadyWatched(
                f"a controller (pid {holder}) already watches cluster {files.name}",
                hint="one at a time; it completes any move under way",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def running_controller(files: ClusterFiles) -> int | None:
    """The pid of the controller holding the watch lock, None when none runs."""
    path = files.path / LOCK
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 64, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def app_credential_cloud(files: ClusterFiles) -> Any:
    """The cloud, through the cluster's application credential and nothing else: the
    controller runs unattended, where no password may be stored or asked for.

    Raises:
        UsageError: the cluster has no application credential on this machine.
    """
    path = credential_path(files.path)
    if not path.is_file():
        raise UsageError(
            f"cluster {files.name} has no application credential on this machine ({path}), "
            "and the volume controller authenticates with nothing else",
            hint=f"run `cloudhp init --name {files.name}` here once (it makes one)",
        )
    return open_clouds_file(path, credential_name(files.name))


@dataclass
class Controller:
    """One cluster's controller: each `check` is one pass over its volumes."""

    conn: Any
    nodes: ClusterNodes
    settings: WatchSettings
    reporter: Reporter

    @property
    def cluster(self) -> str:
        return self.nodes.files.name

    def manager(self) -> tuple[Runner, SwarmView]:
        """The first recorded manager that answers, and the Swarm as it sees it."""
        last: BaseException | None = None
        for node in self.nodes.nodes:
            if node.role != "manager":
                continue
            try:
                runner = self.nodes.runner(node)
                return runner, swarm_view(runner)
            except SSH_ERRORS as exc:
                last = exc
        raise RemoteUnreachable(
            f"no manager of cluster {self.cluster} answers: {last}",
            hint="the controller needs one Swarm manager to see the nodes; with a single "
            "manager, its loss stops failover (init with --managers 3 avoids it)",
        )

    def _node(self, name: str) -> RecordedNode | None:
        return next((n for n in self.nodes.nodes if n.name == name), None)

    def _reachable(self, node: RecordedNode) -> bool:
        runner = self.nodes.runner(node)
        runner.close()  # a fresh connection: an old one may outlive a frozen node
        try:
            runner.run(["true"], timeout=10)
        except SSH_ERRORS:
            return False
        return True

    def lost(self, view: SwarmView, name: str) -> str | None:
        """Why the node holding a volume is lost, or None when it is not."""
        down_for = view.down_for(name)
        node = self._node(name)
        if down_for is None or down_for < self.settings.down_after or node is None:
            return None
        server = server_or_none(self.conn, node.server_id)
        status = None if server is None else str(server.status)
        reachable = self._reachable(node) if status == "ACTIVE" else None
        if not is_lost(down_for, self.settings.down_after, status, reachable):
            return None
        seen = "gone" if status is None else status
        ssh = "" if reachable is None else ", SSH unreachable"
        return f"Swarm Down for {down_for:.0f}s, server {seen}{ssh}"

    def check(self) -> list[dict[str, str]]:
        """One pass: every volume's state, and the moves it made or completed."""
        volumes = vol.cluster_volumes(self.conn, self.cluster)
        if not volumes:
            return []
        manager, view = self.manager()
        return [self._volume(manager, view, v) for v in volumes]

    def _plan(self, manager: Runner, view: SwarmView, volume: Any) -> Move | str:
        """The move to make, or the volume's state when there is none."""
        logical = vol.metadata(volume)[META_VOLUME]
        holder = vol.metadata(volume).get(META_NODE, "")
        move = recorded_move(volume)
        if move is not None and move.step != FENCE_PENDING:
            return move  # under way: complete it
        if move is None:
            why = self.lost(view, holder) if holder else None
            if why is None:
                return "ok"
        else:
            node = self._node(holder)
            if node is None or not is_fenced(server_or_none(self.conn, node.server_id)):
                return FENCE_PENDING
            why = "Nova shows it off now"
        target = pick_target(candidates(manager, view.nodes), exclude={holder})
        if target is None:
            return "no healthy node to move to"
        if move is None:
            audit.record(self.nodes.files.path, logical, "detect", holder, target, why)
            self.reporter.step(f"{logical}: node {holder} is lost ({why}); moving to {target}")
            return Move("fence", holder, target)
        audit.record(self.nodes.files.path, logical, "fenced", holder, target, why)
        return Move("detach", holder, target)

    def _volume(self, manager: Runner, view: SwarmView, volume: Any) -> dict[str, str]:
        logical = vol.metadata(volume)[META_VOLUME]
        state = {"volume": logical, "node": vol.metadata(volume).get(META_NODE, "")}
        try:
            planned = self._plan(manager, view, volume)
            if isinstance(planned, str):
                return state | {"state": planned}
            with cluster_lock(self.cluster, "cloudhp watch", wait=False):
                mover = Mover(
                    self.conn,
                    self.nodes,
                    manager,
                    self.nodes.files.path,
                    self.reporter,
                    self.settings.timeouts,
                )
                outcome = mover.run(volume, planned)
            return state | {"state": outcome, "from": planned.from_node, "to": planned.to_node}
        except ClusterBusy as exc:
            return state | {"state": "waiting", "detail": exc.message}
        except SSH_ERRORS as exc:
            text = exc.message if isinstance(exc, CloudhpError) else f"{type(exc).__name__}: {exc}"
            self.reporter.step(f"{logical}: {text}")
            return state | {"state": "error", "detail": text}


def watch(
    controller: Controller,
    *,
    once: bool,
    stop: Callable[[], bool] = lambda: False,
) -> list[dict[str, str]]:
    """Pass after pass until `stop()` (or one pass with `once`); the last pass's states.

    A pass that fails (the cloud or every manager unreachable for a moment) is reported
    and the next one tries again; with `once` its error is the command's.
    """
    while True:
        try:
            states = controller.check()
        except SSH_ERRORS as exc:
            if once:
                raise
            controller.reporter.step(f"pass failed: {exc}")
            states = []
        if once or stop():
            return states
        time.sleep(controller.settings.interval)


def run_controller(
    files: ClusterFiles,
    settings: WatchSettings,
    reporter: Reporter,
    *,
    once: bool,
    stop: Callable[[], bool] = lambda: False,
    if_not_running: bool = False,
) -> list[dict[str, str]] | None:
    """The controller of cluster `files`, holding its watch lock; None when another
    holds it and `if_not_running` says that is fine (cron's minutely start).

    Raises:
        AlreadyWatched: another controller runs (without `if_not_running`).
        UsageError: no application credential for the cluster here.
    """
    try:
        with watch_lock(files):
            conn = app_credential_cloud(files)
            try:
                with open_nodes(files) as nodes:
                    controller = Controller(conn, nodes, settings, reporter)
                    return watch(controller, once=once, stop=stop)
            finally:
                conn.close()
    except AlreadyWatched:
        if if_not_running:
            return None
        raise


def confirm_and_move(
    files: ClusterFiles, name: str, to_node: str | None, reporter: Reporter
) -> dict[str, str]:
    """`cloudhp volume confirm-fence`: the operator's word that the old node is off.

    The move is done here when no controller runs, else recorded for the running one
    (two movers of one volume must never race).

    Raises:
        NotFoundError: no such volume, or `to_node` is not a node of the cluster.
        UsageError: `to_node` is the old node, or not Ready in the Swarm.
        ConflictError: the volume is not FENCE_PENDING.
    """
    conn = app_credential_cloud(files)
    try:
        volume = vol.get_volume(conn, files.name, name)
        with open_nodes(files) as nodes:
            controller = Controller(conn, nodes, WatchSettings(), reporter)
            manager, view = controller.manager()
            holder = vol.metadata(volume).get(META_NODE, "")
            target = _confirm_target(manager, view, holder, to_node)
            try:
                with watch_lock(files):
                    move = confirm_fence(conn, files.path, volume, target)
                    with cluster_lock(
                        files.name, "cloudhp volume confirm-fence", say=reporter.step
                    ):
                        volume = vol.get_volume(conn, files.name, name)
                        mover = Mover(conn, nodes, manager, files.path, reporter, Timeouts())
                        state = mover.run(volume, move)
            except AlreadyWatched:
                move = confirm_fence(conn, files.path, volume, target)
                state = "confirmed"
    finally:
        conn.close()
    return {"volume": name, "state": state, "from": move.from_node, "to": move.to_node}


def _confirm_target(manager: Runner, view: SwarmView, holder: str, wanted: str | None) -> str:
    if wanted is None:
        target = pick_target(candidates(manager, view.nodes), exclude={holder})
        if target is None:
            raise ConflictError(
                "no node is Ready in the Swarm to take the volume",
                hint="bring a node back (`cloudhp repair`), then confirm again",
            )
        return target
    ready = sorted(n for n, node in view.nodes.items() if node.ready and n != holder)
    if wanted not in view.nodes:
        raise NotFoundError(
            f"no node {wanted!r} in the Swarm", hint=f"Ready nodes: {', '.join(ready) or 'none'}"
        )
    if wanted == holder or wanted not in ready:
        why = "the node that held it" if wanted == holder else "not Ready and active"
        raise UsageError(
            f"--to {wanted} is {why}", hint=f"Ready nodes: {', '.join(ready) or 'none'}"
        )
    return wanted
