"""The life of a server's container: boot, power actions, delete, restart, reset.

The API layer (create.py, servers.py, actions.py) only writes records and submits
work here; everything that talks to Docker runs in one bounded worker pool
(`submit`), so an API call returns at once (Nova answers 202) and a burst of creates
cannot start dozens of boots at the same moment on a laptop. The Docker objects
themselves are nodes.py's; snapshots (createImage) are snapshots.py's.

State machine written to the server record (what Nova shows):

    BUILD/building/spawning -> ACTIVE/active   container running and node-init said
                                               "boot complete"
                            -> ERROR/error     with `fault` {code, message, created}
    ACTIVE -> SHUTOFF (os-stop) -> ACTIVE (os-start); REBOOT while rebooting
    ACTIVE -> SHUTOFF when the container dies behind Nova's back (power.py's watcher)
    any -> task_state "deleting" -> record gone (container, volume, ports released)

os-stop is a clean shutdown of a running container and a kill of a frozen (paused)
one, which cannot shut down; one already dead just becomes SHUTOFF.

A per-server lock (serverstate.py) serialises the background operations on one
server, so a delete issued during a boot waits for the container to exist and then
removes it; the power-state watcher takes it too.

Every start of a container (boot, os-start, reboot) is a fresh network namespace, so
the network service loads the server's security groups into it right away; a server
whose rules cannot be loaded is stopped and put in ERROR, never left running open.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from cloudhp.images.nodecontainers import NodeSpec, create_node, wait_for_boot
from cloudhp_localcloud import dockerlabels
from cloudhp_localcloud.compute import nodes, power
from cloudhp_localcloud.compute.nodes import get_container
from cloudhp_localcloud.compute.serverstate import (
    ACTIVE,
    SHUTOFF,
    error_state,
    forget_lock,
    server_lock,
    set_server,
)
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.network.servers import enforce_security_groups, refresh_security_groups
from cloudhp_localcloud.store import Record, Store, utcnow
from cloudhp_localcloud.volume.backend import restore_server_devices

log = logging.getLogger(__name__)

BOOT_TIMEOUT = 300.0
STOP_TIMEOUT = 10  # seconds before the engine kills a stopping node
WORKERS = 4

WAITERS = 64

_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="localcloud-compute")
# Waiting for a boot banner costs a log read every 0.3 s and no engine work: it must
# not hold one of the few engine workers, or twenty servers boot in waves of four
# while a hypervisor boots them side by side.
_waiters = ThreadPoolExecutor(max_workers=WAITERS, thread_name_prefix="localcloud-boot-wait")


def _logged(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    def run() -> Any:
        try:
            return fn(*args)
        except Exception:
            log.exception("localcloud background task %s failed", getattr(fn, "__name__", fn))
            raise

    return run


def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run `fn(*args)` in the shared engine pool; exceptions are logged, never lost."""
    return _pool.submit(_logged(fn, *args))


def _wait_in_background(fn: Callable[..., Any], *args: Any) -> None:
    _waiters.submit(_logged(fn, *args))


def _deleting(store: Store, server_id: str) -> bool:
    record = store.get("server", server_id)
    return record is None or record.get("task_state") == "deleting"


# --- boot ------------------------------------------------------------------------------

_build_latency = 0.0


def set_build_latency(seconds: float) -> None:
    """The latency model (config.build_latency), set when the compute service starts."""
    global _build_latency
    _build_latency = max(0.0, seconds)


def submit_boot(store: Store, server_id: str) -> None:
    """Boot the new server, after the modelled BUILD time: a timer, not a pool worker,
    waits, so twenty servers wait side by side and no CPU is spent."""
    if _build_latency <= 0:
        submit(boot, store, server_id)
        return
    timer = threading.Timer(_build_latency, submit, (boot, store, server_id))
    timer.daemon = True
    timer.start()


def boot(store: Store, server_id: str) -> None:
    """Create and start the server's container, then wait for node-init's boot banner."""
    power.ensure_watching(store)  # from the first server on, its power state is followed
    with server_lock(server_id):
        record = store.get("server", server_id)
        if record is None or record.get("task_state") == "deleting":
            return
        try:
            container = _create_container(store, record)
        except Exception as exc:  # the engine refused: the server is in ERROR
            log.warning("server %s failed to start: %s", server_id, exc)
            set_server(store, server_id, **error_state(500, _short(exc)))
            return
        if not _firewalled(store, server_id, container):
            return
    _wait_in_background(_finish_boot, store, server_id, container)


def _finish_boot(store: Store, server_id: str, container: Container) -> None:
    try:
        wait_for_boot(container, timeout=BOOT_TIMEOUT)
    except Exception as exc:
        if not _deleting(store, server_id):
            set_server(store, server_id, **error_state(500, _short(exc)))
        return
    if not _deleting(store, server_id):
        set_server(store, server_id, **ACTIVE, launched_at=utcnow())


def _create_container(store: Store, record: Record) -> Container:
    server_id = record["id"]
    image = store.get("image", record["image_id"]) or {}
    docker_image = image.get("_docker_image") or nodes.node_image()
    dclient = nodes.client()
    volume = nodes.volume_name(server_id)
    source_volume = image.get("_docker_volume")
    if source_volume:
        nodes.ensure_volume(dclient, volume, dockerlabels.server_labels(server_id))
        nodes.copy_volume(dclient, source_volume, volume, docker_image)
    ports = record.get("ports") or []
    first = ports[0] if ports else None
    flavor = record["flavor"]
    spec = NodeSpec(
        name=nodes.container_name(server_id),
        image=docker_image,
        network=first["docker_network"] if first else "none",
        ip=first["ip"] if first else None,
        mac_address=first.get("mac") if first else None,
        extra_networks=[(p["docker_network"], p["ip"]) for p in ports[1:]],
        hostname=record["hostname"],
        user_data=record.get("user_data_text"),
        public_keys=[record["public_key"]] if record.get("public_key") else [],
        instance_id=server_id,
        labels=dockerlabels.server_labels(server_id),
        cpus=float(flavor["vcpus"]),
        memory_mb=int(flavor["ram"]),
        docker_volume=volume,
    )
    try:
        return create_node(dclient, spec)
    except Exception:
        nodes.remove_container(dclient, server_id)
        raise


def _firewalled(store: Store, server_id: str, container: Container) -> bool:
    """Load the security groups into a just-started container; else stop it, ERROR."""
    try:
        enforce_security_groups(store, server_id)
    except Exception as exc:  # fail closed: a server is never left running unfiltered
        log.warning("server %s: security groups not applied: %s", server_id, exc)
        try:
            container.stop(timeout=STOP_TIMEOUT)
        except docker.errors.APIError as stop_exc:
            log.warning("server %s could not be stopped: %s", server_id, stop_exc)
        set_server(
            store,
            server_id,
            **error_state(500, f"Security groups could not be applied: {_short(exc)}"),
        )
        return False
    return True


def _short(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
    return str(text)[:1000]


# --- power actions ---------------------------------------------------------------------


def stop(store: Store, server_id: str) -> None:
    """os-stop: a clean shutdown, or a kill for a frozen or half-dead container.

    If the engine cannot stop it, the task state is cleared and the server stays as it
    was (Nova reverts the task state of a failed stop); the caller's wait for SHUTOFF
    is what tells it the fence did not happen.
    """
    with server_lock(server_id):
        container = get_container(server_id)
        try:
            if container is not None:
                nodes.power_off(container, graceful=True, timeout=STOP_TIMEOUT)
        except docker.errors.APIError as exc:
            log.warning("server %s could not be stopped: %s", server_id, exc)
            if not _deleting(store, server_id):
                set_server(store, server_id, task_state=None)
            return
        if not _deleting(store, server_id):
            set_server(store, server_id, **SHUTOFF)


def start(store: Store, server_id: str) -> None:
    """Start a stopped node; node-init runs again, cloud-init sees the same instance."""
    with server_lock(server_id):
        container = get_container(server_id)
        if container is None:
            set_server(store, server_id, **error_state(500, "The server's container is gone."))
            return
        since = _now_ts()
        container.start()
        if not _firewalled(store, server_id, container):
            return
    _wait_in_background(_wait_for_banner, store, server_id, container, since)


def reboot(store: Store, server_id: str) -> None:
    with server_lock(server_id):
        container = get_container(server_id)
        if container is None:
            set_server(store, server_id, **error_state(500, "The server's container is gone."))
            return
        since = _now_ts()
        container.restart(timeout=STOP_TIMEOUT)
        if not _firewalled(store, server_id, container):
            return
    _wait_in_background(_wait_for_banner, store, server_id, container, since)


def _now_ts() -> int:
    return int(time.time())


def _wait_for_banner(store: Store, server_id: str, container: Container, since: int) -> None:
    """Wait for "boot complete" in the console log written after `since`.

    A restarted container gets a fresh /dev, so attached volumes' device nodes are
    put back first (a VM keeps its disks across a reboot).
    """
    restore_server_devices(store, server_id)
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if _deleting(store, server_id):
            return
        logs = container.logs(since=since).decode(errors="replace")
        if "node-init: boot complete" in logs:
            _restore_devices(store, server_id)
            set_server(store, server_id, **ACTIVE)
            return
        container.reload()
        if container.status not in ("created", "running", "restarting"):
            set_server(store, server_id, **error_state(500, "The server stopped while booting."))
            return
        time.sleep(0.3)
    set_server(store, server_id, **error_state(500, "The server did not boot in time."))


def _restore_devices(store: Store, server_id: str) -> None:
    """A restarted container has a new /dev: the volume service recreates disk nodes."""
    try:
        restore_server_devices(store, server_id)
    except Exception as exc:  # a broken attachment must not keep the server down
        log.warning("could not restore the disks of server %s: %s", server_id, exc)


def console_output(server_id: str, length: int | None) -> str:
    container = get_container(server_id)
    if container is None:
        return ""
    tail: int | str = length if length is not None and length >= 0 else "all"
    return container.logs(tail=tail).decode(errors="replace")


# --- delete ----------------------------------------------------------------------------


def delete(store: Store, server_id: str, on_removed: Callable[[Record], None]) -> None:
    """Remove the container and its volume, then `on_removed(record)` (ports, volumes)."""
    with server_lock(server_id):
        nodes.remove_container(nodes.client(), server_id)
        record = store.get("server", server_id)
        if record is not None:
            on_removed(record)
        store.delete("server", server_id)
    forget_lock(server_id)


# --- restart and reset -----------------------------------------------------------------


def reconcile(store: Store) -> None:
    """After a daemon restart, make server and image records match the engine again.

    Running containers are ACTIVE (or still booting), exited ones SHUTOFF; a record
    whose container is gone is ERROR; interrupted deletes are finished and interrupted
    snapshots discarded.
    """
    servers = store.list("server")
    images = [i for i in store.list("image") if i.get("status") in ("queued", "saving")]
    if not servers and not any(i.get("_snapshot_of") for i in images):
        return
    for image in images:
        if image.get("_snapshot_of"):
            nodes.remove_image_artifacts(image["id"])
            store.delete("image", image["id"])
    running = []
    for record in servers:
        server_id = record["id"]
        if record.get("task_state") == "deleting":
            continue  # the API layer resubmits deletes with its on_removed callback
        container = get_container(server_id)
        if container is None:
            if record.get("status") != "ERROR":
                set_server(
                    store,
                    server_id,
                    **error_state(
                        500, "The server's container disappeared while localcloud was not running."
                    ),
                )
            continue
        if container.status == "paused":
            continue  # frozen, not stopped: the power-state watcher records it
        if container.status == "running":
            running.append(server_id)
            if record.get("status") == "BUILD" or record.get("task_state"):
                _wait_in_background(_wait_for_banner, store, server_id, container, 0)
            elif record.get("status") != "ACTIVE":
                set_server(store, server_id, **ACTIVE)
        elif record.get("status") != "ERROR":
            set_server(store, server_id, **SHUTOFF)
    # Rules outlive the daemon in a running container, but not a container restarted
    # while it was down; loading them again is harmless.
    refresh_security_groups(store, running)


def remove_containers(config: LocalCloudConfig) -> None:
    """Reset: remove every container, volume and image this instance made.

    First in the reset order (registry.py): a server holds device nodes of the
    volumes' loop devices and sits on the networks' bridges.
    """
    try:
        dclient = docker.from_env()
        dclient.ping()
    except Exception:
        log.info("no Docker engine: no localcloud containers to remove")
        return
    mine = dockerlabels.instance_filter(config.data_dir)
    for container in dclient.containers.list(all=True, filters={"label": mine}):
        container.remove(force=True, v=True)
    for volume in dclient.volumes.list(filters={"label": mine}):
        volume.remove(force=True)
    for image in dclient.images.list(filters={"label": [mine, f"{dockerlabels.LABEL}=image"]}):
        try:
            dclient.images.remove(image.id, force=True)
        except docker.errors.APIError as exc:
            log.warning("could not remove image %s: %s", image.id, exc)
