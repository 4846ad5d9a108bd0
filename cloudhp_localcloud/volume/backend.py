"""Cinder's data plane: sparse files, loop devices, and device nodes inside servers.

A volume is a sparse file `<data dir>/volumes/<id>.img` of its size. Attaching it to
a server binds the file to a free loop device on the host (`losetup`) and creates the
block device node `/dev/vdX` (major 7, the loop's minor) inside the server's
container with `mknod` through `docker exec`; server containers are allowed that by
their device cgroup rule "b 7:* rwm" and CAP_MKNOD. Inside the server the disk is a
real block device: mkfs, mount, write; detach it and attach it to another server and
the data is there. Detach removes the node and frees the loop device.

Differences from Cinder (for the README): the disk is a loop device node created in
the container, not a virtio disk hot-plugged into a VM, so it shows in `lsblk` as a
loop device and there is no udev event; a container's /dev is rebuilt when it
restarts, so compute must call `restore_server_devices` after starting a server;
requires loop devices on the host (root, /dev/loop-control), else attach fails with
a 503 that says so. The loop mapping is kept in the volume record ("lc_loop"), and
`reconcile` rebinds attachments whose loop device is gone (after a host reboot or a
reset of the loop devices) when the daemon starts.

Two servers never reach one disk: a paused (frozen) container can neither get nor
lose a device node (409: the command cannot run in it, and a node left there would
reach the next volume given that loop device), and a file still mapped by a loop
device (a server still had the filesystem mounted when the disk was detached from
it, so the kernel keeps the mapping until it lets go) is not mapped a second time
(409). A VM would see its disk vanish on detach instead. A detach from a server that
is stopped or gone needs nothing in it: a container's /dev is made anew at start.

Called by compute: attach_volume(store, volume_id, server_id, device) -> "/dev/vdb",
detach_volume(store, volume_id, server_id).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import docker
import docker.errors

from cloudhp_localcloud import dockerlabels, faults
from cloudhp_localcloud.store import Record, Store, new_id, utcnow
from cloudhp_localcloud.volume.loops import (
    LOOP_MAJOR,
    loop_attach,
    loop_backing_file,
    loop_detach,
    loop_minor,
    loops_under,
    wait_unbound,
)

log = logging.getLogger(__name__)

VOLUME = "volume"
GIB = 1024**3
# The only device names a server gets: they go into commands run as root in it.
DEVICE = re.compile(r"/dev/vd[b-z]")
# A fixed script: the device and its numbers are its arguments, never its text.
_MAKE_NODE = (
    'rm -f "$1" && mknod -m 660 "$1" b "$2" "$3" && { chgrp disk "$1" 2>/dev/null || true; }'
)
_client: docker.DockerClient | None = None


def volumes_dir(store: Store) -> Path:
    """The volume files live beside state.db, in the data dir."""
    return store.path.parent / "volumes"


def volume_path(store: Store, volume_id: str) -> Path:
    return volumes_dir(store) / f"{volume_id}.img"


def create_file(store: Store, volume_id: str, size_gb: int) -> Path:
    """A sparse file of `size_gb` GiB: no disk is used until the server writes."""
    path = volume_path(store, volume_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "ab") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.truncate(size_gb * GIB)
    return path


def delete_file(store: Store, volume_id: str) -> None:
    volume_path(store, volume_id).unlink(missing_ok=True)


# --- device nodes inside server containers -------------------------------------------


def _docker() -> docker.DockerClient:
    global _client
    if _client is None:
        from cloudhp.errors import CloudhpError
        from cloudhp.images.engine import local_engine

        try:
            _client = local_engine()
        except CloudhpError as exc:
            raise faults.ServiceUnavailable(f"Docker engine unavailable: {exc}") from exc
    return _client


def set_docker_client(client: docker.DockerClient | None) -> None:
    global _client
    _client = client


def _container(server_id: str) -> Any:
    try:
        return _docker().containers.get(dockerlabels.server_container(server_id))
    except docker.errors.NotFound:
        return None


def _exec(container: Any, argv: list[str]) -> None:
    result = container.exec_run(argv, user="root")
    if result.exit_code != 0:
        raise faults.Fault(
            f"Could not create the disk device in server container {container.name}: "
            f"{result.output.decode(errors='replace').strip()}"
        )


def _paused(server_id: str, what: str) -> faults.Conflict:
    return faults.Conflict(
        f"Cannot {what} a volume of server {server_id}: its container is paused (frozen), "
        "so the disk cannot be plugged or unplugged, as a VM that never answers the "
        "hot-plug. Stop the server (os-stop) first."
    )


def make_node(server_id: str, device: str, minor: int) -> bool:
    """Create `device` in the running server container; False if it is not running
    (compute makes it when the server starts).

    Raises:
        faults.Conflict: the container is paused.
    """
    container = _container(server_id)
    if container is not None and container.status == "paused":
        raise _paused(server_id, "attach")
    if container is None or container.status != "running":
        return False
    _exec(container, ["sh", "-c", _MAKE_NODE, "sh", device, str(LOOP_MAJOR), str(minor)])
    return True


def remove_node(server_id: str, device: str) -> None:
    """Remove `device` from the server container.

    A container that is not running needs nothing: its /dev is made anew when it
    starts. A node left behind would reach whatever volume gets that loop device next,
    so a paused container, which cannot run the command, is refused, and a failed
    removal is an error.

    Raises:
        faults.Conflict: the container is paused.
        faults.Fault: the node could not be removed.
    """
    container = _container(server_id)
    if container is None:
        return
    if container.status == "paused":
        raise _paused(server_id, "detach")
    if container.status == "running":
        try:
            _exec(container, ["rm", "-f", "--", device])
        except docker.errors.APIError as exc:
            container.reload()
            if container.status in ("running", "paused"):
                raise faults.Fault(f"Could not remove the disk {device}: {exc}") from exc


# --- attach / detach (the compute contract) ------------------------------------------


def _get(store: Store, volume_id: str) -> Record:
    volume = store.get(VOLUME, volume_id)
    if volume is None:
        raise faults.NotFound(f"Volume {volume_id} could not be found.")
    return volume


def used_devices(store: Store, server_id: str) -> set[str]:
    return {
        a["device"]
        for v in store.list(VOLUME)
        for a in v.get("attachments", [])
        if a.get("server_id") == server_id
    }


def _pick_device(used: set[str], wanted: str | None) -> str:
    """`wanted` if it is a free /dev/vd[b-z], else the first free one.

    Like Nova's libvirt driver, which takes the requested name as a hint only.
    """
    if wanted is not None and DEVICE.fullmatch(wanted) and wanted not in used:
        return wanted
    for letter in "bcdefghijklmnopqrstuvwxyz":
        device = f"/dev/vd{letter}"
        if device not in used:
            return device
    raise faults.BadRequest("No free device name left on this server.")


def attach_volume(
    store: Store,
    volume_id: str,
    server_id: str,
    device: str | None,
    attachment_id: str | None = None,
) -> str:
    """Attach a volume to a server; returns the device path inside it ("/dev/vdb").

    Statuses go available -> attaching -> in-use; on failure back to available.
    `attachment_id` is the one compute shows for the attachment, so that both views
    name it alike (a new one when None).

    Raises:
        faults.NotFound: no such volume.
        faults.Conflict: already attached to this server, the server is paused, or
            the file is still open through an earlier attachment.
        faults.BadRequest: the volume is not available (in use elsewhere, creating...).
        faults.ServiceUnavailable: no loop devices on this host.
    """
    with store.transaction():
        volume = _get(store, volume_id)
        if any(a["server_id"] == server_id for a in volume.get("attachments", [])):
            raise faults.Conflict(f"Volume {volume_id} is already attached to {server_id}.")
        if volume["status"] != "available":
            raise faults.BadRequest(
                f"Invalid volume: Volume {volume_id} status must be available to reserve, "
                f"but the current status is: {volume['status']}."
            )
        device = _pick_device(used_devices(store, server_id), device)
        store.update(VOLUME, volume_id, {"status": "attaching", "updated_at": utcnow()})
    loop = None
    try:
        wait_unbound(volume_id, Path(volume["lc_path"]))
        loop = loop_attach(Path(volume["lc_path"]))
        make_node(server_id, device, loop_minor(loop))
    except BaseException:
        if loop:
            loop_detach(loop)
        store.update(VOLUME, volume_id, {"status": "available", "updated_at": utcnow()})
        raise
    now = utcnow()
    attachment = {
        "id": volume_id,
        "attachment_id": attachment_id or new_id(),
        "volume_id": volume_id,
        "server_id": server_id,
        "host_name": "localcloud",
        "device": device,
        "attached_at": now,
    }
    store.update(
        VOLUME,
        volume_id,
        {"status": "in-use", "attach_status": "attached", "attachments": [attachment],
         "lc_loop": loop, "updated_at": now},
    )  # fmt: skip
    return device


def detach_volume(store: Store, volume_id: str, server_id: str) -> None:
    """Detach: in-use -> detaching -> available; the data stays in the file. A server
    that is stopped, killed or gone is fine (Nova detaches from a SHUTOFF server).

    Raises:
        faults.NotFound: no such volume, or it is not attached to this server.
        faults.Conflict: the server's container is paused; the volume stays in-use.
    """
    with store.transaction():
        volume = _get(store, volume_id)
        found = [a for a in volume.get("attachments", []) if a["server_id"] == server_id]
        if not found:
            raise faults.NotFound(f"Volume {volume_id} is not attached to server {server_id}.")
        store.update(VOLUME, volume_id, {"status": "detaching", "updated_at": utcnow()})
    try:
        release(volume, found[0])
    except BaseException:
        store.update(VOLUME, volume_id, {"status": "in-use", "updated_at": utcnow()})
        raise
    store.update(
        VOLUME,
        volume_id,
        {"status": "available", "attach_status": "detached", "attachments": [],
         "lc_loop": None, "updated_at": utcnow()},
    )  # fmt: skip


def release(volume: Record, attachment: dict[str, Any] | None) -> None:
    """Undo an attachment in the container, then on the host (idempotent).

    Raises:
        faults.Conflict: the server's container is paused (see remove_node).
    """
    if attachment is not None:
        remove_node(attachment["server_id"], attachment["device"])
    loop = volume.get("lc_loop")
    if loop and loop_backing_file(loop) == str(Path(volume["lc_path"]).resolve()):
        loop_detach(loop)


def _rebind(store: Store, volume: Record) -> str:
    """The volume's loop device, bound again if it no longer maps the file."""
    loop = volume.get("lc_loop")
    path = Path(volume["lc_path"])
    if loop and loop_backing_file(loop) == str(path.resolve()):
        return loop
    loop = loop_attach(path)
    store.update(VOLUME, volume["id"], {"lc_loop": loop})
    return loop


def restore_server_devices(store: Store, server_id: str) -> list[str]:
    """Recreate a server's disk nodes (its container's /dev is new after a restart)."""
    made = []
    for volume in store.list(VOLUME):
        for attachment in volume.get("attachments", []):
            if attachment.get("server_id") == server_id:
                loop = _rebind(store, volume)
                if make_node(server_id, attachment["device"], loop_minor(loop)):
                    made.append(attachment["device"])
    return made


def reconcile(store: Store) -> int:
    """At daemon start: rebind attachments whose loop device is gone; returns how many."""
    fixed = 0
    for volume in store.list(VOLUME):
        for attachment in volume.get("attachments", []):
            loop = volume.get("lc_loop")
            if loop and loop_backing_file(loop) == str(Path(volume["lc_path"]).resolve()):
                continue
            try:
                loop = _rebind(store, volume)
                make_node(attachment["server_id"], attachment["device"], loop_minor(loop))
                fixed += 1
            except faults.Fault as exc:
                log.warning("cannot restore attachment of volume %s: %s", volume["id"], exc)
    return fixed


def detach_all_loops(data_dir: Path) -> int:
    """Reset hook body: free every loop device backed by a file of this data dir."""
    loops = loops_under(data_dir / "volumes")
    for loop in loops:
        loop_detach(loop)
    return len(loops)
