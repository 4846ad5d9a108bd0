"""The files a running server keeps in its data dir: the pid file and localcloud.json.

The server process (server.py) writes both and removes the pid file when it stops;
everyone else (daemon.py, clients.py) only reads them. A pid is believed only while
its process is alive, not a zombie, and a localcloud process (a recycled pid must
never be signalled).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from cloudhp_localcloud.config import LocalCloudConfig


def write_json(path: Path, value: Any) -> None:
    """Replace `path` atomically, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def read_runtime(config: LocalCloudConfig) -> dict[str, Any]:
    """localcloud.json (where the server listens, whether it seeded), or {}."""
    runtime: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        runtime = json.loads(config.runtime_path.read_text())
    return runtime


def seeded(config: LocalCloudConfig) -> bool:
    try:
        return bool(json.loads(config.runtime_path.read_text()).get("seeded"))
    except (OSError, ValueError):
        return False


def auth_url(config: LocalCloudConfig) -> str:
    """The Keystone URL the server announced, else the configured one."""
    return str(read_runtime(config).get("auth_url", config.auth_url))


def alive(pid: int) -> bool:
    """Is `pid` a live process? A zombie (our exited child, not yet reaped) is not."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def read_pid(config: LocalCloudConfig) -> int | None:
    """The pid of the live localcloud for this data dir, or None (stale files ignored)."""
    try:
        pid = int(json.loads(config.pid_path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    # A recycled pid must never be signalled: check it is a localcloud process.
    if cmdline.exists() and b"cloudhp" not in cmdline.read_bytes():
        return None
    return pid
