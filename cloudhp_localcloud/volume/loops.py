"""Loop devices on the host: the block devices behind localcloud's volumes.

A volume's sparse file is bound to a free loop device (`losetup`); a file is never
bound twice, so two servers never reach one disk (see backend.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import subprocess
import time
from pathlib import Path

from cloudhp_localcloud import faults

HOLDER_WAIT = 5.0  # seconds a detached disk may take to be closed by a dying server
LOOP_MAJOR = 7
_LOOP_CTL_GET_FREE = 0x4C82


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout


def _no_loops(detail: str) -> faults.ServiceUnavailable:
    return faults.ServiceUnavailable(
        f"Loop devices are not available on this host ({detail}); localcloud volumes are "
        "attached as loop devices, so run localcloud as root on a host with the loop "
        "module (modprobe loop)."
    )


def loop_attach(path: Path) -> str:
    """Bind `path` to a free loop device; returns e.g. "/dev/loop3".

    Where the kernel has free loop devices but /dev lacks their nodes (a container
    without udev), the node is made from LOOP_CTL_GET_FREE's answer.

    Raises:
        faults.ServiceUnavailable: no loop support (no losetup, no /dev/loop-control).
    """
    try:
        return _run("losetup", "--find", "--show", str(path)).strip()
    except FileNotFoundError:
        raise _no_loops("losetup is not installed") from None
    except subprocess.CalledProcessError as exc:
        first_error = exc.stderr.strip()
    try:
        fd = os.open("/dev/loop-control", os.O_RDWR)
    except OSError as exc:
        raise _no_loops(f"{first_error}; /dev/loop-control: {exc.strerror}") from None
    try:
        for _ in range(8):
            number = fcntl.ioctl(fd, _LOOP_CTL_GET_FREE)
            node = f"/dev/loop{number}"
            if not os.path.exists(node):
                os.mknod(node, 0o660 | stat.S_IFBLK, os.makedev(LOOP_MAJOR, number))
            try:
                _run("losetup", node, str(path))
                return node
            except subprocess.CalledProcessError as exc:  # raced with another user
                first_error = exc.stderr.strip()
    finally:
        os.close(fd)
    raise _no_loops(first_error)


def loop_detach(loop: str) -> None:
    with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
        _run("losetup", "-d", loop)


def loop_backing_file(loop: str) -> str | None:
    """The file a loop device maps, from sysfs; None when unbound or absent."""
    name = Path(loop).name
    try:
        text = Path(f"/sys/block/{name}/loop/backing_file").read_text().strip()
    except OSError:
        return None
    return text.removesuffix(" (deleted)")


def loop_minor(loop: str) -> int:
    return os.minor(os.stat(loop).st_rdev)


def _bound_loops() -> list[tuple[str, str]]:
    """(loop device, backing file) for every bound loop device on the host."""
    try:
        out = _run("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE")
    except (FileNotFoundError, subprocess.CalledProcessError):
        return []
    found = []
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            found.append((parts[0], parts[1].removesuffix(" (deleted)")))
    return found


def loops_under(directory: Path) -> list[str]:
    """Every loop device whose backing file is under `directory`."""
    prefix = str(directory.resolve()) + "/"
    return [loop for loop, back in _bound_loops() if back.startswith(prefix)]


def loops_of(path: Path) -> list[str]:
    """The loop devices still mapping `path`."""
    target = str(path.resolve())
    return [loop for loop, back in _bound_loops() if back == target]


def wait_unbound(volume_id: str, path: Path) -> None:
    """Refuse to map a file that a loop device still maps.

    `losetup -d` of a loop device that is still open (the filesystem is mounted in a
    server it was detached from while running) only marks it to go at the last close;
    a second loop device on the same file would give two servers one disk. A killed
    server's mounts go with its processes, a moment after Docker reports it dead.

    Raises:
        faults.Conflict: the file is still mapped after HOLDER_WAIT seconds.
    """
    deadline = time.monotonic() + HOLDER_WAIT
    while holders := loops_of(path):
        if time.monotonic() > deadline:
            raise faults.Conflict(
                f"Volume {volume_id} is still open on the host through {', '.join(holders)}: "
                "a server it was detached from while running still uses it (a mounted "
                "filesystem). Unmount it there or stop that server, then attach again."
            )
        time.sleep(0.2)
