"""A server record's states as Nova shows them, and the lock that orders changes to it.

Both the worker pool's operations (lifecycle.py, snapshots.py) and the power-state
watcher (power.py) write server records; they take the server's lock first, so a
watcher that saw the container die never overwrites what an os-start is doing.
"""

from __future__ import annotations

import threading
from typing import Any

from cloudhp_localcloud.store import Record, Store, utcnow

ACTIVE = {"status": "ACTIVE", "vm_state": "active", "task_state": None, "power_state": 1}
SHUTOFF = {"status": "SHUTOFF", "vm_state": "stopped", "task_state": None, "power_state": 4}

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def server_lock(server_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(server_id, threading.Lock())


def forget_lock(server_id: str) -> None:
    """Once the server is deleted: its lock is no longer needed."""
    with _locks_guard:
        _locks.pop(server_id, None)


def set_server(store: Store, server_id: str, **changes: Any) -> Record | None:
    """Update a server record unless it was deleted meanwhile (then None)."""
    changes.setdefault("updated", utcnow())
    try:
        return store.update("server", server_id, changes)
    except KeyError:
        return None


def fault(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "created": utcnow()}


def error_state(code: int, message: str) -> dict[str, Any]:
    return {
        "status": "ERROR",
        "vm_state": "error",
        "task_state": None,
        "power_state": 0,
        "fault": fault(code, message),
    }
