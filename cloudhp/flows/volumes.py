"""The cluster's Cinder volumes: made ready before a deploy, listed, and moved by hand.

Deploy needs the cloud only when the application declares Cinder volumes. It may have
to create one, which the cluster's application credential may not (its access rules
name the calls of unattended commands: `cloudhp.steps.access_rules`), so deploy
authenticates the way init did (asking for the password on a terminal, as init does),
and only without a terminal falls back to the application credential, which then
serves volumes that exist. `cloudhp volumes` and `volume move` need no more than the
credential allows, so they take it first and never ask for a password.

A planned move (`cloudhp volume move NAME --to NODE`) is graceful, with no fencing: the
placement label leaves the old node, so Swarm stops the task there (a task whose node
no longer meets its constraints is shut down) and starts none elsewhere; once no task
runs, the filesystem is unmounted on the old node, the volume detached and attached
through Nova, checked, mounted, and the label put on the new node, where Swarm starts
the task. The move is recorded in the volume's metadata as the failover controller
records its own (`cloudhp-move=<step>:<from>:<to>`, written before the step), so a
move cut off midway is visible in `cloudhp volumes` and completed by the next
`volume move` or controller; the audit log gets a line when each step is done.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cloudhp import audit
from cloudhp.apps.model import BlockVolume
from cloudhp.cloud.access import open_cloud, open_clouds_file
from cloudhp.cloud.credentials import read_secret
from cloudhp.commands import volumes as cmd
from cloudhp.commands.registry import VOLUME as REGISTRY_VOLUME
from cloudhp.errors import ConflictError, UsageError
from cloudhp.flows.nodes import ClusterNodes, RecordedNode
from cloudhp.flows.registry import point_registry
from cloudhp.polling import poll_until
from cloudhp.progress import Reporter
from cloudhp.remote.ssh import UNREACHABLE
from cloudhp.state import ClusterFiles
from cloudhp.steps import services as swarm_services
from cloudhp.steps import volumes as steps
from cloudhp.steps.appcred import credential_name, credential_path

FENCE_PENDING = "FENCE_PENDING"
STOP_TIMEOUT = 120.0


def _init_auth(files: ClusterFiles, interactive: bool) -> Any:
    """A connection made the way init authenticated (its record names how, never a
    secret); a password is asked for only on a terminal."""
    recorded = files.read_record().get("auth") or {}
    openrc = Path(recorded["openrc"]) if recorded.get("openrc") else None

    def prompt(text: str) -> str:
        if not interactive:
            raise UsageError(
                f"cluster {files.name}'s volumes need the cloud, and its credentials ask "
                "for a password, with no terminal to ask on",
                hint="run it on a terminal, or keep the cluster's application credential "
                "(`cloudhp init` saves it)",
            )
        return read_secret(text, sys.stdin)

    return open_cloud(openrc, recorded.get("os_cloud"), recorded.get("cloud"), prompt)


@contextmanager
def cluster_cloud(files: ClusterFiles, writes: bool = False) -> Iterator[Any]:
    """The cluster's application credential, else init's way; with `writes` (volumes
    may be created), init's way first, the credential only without a terminal.

    Raises:
        UsageError: Nothing usable without a password, and no terminal to ask on.
    """
    path = credential_path(files.path)
    saved = path.is_file()
    if saved and not writes:
        conn = open_clouds_file(path, credential_name(files.name))
    else:
        try:
            conn = _init_auth(files, sys.stdin.isatty())
        except UsageError:
            if not saved:
                raise
            conn = open_clouds_file(path, credential_name(files.name))
    try:
        yield conn
    finally:
        conn.close()


def _node_of(nodes: ClusterNodes, volume: Any) -> RecordedNode | None:
    held = steps.attachment(volume)
    for node in nodes.nodes:
        if held is not None and node.server_id == held[0]:
            return node
    return None


def _busy(volume: Any) -> None:
    move = steps.metadata(volume).get(cmd.META_MOVE, "")
    if move:
        logical = steps.metadata(volume)[cmd.META_VOLUME]
        raise ConflictError(
            f"volume {logical} is being moved ({move}): nothing is changed meanwhile",
            hint="`cloudhp volumes` shows its state; `cloudhp volume move "
            f"{logical} --to NODE` completes a planned move",
        )


def ready_volume(
    conn: Any, nodes: ClusterNodes, volume: Any, load: dict[str, int], reporter: Reporter
) -> tuple[Any, bool]:
    """Attached to its node, mounted there, the node labelled; False when it all was."""
    _busy(volume)
    logical = steps.metadata(volume)[cmd.META_VOLUME]
    held = steps.attachment(volume)
    node = steps.choose_node(nodes.nodes, volume, load)
    if held is not None and held[0] != node.server_id:
        raise ConflictError(
            f"volume {logical} is attached to server {held[0]}, which is not a node of "
            f"cluster {nodes.files.name}",
            hint="detach it from that server (`openstack server remove volume`) and deploy again",
        )
    changed = False
    if held is None:
        reporter.step(f"attaching volume {logical} to {node.name}")
        volume, device = steps.attach(conn, volume, node.server_id)
        changed = True
    else:
        device = held[1]
    if steps.metadata(volume).get(cmd.META_NODE) != node.name:
        volume = steps.record(conn, volume, cmd.META_NODE, node.name)
        changed = True
    volume, prepared = steps.prepare(conn, nodes.runner(node), volume, device)
    if prepared:
        reporter.step(f"volume {logical} mounted on {node.name}")
    placed = steps.place(nodes.runner(nodes.lead), node.name, logical)
    return volume, changed or prepared or placed


def ensure_block_volumes(
    nodes: ClusterNodes, volumes: Sequence[BlockVolume], reporter: Reporter
) -> bool:
    """Every declared volume made, attached, mounted and its node labelled."""
    cluster = nodes.files.name
    expires = nodes.files.read_record().get("expires_at") or None
    changed = False
    with cluster_cloud(nodes.files, writes=True) as conn:
        load: dict[str, int] = {}
        for volume in steps.cluster_volumes(conn, cluster):
            holder = steps.metadata(volume).get(cmd.META_NODE)
            if holder:
                load[holder] = load.get(holder, 0) + 1
        for spec in volumes:
            volume, made = steps.ensure_volume(conn, cluster, spec, expires)
            if made:
                reporter.step(f"created volume {spec.logical} ({spec.size_gb} GiB)")
            volume, ready = ready_volume(conn, nodes, volume, load, reporter)
            node = steps.metadata(volume)[cmd.META_NODE]
            if made:
                load[node] = load.get(node, 0) + 1
            changed = changed or made or ready
    return changed


# --- cloudhp volumes --------------------------------------------------------------


@dataclass(frozen=True)
class VolumeRow:
    name: str
    size_gb: int
    node: str | None
    state: str  # mounted, attached, detached, moving, FENCE_PENDING, unreachable
    service: str | None
    id: str
    move: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def state_of(move: str, attached: bool, mounted: bool | None) -> str:
    """`mounted` is None when the node holding the volume does not answer SSH: the list
    is what an operator reads while a node is lost, so it shows that, not an error."""
    if move == FENCE_PENDING:
        return FENCE_PENDING
    if move:
        return "moving"
    if mounted is None:
        return "unreachable"
    if mounted:
        return "mounted"
    return "attached" if attached else "detached"


def _mounted(nodes: ClusterNodes, node: RecordedNode | None, logical: str) -> bool | None:
    if node is None:
        return False
    try:
        return steps.is_mounted(nodes.runner(node), logical)
    except UNREACHABLE:
        return None


def list_volumes(conn: Any, nodes: ClusterNodes) -> list[VolumeRow]:
    lead = nodes.runner(nodes.lead)
    rows = []
    for volume in steps.cluster_volumes(conn, nodes.files.name):
        meta = steps.metadata(volume)
        logical = meta[cmd.META_VOLUME]
        node = _node_of(nodes, volume)
        mounted = _mounted(nodes, node, logical)
        users = steps.services_using(lead, logical)
        rows.append(
            VolumeRow(
                name=logical,
                size_gb=int(volume.size),
                node=node.name if node is not None else (meta.get(cmd.META_NODE) or None),
                state=state_of(meta.get(cmd.META_MOVE, ""), steps.attachment(volume) is not None,
                               mounted),
                service=", ".join(users) or None,
                id=str(volume.id),
                move=meta.get(cmd.META_MOVE, ""),
            )
        )  # fmt: skip
    return rows


# --- cloudhp volume move ----------------------------------------------------------


@dataclass
class MoveReport:
    volume: str
    from_node: str | None
    to_node: str
    changed: bool
    steps: list[str]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _target(nodes: ClusterNodes, name: str) -> RecordedNode:
    for node in nodes.nodes:
        if node.name == name:
            return node
    known = ", ".join(n.name for n in nodes.nodes)
    raise UsageError(f"no node {name!r} in cluster {nodes.files.name}", hint=f"one of: {known}")


def move_volume(
    conn: Any, nodes: ClusterNodes, logical: str, to: str, reporter: Reporter,
    timeout: float = STOP_TIMEOUT,
) -> MoveReport:  # fmt: skip
    """Moves the volume to node `to` gracefully (see the module's docstring).

    Raises:
        UsageError: No such node (exit 2). NotFoundError: No such volume (exit 3).
        ConflictError: The fence of a failover is pending (a person must confirm it).
    """
    target = _target(nodes, to)
    volume = steps.get_volume(conn, nodes.files.name, logical)
    meta = steps.metadata(volume)
    if meta.get(cmd.META_MOVE) == FENCE_PENDING:
        raise ConflictError(
            f"volume {logical}'s failover waits for its old node's fence to be confirmed",
            hint=f"`cloudhp volume confirm-fence {logical}` once the node is off",
        )
    holder = _node_of(nodes, volume)
    source = holder.name if holder is not None else (meta.get(cmd.META_NODE) or None)
    lead = nodes.runner(nodes.lead)
    report = MoveReport(logical, source, target.name, False, [])
    done = (
        holder is not None
        and holder.name == target.name
        and not meta.get(cmd.META_MOVE)
        and steps.is_mounted(nodes.runner(target), logical)
        and steps.labelled_nodes(lead, logical) == [target.name]
    )
    if done:
        reporter.step(f"volume {logical} is already mounted on {target.name}: no changes")
        return report
    cluster_dir = nodes.files.path
    users = steps.services_using(lead, logical)

    def log(step: str, detail: str = "") -> None:
        report.steps.append(step)
        reporter.step(f"{step}: {detail}" if detail else step)
        audit.record(cluster_dir, logical, step, source or "", target.name, detail)

    def mark(step: str) -> Any:
        return steps.record(conn, volume, cmd.META_MOVE, f"{step}:{source or '-'}:{target.name}")

    report.changed = True
    if steps.unplace(lead, logical):
        log(
            "placement", f"label removed from {source}: Swarm stops {', '.join(users) or 'no'} task"
        )

    def stopped() -> bool:
        if steps.running_tasks(lead, users):
            return False
        return holder is None or not steps.containers_of(nodes.runner(holder), users)

    poll_until(
        stopped, timeout=timeout, interval=1.0, what=f"the tasks of {', '.join(users)} stopping"
    )
    volume = mark("detach")
    if holder is not None and holder.name != target.name:
        steps.unmount(nodes.runner(holder), logical)
        volume, _ = steps.detach(conn, volume)
        log("detach", f"unmounted on {holder.name} and detached through Nova")
    volume = mark("attach")
    volume, device = steps.attach(conn, volume, target.server_id)
    volume = steps.record(conn, volume, cmd.META_NODE, target.name)
    log("attach", f"attached to {target.name} as {device}")
    volume = mark("mount")
    volume, _ = steps.prepare(conn, nodes.runner(target), volume, device)
    log("check", "filesystem UUID matches the recorded one; e2fsck clean")
    log("mount", f"mounted at {cmd.mount_dir(logical)}")
    volume = mark("placement")
    steps.place(lead, target.name, logical)
    log("placement", f"label on {target.name}")
    if logical == REGISTRY_VOLUME:  # the nodes find the registry by a hosts line
        point_registry(nodes, target, reporter)
    steps.record(conn, volume, cmd.META_MOVE, "")
    if users:
        swarm_services.wait_converged(lead, users, timeout)
    log("done", f"{', '.join(users) or 'no service'} running on {target.name}")
    return report
