"""One command at a time on a cluster: init, deploy, scale, rm, rollback and teardown of
the same cluster never overlap when they run from the same bastion (an SSH session and
a scheduled teardown, two terminals).

The lock is `flock(2)` on `$CLOUDHP_HOME/locks/<cluster>.lock`, outside the cluster
directory so that a teardown from a bastion that never ran init does not create one.
The kernel releases a flock when its holder dies, even by SIGKILL, so a stale lock
cannot block anyone: the next command takes it over and says whose it was (the holder
writes its pid, command and start time into the file and empties it on a clean exit;
text left behind means the holder died holding it). Commands on other bastions are not
seen: the cloud has no lock primitive cloudhp could rely on, and the steps' read-compare-
act keeps such a race safe, if wasteful.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cloudhp.errors import ConflictError, WaitTimeout
from cloudhp.naming import validate_cluster_name
from cloudhp.state import cloudhp_home

WAIT_INTERVAL = 1.0
WAIT_TIMEOUT = 3600.0


class ClusterBusy(ConflictError):
    """Another command holds the cluster's lock and `--no-wait` was given."""


def lock_path(cluster: str) -> Path:
    validate_cluster_name(cluster)
    return cloudhp_home() / "locks" / f"{cluster}.lock"


def describe(holder: dict[str, object]) -> str:
    """`pid 4242 (cloudhp deploy on bastion-1, since 2026-12-02T10:00:00Z)`."""
    return (
        f"pid {holder.get('pid', '?')} ({holder.get('command', '?')} on "
        f"{holder.get('host', '?')}, since {holder.get('since', '?')})"
    )


def _holder(fd: int) -> dict[str, object] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode(errors="replace").strip()
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return {"command": "unknown (unreadable lock file)"}
    return found if isinstance(found, dict) else {"command": "unknown (unreadable lock file)"}


def _write_holder(fd: int, command: str) -> None:
    since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    me = {"pid": os.getpid(), "command": command, "host": socket.gethostname(), "since": since}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(me).encode())
    os.fsync(fd)


@contextmanager
def cluster_lock(
    cluster: str,
    command: str,
    *,
    wait: bool = True,
    say: Callable[[str], None] = lambda _: None,
    timeout: float = WAIT_TIMEOUT,
) -> Iterator[None]:
    """Hold `cluster`'s lock for the block.

    `say` hears, once, that the command waits and for whom, or that it took over a
    lock whose holder died.

    Raises:
        ClusterBusy: the lock is held and `wait` is False (nothing was done).
        WaitTimeout: it was still held after `timeout` seconds.
    """
    path = lock_path(cluster)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = describe(_holder(fd) or {})
                if not wait:
                    raise ClusterBusy(
                        f"cluster {cluster} is busy: {holder} holds its lock",
                        hint="run the command again when that one has finished, or "
                        "without --no-wait to wait for it",
                    ) from None
                if not told:
                    say(f"cluster {cluster} is busy: waiting for {holder}")
                    told = True
                if time.monotonic() > deadline:
                    raise WaitTimeout(
                        f"cluster {cluster} was still locked by {holder} after {timeout:.0f}s"
                    ) from None
                time.sleep(WAIT_INTERVAL)
        left = _holder(fd)
        if left is not None:
            say(f"took over the lock of cluster {cluster} left by {describe(left)}, gone")
        _write_holder(fd, command)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
