"""Cinder volumes of the cluster: found or made once, attached through Nova, formatted
only when blank, mounted after their filesystem's UUID is checked, and placed by a label.

The cloud holds the truth about a volume (`cloudhp.commands.volumes` names the metadata
keys): whose it is, which logical volume it is, the UUID of the filesystem cloudhp made
on it, the node that should hold it and the step of a move in progress. Attaching and
detaching go through Nova (`os-volume_attachments`) only, never Cinder's force-detach,
and each waits for Cinder to report `in-use` or `available`. On the node, every command
reads before it acts, so each function here returns whether it changed anything.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from cloudhp.apps.model import BlockVolume
from cloudhp.cloud.calls import cloud_call
from cloudhp.commands import volumes as cmd
from cloudhp.errors import ConflictError, NotFoundError, RemoteCommandError
from cloudhp.naming import TAG_KEY, is_cluster_volume, resource_name
from cloudhp.polling import poll_until
from cloudhp.remote.runner import Runner

WAIT = 180.0


class Node(Protocol):
    """What choosing a node needs to know about one (a recorded node fits)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def ingress(self) -> bool: ...
    @property
    def server_id(self) -> str: ...


N = TypeVar("N", bound=Node)


# --- the Cinder volume ------------------------------------------------------------


def cinder_name(cluster: str, spec: BlockVolume) -> str:
    return resource_name(cluster, f"vol-{spec.project}-{spec.name}")


def metadata(volume: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (volume.metadata or {}).items()}


def cluster_volumes(conn: Any, cluster: str) -> list[Any]:
    """Every logical volume of the cluster, by logical name (teardown keeps these)."""
    with cloud_call("listing the cluster's volumes"):
        found = [
            v
            for v in conn.block_storage.volumes(details=True)
            if is_cluster_volume(v.metadata, cluster) and metadata(v).get(cmd.META_VOLUME)
        ]
    return sorted(found, key=lambda v: metadata(v)[cmd.META_VOLUME])


def find_volume(conn: Any, cluster: str, logical: str) -> Any | None:
    """The cluster's volume `logical`, by its metadata (its name alone proves nothing)."""
    for volume in cluster_volumes(conn, cluster):
        if metadata(volume).get(cmd.META_VOLUME) == logical:
            return volume
    return None


def get_volume(conn: Any, cluster: str, logical: str) -> Any:
    volume = find_volume(conn, cluster, logical)
    if volume is None:
        known = ", ".join(metadata(v)[cmd.META_VOLUME] for v in cluster_volumes(conn, cluster))
        raise NotFoundError(
            f"cluster {cluster} has no volume {logical!r} (it has: {known or 'none'})",
            hint="`cloudhp volumes` lists them by their name <project>_<volume>",
        )
    return volume


def ensure_volume(
    conn: Any, cluster: str, spec: BlockVolume, expires: str | None = None, wait: float = WAIT
) -> tuple[Any, bool]:
    """The volume, made once with the cluster's metadata; False when it existed.

    Raises:
        ConflictError: The existing volume's size differs from the declared one
            (cloudhp never resizes nor replaces a volume holding data), or another
            volume of the project already bears its name without being the cluster's.
    """
    found = find_volume(conn, cluster, spec.logical)
    name = cinder_name(cluster, spec)
    if found is not None:
        if int(found.size) != spec.size_gb:
            raise ConflictError(
                f"volume {spec.logical} is {found.size} GiB, the application declares "
                f"{spec.size_gb} GiB",
                hint=f"declare size: {found.size} (cloudhp neither resizes nor replaces a "
                "volume that holds data)",
            )
        return found, False
    with cloud_call(f"creating volume {name}"):
        strangers = [v for v in conn.block_storage.volumes(details=True, name=name)]
        if strangers:
            raise ConflictError(
                f"a volume named {name} ({strangers[0].id}) exists but is not cluster "
                f"{cluster}'s volume {spec.logical}",
                hint="rename or delete that volume; cloudhp does not adopt it by name alone",
            )
        meta = {
            TAG_KEY: cluster,
            cmd.META_VOLUME: spec.logical,
            cmd.META_FS: spec.filesystem,
            cmd.META_NODE: "",
            cmd.META_MOVE: "",
        }
        if expires:
            meta[cmd.META_EXPIRES] = expires
        attrs: dict[str, Any] = {"name": name, "size": spec.size_gb, "metadata": meta}
        if spec.volume_type:
            attrs["volume_type"] = spec.volume_type
        volume = conn.block_storage.create_volume(**attrs)
        volume = conn.block_storage.wait_for_status(
            volume, "available", failures=["error"], interval=1, wait=int(wait)
        )
    return volume, True


def set_metadata(conn: Any, volume: Any, **values: str) -> Any:
    """Merges `values` into the volume's metadata (keys with '-' pass through a dict)."""
    with cloud_call(f"recording {', '.join(values)} on volume {volume.name}"):
        conn.block_storage.set_volume_metadata(volume, **values)
        return conn.block_storage.get_volume(volume.id)


def record(conn: Any, volume: Any, key: str, value: str) -> Any:
    return set_metadata(conn, volume, **{key: value})


def attachment(volume: Any) -> tuple[str, str] | None:
    """(server id, device) of the volume's attachment, or None when it is detached."""
    for item in volume.attachments or []:
        return str(item["server_id"]), str(item.get("device") or "")
    return None


def _wait_status(conn: Any, volume_id: str, status: str, what: str, wait: float) -> Any:
    storage = conn.block_storage
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen["volume"] = storage.get_volume(volume_id)
        if seen["volume"].status == "error":
            raise ConflictError(f"volume {volume_id} went to error while {what}")
        return bool(seen["volume"].status == status)

    with cloud_call(what):
        poll_until(done, timeout=wait, interval=1.0, what=f"{what} (Cinder status {status})")
    return seen["volume"]


def attach(conn: Any, volume: Any, server_id: str, wait: float = WAIT) -> tuple[Any, str]:
    """Attaches through Nova and waits for `in-use`; the volume and the device Nova names.

    Raises:
        ConflictError: The volume is attached to another server (detach it first).
    """
    held = attachment(volume)
    if held is not None and held[0] != server_id:
        raise ConflictError(f"volume {volume.name} is attached to server {held[0]}")
    if held is None:
        with cloud_call(f"attaching volume {volume.name} to server {server_id}"):
            conn.compute.create_volume_attachment(server_id, volume=volume.id)
    volume = _wait_status(conn, volume.id, "in-use", f"attaching volume {volume.name}", wait)
    found = attachment(volume)
    if found is None or found[0] != server_id:
        raise ConflictError(f"volume {volume.name} is in-use but not attached to {server_id}")
    return volume, found[1]


def detach(conn: Any, volume: Any, wait: float = WAIT) -> tuple[Any, bool]:
    """Detaches through Nova (never force) and waits for `available`; False when it was."""
    held = attachment(volume)
    if held is None and volume.status == "available":
        return volume, False
    if held is not None:
        with cloud_call(f"detaching volume {volume.name} from server {held[0]}"):
            conn.compute.delete_volume_attachment(held[0], volume.id)
    name = f"detaching volume {volume.name}"
    return _wait_status(conn, volume.id, "available", name, wait), True


def choose_node(nodes: Sequence[N], volume: Any, load: dict[str, int] | None = None) -> N:
    """Where the volume should be: the node it is attached to, else the recorded one,
    else the least loaded worker, not an ingress node if another will do."""
    load = load or {}
    held = attachment(volume)
    for node in nodes:
        if held is not None and node.server_id == held[0]:
            return node
    recorded = metadata(volume).get(cmd.META_NODE)
    for node in nodes:
        if node.name == recorded:
            return node
    return min(nodes, key=lambda n: (n.ingress, n.role != "worker", load.get(n.name, 0), n.name))


# --- on the node ------------------------------------------------------------------


def _script(runner: Runner, argv: list[str], what: str) -> tuple[int, str]:
    result = runner.run(argv, check=False)
    if result.exited in (cmd.UUID_MISMATCH, cmd.NO_DATA_DIR, cmd.NOT_BLANK):
        raise ConflictError(
            f"{what} on {runner.host}: {result.stderr.strip()}",
            hint="cloudhp never formats a volume twice nor mounts a filesystem it did not "
            "make; compare `blkid` on the node with the volume's metadata cloudhp-fs-uuid",
        )
    if result.exited != 0:
        raise RemoteCommandError(runner.host, " ".join(argv), result.exited, result.stderr)
    return result.exited, result.stdout.strip()


def node_device(runner: Runner, volume: Any, device: str) -> str:
    return _script(runner, cmd.device_script(volume.id, device), "finding the device")[1]


def is_mounted(runner: Runner, logical: str) -> bool:
    return runner.run(cmd.mounted_command(logical), check=False).exited == 0


def prepare(conn: Any, runner: Runner, volume: Any, device: str) -> tuple[Any, bool]:
    """The volume's filesystem mounted at its directory on this node.

    Blank (blkid finds nothing): a UUID is recorded in the volume's metadata first,
    then the device is formatted with it, so a run killed in between formats the
    still-blank device with the same UUID and never leaves an unrecorded filesystem.
    Otherwise the device's UUID must be the recorded one, e2fsck repairs what is safe
    (stopping on what it cannot fix), and it is mounted.

    Raises:
        ConflictError: A filesystem that is not the recorded one, or one e2fsck cannot
            repair: nothing is formatted or mounted.
    """
    logical = metadata(volume)[cmd.META_VOLUME]
    if is_mounted(runner, logical):
        recorded = metadata(volume).get(cmd.META_UUID, "")
        dev = node_device(runner, volume, device)
        _, out = _script(runner, cmd.mount_script(dev, recorded, logical), "mounting")
        return volume, out == "changed"
    dev = node_device(runner, volume, device)
    probe = runner.run(cmd.probe_command(dev), check=False)
    recorded = metadata(volume).get(cmd.META_UUID, "")
    if probe.exited == 2:
        if not recorded:
            recorded = str(uuidlib.uuid4())
            volume = set_metadata(conn, volume, **{cmd.META_UUID: recorded, cmd.META_FS: "ext4"})
        _script(runner, cmd.format_script(dev, recorded, logical), "formatting")
        return volume, True
    if probe.exited != 0:
        raise RemoteCommandError(runner.host, "blkid -p " + dev, probe.exited, probe.stderr)
    found = cmd.parse_probe(probe.stdout).get("UUID", "")
    if not recorded or found != recorded:
        raise ConflictError(
            f"volume {logical} on {runner.host} holds filesystem {found or '(no UUID)'}, "
            f"but cloudhp recorded {recorded or 'none'}: it is not mounted",
            hint="cloudhp mounts only the filesystem it made; check the volume's "
            "cloudhp-fs-uuid metadata against `blkid` on the node",
        )
    check_filesystem(runner, dev, logical)
    _script(runner, cmd.mount_script(dev, recorded, logical), "mounting")
    return volume, True


def check_filesystem(runner: Runner, device: str, logical: str) -> None:
    """e2fsck -p before mounting; an error it cannot fix stops everything."""
    result = runner.run(cmd.check_command(device), check=False)
    if cmd.check_failed(result.exited):
        raise ConflictError(
            f"e2fsck found errors it cannot fix on volume {logical} ({device} on "
            f"{runner.host}, exit {result.exited}): it is not mounted\n"
            + (result.stdout + result.stderr).strip()[-1500:],
            hint=f"repair it by hand with `cloudhp ssh` and `sudo e2fsck {device}`",
        )


def unmount(runner: Runner, logical: str) -> bool:
    return _script(runner, cmd.umount_script(logical), "unmounting")[1] == "changed"


# --- placement --------------------------------------------------------------------


def labelled_nodes(lead: Runner, logical: str) -> list[str]:
    """The Swarm nodes (hostnames) carrying the volume's placement label."""
    out = lead.run(
        ["docker", "node", "ls", "--filter", f"node.label={cmd.node_label(logical)}=true",
         "--format", "{{.Hostname}}"]
    ).stdout  # fmt: skip
    return sorted(out.split())


def place(lead: Runner, node: str, logical: str) -> bool:
    """The label on `node` only (Swarm updates a Down node's labels as well)."""
    have = labelled_nodes(lead, logical)
    for other in have:
        if other != node:
            lead.run(cmd.label_rm_command(other, logical))
    if node not in have:
        lead.run(cmd.label_add_command(node, logical))
    return have != [node]


def unplace(lead: Runner, logical: str) -> bool:
    have = labelled_nodes(lead, logical)
    for node in have:
        lead.run(cmd.label_rm_command(node, logical))
    return bool(have)


def services_using(lead: Runner, logical: str) -> list[str]:
    """The Swarm services constrained to the volume's node."""
    ids = lead.run(["docker", "service", "ls", "-q"]).stdout.split()
    if not ids:
        return []
    docs = json.loads(lead.run(["docker", "service", "inspect", *ids]).stdout)
    wanted = cmd.placement_constraint(logical)

    def constraints(doc: dict[str, Any]) -> list[str]:
        placement = (doc["Spec"].get("TaskTemplate") or {}).get("Placement") or {}
        return list(placement.get("Constraints") or [])

    return sorted(d["Spec"]["Name"] for d in docs if wanted in constraints(d))


def running_tasks(lead: Runner, services: Iterable[str]) -> list[str]:
    """The nodes where a task of the services runs, also one Swarm is stopping.

    A task being stopped already has desired state Shutdown but still runs (for its
    stop grace period) and still holds its bind mount, so the current state decides.
    """
    nodes: list[str] = []
    for service in services:
        out = lead.run(
            ["docker", "service", "ps", "--format", "{{.Node}} {{.CurrentState}}", service],
            check=False,
        ).stdout
        for line in out.splitlines():
            node, _, state = line.partition(" ")
            if node and state.split(" ")[0] in ("Running", "Starting", "Preparing", "Assigned"):
                nodes.append(node)
    return nodes


def containers_of(runner: Runner, services: Iterable[str]) -> list[str]:
    """The node's own view: containers of the services that still exist and run."""
    found: list[str] = []
    for service in services:
        out = runner.run(
            ["docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}"]
        ).stdout
        found += out.split()
    return found
