"""Volumes attached to servers cloudhp is about to delete: the guard no deletion passes.

Nova detaches every volume of a server it deletes, without a word about what ran on
it: a filesystem still mounted, a writer not stopped, no fence recorded. So no path of
cloudhp that deletes a cluster server (scale-in, repair) does so while a volume is
attached to it; scale-in first moves cloudhp's volumes off gracefully, repair leaves a
lost node's volume to the volume controller (`cloudhp watch`), and both call
`refuse_if_attached` last. What is attached is Cinder's word (a volume's
`attachments`), read in one listing; deciding on it is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudhp.cloud.calls import cloud_call
from cloudhp.commands.volumes import META_MOVE, META_NODE, META_VOLUME
from cloudhp.errors import ConflictError
from cloudhp.naming import is_cluster_volume
from cloudhp.steps.failover_plan import FENCE_PENDING


@dataclass(frozen=True)
class Attached:
    """One Cinder volume as deletion cares about it."""

    volume_id: str
    name: str
    server_id: str | None  # None: detached
    logical: str | None = None  # the cluster's volume `<project>_<volume>`; None: not cloudhp's
    recorded_node: str = ""  # cloudhp-node: where cloudhp means it to be
    move: str = ""  # cloudhp-move: a move in progress, or FENCE_PENDING


def read_attached(conn: Any, cluster: str) -> list[Attached]:
    """Every volume of the project that is attached somewhere or is the cluster's."""
    with cloud_call("listing the project's volumes"):
        volumes = list(conn.block_storage.volumes(details=True))
    found = []
    for volume in volumes:
        meta = {str(k): str(v) for k, v in (volume.metadata or {}).items()}
        ours = is_cluster_volume(volume.metadata, cluster) and bool(meta.get(META_VOLUME))
        servers = [str(a["server_id"]) for a in volume.attachments or [] if a.get("server_id")]
        if not ours and not servers:
            continue
        found.append(
            Attached(
                str(volume.id),
                str(volume.name or volume.id),
                servers[0] if servers else None,
                meta[META_VOLUME] if ours else None,
                meta.get(META_NODE, "") if ours else "",
                meta.get(META_MOVE, "") if ours else "",
            )
        )
    return found


def attached_to(
    volumes: Iterable[Attached], servers: Mapping[str, str]
) -> list[tuple[str, Attached]]:
    """(node name, volume) for each volume attached to one of `servers` (name -> id)."""
    by_id = {server_id: name for name, server_id in servers.items()}
    return sorted(
        ((by_id[v.server_id], v) for v in volumes if v.server_id in by_id),
        key=lambda pair: (pair[0], pair[1].name),
    )


def describe(volume: Attached) -> str:
    return (
        f"volume {volume.logical}"
        if volume.logical
        else f"volume {volume.name} ({volume.volume_id})"
    )


def refuse_if_attached(conn: Any, cluster: str, servers: Mapping[str, str], doing: str) -> None:
    """Raises before a deletion of `servers` (name -> id) that would detach a volume.

    Raises:
        ConflictError: a volume is attached to one of them (exit 4); names each.
    """
    held = attached_to(read_attached(conn, cluster), servers)
    if held:
        raise still_attached(held, doing)


def still_attached(held: Sequence[tuple[str, Attached]], doing: str) -> ConflictError:
    which = "; ".join(f"{describe(v)} on {node}" for node, v in held)
    return ConflictError(
        f"{doing} stopped before deleting a server with a volume attached ({which}): "
        "Nova would detach it on delete with nothing recorded, so nothing was deleted",
        hint="`cloudhp volume move NAME --to NODE` moves a cluster volume off gracefully; "
        "another volume is detached by hand (`openstack server remove volume SERVER "
        "VOLUME`); then run the command again",
    )


def left_to_the_controller(held: Sequence[tuple[str, Attached]]) -> ConflictError | None:
    """Why repair does not replace lost nodes that still hold volumes, or None.

    The volume controller (`cloudhp watch`) moves a lost node's volume: it fences the
    node through Nova, records every step, checks the filesystem where it lands. Repair
    deleting the server instead would detach the volume without a fence on record, so
    it replaces nothing while such a volume is attached, and says which command moves it.
    """
    if not held:
        return None
    which = "; ".join(f"{describe(v)} on {node}" for node, v in held)
    pending = sorted(v.logical for _, v in held if v.logical and v.move == FENCE_PENDING)
    foreign = [v for _, v in held if v.logical is None]
    hints = []
    if pending:
        hints.append(
            f"{', '.join(pending)} wait(s) for a fence: once the node is off for certain, "
            f"`cloudhp volume confirm-fence {pending[0]}` lets the move go on"
        )
    if len(pending) + len(foreign) < len(held):
        hints.append(
            "`cloudhp watch --once` fences the lost node and moves its volumes to a healthy "
            "node (an installed `cloudhp watch` does it within its --down-after)"
        )
    if foreign:
        hints.append("detach a volume that is not the cluster's by hand (`openstack server "
                     "remove volume SERVER VOLUME`)")  # fmt: skip
    return ConflictError(
        f"lost node(s) still hold a volume ({which}): deleting the server would detach it "
        "without the fence the volume controller records, so nothing was replaced",
        hint="; ".join(hints) + "; then `cloudhp repair`",
    )
