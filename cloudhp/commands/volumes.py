"""Names, paths and node-side command lines for Cinder-backed volumes, as pure functions.

The contract every part of cloudhp shares (deploy, `volume move`, the failover
controller): a volume `<project>_<volume>` is mounted at
`/var/lib/cloudhp/volumes/<project>_<volume>` on the node holding it, and its data lives
in the `data/` directory made on the filesystem when it was formatted. The service
bind-mounts that `data/`, so a task started where the filesystem is not mounted fails
(bind source missing) instead of writing to the node's root disk. The holding node
carries the label `cloudhp.volume.<project>_<volume>=true` and the service the matching
placement constraint.

Every node-side command runs as root (`sudo -n`, so a missing sudo rule fails at once)
and is one round trip: a small script that reads, compares, then acts, and prints
`changed` or `unchanged` where that matters. Values reach scripts as positional
arguments, never pasted into the script text.
"""

from __future__ import annotations

import re

ROOT = "/var/lib/cloudhp/volumes"
LABEL_PREFIX = "cloudhp.volume."
FILESYSTEMS = ("ext4",)
DATA = "data"

META_CLUSTER = "cloudhp-cluster"
META_VOLUME = "cloudhp-volume"
META_UUID = "cloudhp-fs-uuid"
META_FS = "cloudhp-fs"
META_NODE = "cloudhp-node"
META_MOVE = "cloudhp-move"
META_EXPIRES = "cloudhp-expires"

UUID_MISMATCH = 10
"""Exit status of `mount_script` when the device holds another filesystem than the
recorded one: nothing is mounted."""
NO_DATA_DIR = 11
"""Exit status of `mount_script` when the mounted filesystem has no `data/`."""
NOT_BLANK = 12
"""Exit status of `format_script` when the device is not blank: nothing is written."""

_SUDO = ["sudo", "-n"]
_LOGICAL = re.compile(r"^[a-z][a-z0-9-]*_[a-z0-9][a-z0-9-]*$")


def logical_name(project: str, volume: str) -> str:
    """The name users and Swarm labels know a volume by: `<project>_<volume>`."""
    name = f"{project}_{volume}"
    if not _LOGICAL.fullmatch(name):
        raise ValueError(f"volume name {name!r} must match {_LOGICAL.pattern}")
    return name


def mount_dir(logical: str) -> str:
    return f"{ROOT}/{logical}"


def data_dir(logical: str) -> str:
    """What the service bind-mounts: exists only on the mounted filesystem."""
    return f"{mount_dir(logical)}/{DATA}"


def node_label(logical: str) -> str:
    return LABEL_PREFIX + logical


def placement_constraint(logical: str) -> str:
    return f"node.labels.{node_label(logical)}==true"


def fs_label(logical: str) -> str:
    """The ext4 label (at most 16 bytes): a hint for a person running blkid; cloudhp
    identifies the filesystem by its UUID alone."""
    return logical[:16]


def device_script(volume_id: str, device: str) -> list[str]:
    """Prints the block device of `volume_id` on the node.

    Nova's attachment `device` is only a hint on real clouds (the guest's kernel
    names disks in its own order), so the virtio serial (the volume id's first 20
    characters, as KVM passes it) is tried first; a cloud that exposes no serial
    (the local cloud makes the node itself) leaves the attachment's device.
    """
    script = (
        'set -u; p="/dev/disk/by-id/virtio-$1"; '
        'if [ -e "$p" ]; then readlink -f "$p"; '
        'elif [ -b "$2" ]; then echo "$2"; '
        'else echo "no block device for volume $1 (neither $p nor $2)" >&2; exit 3; fi'
    )
    return [*_SUDO, "sh", "-c", script, "sh", volume_id[:20], device]


def probe_command(device: str) -> list[str]:
    """The device's filesystem, read from the device itself (`-p`: no blkid cache).

    blkid exits 2 when it finds no filesystem: the device is blank.
    """
    return [*_SUDO, "blkid", "-p", "-o", "export", device]


def parse_probe(text: str) -> dict[str, str]:
    """`blkid -o export` output as a mapping (TYPE, UUID, LABEL, ...)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep:
            found[key] = value
    return found


def format_script(device: str, uuid: str, logical: str) -> list[str]:
    """Formats a blank device with the given UUID, mounts it and makes `data/`.

    The device is probed again right before mkfs (exit NOT_BLANK if anything is there),
    and mkfs itself is not forced, so nothing with a filesystem is ever formatted.
    """
    script = (
        'set -eu; dev="$1"; uuid="$2"; label="$3"; dir="$4"; '
        'set +e; blkid -p -o export "$dev" >/dev/null 2>&1; found=$?; set -e; '
        f'if [ "$found" != 2 ]; then echo "$dev is not blank" >&2; exit {NOT_BLANK}; fi; '
        'mkfs.ext4 -q -U "$uuid" -L "$label" "$dev" </dev/null; '
        'mkdir -p "$dir"; mount -t ext4 "$dev" "$dir"; '
        f'mkdir -p "$dir/{DATA}"; echo changed'
    )
    return [*_SUDO, "sh", "-c", script, "sh", device, uuid, fs_label(logical), mount_dir(logical)]


def check_command(device: str, repair: bool = True) -> list[str]:
    """e2fsck on the unmounted device: `-p` repairs what is safe (exit 0 or 1 is clean
    or fixed), `-n` only reports; 4 and above are errors it cannot fix alone."""
    return [*_SUDO, "e2fsck", "-p" if repair else "-n", device]


def check_failed(exited: int) -> bool:
    """Whether e2fsck's exit status means the filesystem must not be mounted."""
    return exited >= 4


def mount_script(device: str, uuid: str, logical: str) -> list[str]:
    """Mounts `device` at the volume's directory if it holds filesystem `uuid`.

    Unchanged when that device is already mounted there; exit UUID_MISMATCH (nothing
    mounted) when the device holds another filesystem, or when another device is
    mounted there; exit NO_DATA_DIR (after unmounting again) when the filesystem has no
    `data/`, which would mean it was not formatted by cloudhp.
    """
    script = (
        'set -eu; dev="$1"; uuid="$2"; dir="$3"; '
        'have="$(blkid -p -s UUID -o value "$dev" || true)"; '
        'if [ "$have" != "$uuid" ]; then '
        'echo "$dev holds filesystem ${have:-none}, not $uuid" >&2; '
        f"exit {UUID_MISMATCH}; fi; "
        'if mountpoint -q "$dir"; then '
        'src="$(findmnt -n -o SOURCE --mountpoint "$dir")"; '
        'if [ "$(readlink -f "$src")" = "$(readlink -f "$dev")" ]; then '
        "echo unchanged; exit 0; fi; "
        f'echo "$dir already holds $src" >&2; exit {UUID_MISMATCH}; fi; '
        'mkdir -p "$dir"; mount -t ext4 "$dev" "$dir"; '
        f'if [ ! -d "$dir/{DATA}" ]; then umount "$dir"; '
        f'echo "$dev has no {DATA}/ directory" >&2; exit {NO_DATA_DIR}; fi; '
        "echo changed"
    )
    return [*_SUDO, "sh", "-c", script, "sh", device, uuid, mount_dir(logical)]


def umount_script(logical: str) -> list[str]:
    """Unmounts the volume's directory if it is mounted (sync first)."""
    script = (
        'set -eu; dir="$1"; '
        'if mountpoint -q "$dir"; then sync; umount "$dir"; echo changed; '
        "else echo unchanged; fi"
    )
    return [*_SUDO, "sh", "-c", script, "sh", mount_dir(logical)]


def mounted_command(logical: str) -> list[str]:
    """Prints the device mounted at the volume's directory; exits 1 when none is."""
    return ["findmnt", "-n", "-o", "SOURCE", "--mountpoint", mount_dir(logical)]


def label_add_command(node: str, logical: str) -> list[str]:
    return ["docker", "node", "update", "--label-add", f"{node_label(logical)}=true", node]


def label_rm_command(node: str, logical: str) -> list[str]:
    return ["docker", "node", "update", "--label-rm", node_label(logical), node]


def node_labels_command(node: str) -> list[str]:
    return ["docker", "node", "inspect", "--format", "{{json .Spec.Labels}}", node]
