"""Power-state sync: the server record follows its container, as Nova's follows the VM.

Nova learns from the hypervisor's lifecycle events that a VM stopped, paused or
started behind its back and then syncs (nova/compute/manager.py,
`_sync_instance_power_state`); this is the same for containers, with Docker's event
stream as the lifecycle events. One watcher thread per process reads the stream of
this instance's server containers (die, pause, unpause, start) and syncs the server
each event names; every (re)connection syncs every server, so an event missed while
the stream was down is not lost. An event only says *which* server to look at: the
decision is made from the container's state read under the server's lock, so an
event that arrives late (a reboot's die, read after the restart) changes nothing.

The rules, Nova's for a server with no task in progress (a task in progress owns
the state: os-stop, reboot, a boot):

    vm_state  container            result
    active    exited, dead, made   SHUTOFF: vm_state stopped, power_state 4 (Nova
                                   calls its stop API; attachments stay)
    active    paused (frozen)      stays ACTIVE, power_state 3 (PAUSED): Nova ignores
                                   an unexpected pause, "the VM may be back soon";
                                   the server is unreachable meanwhile
    active    running              power_state 1
    active    gone                 power_state 0 (NOSTATE); Nova ignores that too
    stopped   running or paused    killed again, power_state 4 (Nova: "Instance is
                                   not stopped. Calling the stop API."), so a fenced
                                   server stays fenced whoever starts its container
    error     any                  power_state only

The cost is one idle HTTP stream to the engine, and a container inspect per event.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from cloudhp_localcloud import dockerlabels
from cloudhp_localcloud.compute import nodes
from cloudhp_localcloud.compute.serverstate import SHUTOFF, server_lock, set_server
from cloudhp_localcloud.store import Record, Store

log = logging.getLogger(__name__)

NOSTATE, RUNNING, PAUSED, SHUTDOWN = 0, 1, 3, 4
EVENTS = ("die", "pause", "unpause", "start")
RECONNECT_DELAY = 2.0
LOCK_WAIT = 30.0

_POWER_OF = {"running": RUNNING, "paused": PAUSED, "exited": SHUTDOWN, "dead": SHUTDOWN,
             "created": SHUTDOWN}  # fmt: skip


@dataclass(frozen=True)
class Sync:
    """What a sync does: record changes, and whether the container is killed first."""

    changes: dict[str, Any] = field(default_factory=dict)
    kill: bool = False


def decide(record: Record, container_status: str | None) -> Sync:
    """The sync for a server record and its container's Docker status (None: gone)."""
    if record.get("task_state"):
        return Sync()  # Nova: "the instance has a pending task; skip"
    vm_state = record.get("vm_state")
    if container_status is None:
        power = NOSTATE
    elif container_status in _POWER_OF:
        power = _POWER_OF[container_status]
    else:
        return Sync()  # restarting, removing: a moment later it is one of the above
    if vm_state == "active" and power == SHUTDOWN:
        return Sync(dict(SHUTOFF))
    if vm_state == "stopped" and power in (RUNNING, PAUSED):
        return Sync({"power_state": SHUTDOWN}, kill=True)
    if vm_state in ("active", "stopped", "error") and record.get("power_state") != power:
        return Sync({"power_state": power})
    return Sync()


def sync_server(store: Store, server_id: str) -> Sync:
    """Bring one server's record in line with its container; returns what was done.

    Whoever holds a server's lock has set a task state first (boot, stop, snapshot...),
    so a server with a task is skipped before its lock is taken: the watcher never
    waits out a minute-long snapshot while other servers' events queue up.
    """
    record = store.get("server", server_id)
    if record is None or record.get("task_state"):
        return Sync()
    lock = server_lock(server_id)
    if not lock.acquire(timeout=LOCK_WAIT):
        log.warning("power sync of server %s skipped: its lock is held", server_id)
        return Sync()
    try:
        record = store.get("server", server_id)
        if record is None:
            return Sync()
        container = nodes.get_container(server_id)
        sync = decide(record, container.status if container is not None else None)
        if sync.kill and container is not None:
            log.warning("server %s is stopped but its container runs: killing it", server_id)
            nodes.power_off(container, graceful=False)
        if sync.changes:
            log.info("server %s power sync: %s", server_id, sync.changes)
            set_server(store, server_id, **sync.changes)
        return sync
    finally:
        lock.release()


def sync_all(store: Store) -> None:
    for record in store.list("server"):
        try:
            sync_server(store, record["id"])
        except docker.errors.DockerException as exc:
            log.warning("power sync of server %s failed: %s", record["id"], exc)


class Watcher(threading.Thread):
    """Follows the engine's events for this instance's servers until the process ends."""

    def __init__(self, store: Store) -> None:
        super().__init__(name="localcloud-power-sync", daemon=True)
        self.store = store

    def run(self) -> None:
        while True:
            try:
                self._follow()
            except Exception as exc:  # the engine went away: reconnect, then resync
                log.warning("power sync lost the Docker event stream: %s", exc)
            time.sleep(RECONNECT_DELAY)

    def _follow(self) -> None:
        client = docker.from_env(timeout=30)
        filters = {
            "type": "container",
            "event": list(EVENTS),
            "label": [f"{dockerlabels.LABEL}=server"],
        }
        stream = client.events(decode=True, filters=filters)
        try:
            sync_all(self.store)  # what happened while nobody listened
            for event in stream:
                attributes = event.get("Actor", {}).get("Attributes", {})
                server_id = attributes.get(f"{dockerlabels.LABEL}.server")
                # Other localclouds' servers share the engine: the instance is read
                # per event, so the one this process serves now is the one followed.
                mine = dockerlabels.labels("server")[dockerlabels.INSTANCE_LABEL]
                if server_id and attributes.get(dockerlabels.INSTANCE_LABEL) == mine:
                    sync_server(self.store, server_id)
        finally:
            stream.close()
            client.close()


_watcher: Watcher | None = None
_guard = threading.Lock()


def ensure_watching(store: Store) -> None:
    """Start the process's watcher once; later calls point it at the current store."""
    global _watcher
    with _guard:
        if _watcher is None or not _watcher.is_alive():
            _watcher = Watcher(store)
            _watcher.start()
        else:
            _watcher.store = store
