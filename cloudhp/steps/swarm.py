"""Forming a Docker Swarm over SSH.

Engine calls are `docker` CLI commands run through the node's SSH runner with JSON
output, built by pure functions so they can be checked exactly. We use fabric rather
than the docker SDK's ssh:// transport because that transport reads only ~/.ssh/config
and the system known_hosts: it cannot use a per-cluster key and pinned known_hosts
without touching the user's own SSH setup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Protocol, TypeVar

from cloudhp.errors import CloudhpError

# Swarm overlays get addresses from here, away from the 10.x ranges that clouds (and
# localcloud) commonly give private networks.
DEFAULT_ADDR_POOL = "10.240.0.0/16"


class Runner(Protocol):
    host: str

    def run(
        self, command: str | list[str], *, stdin: IO[bytes] | None = None, check: bool = True
    ) -> object: ...


def docker_json(runner: Runner, args: list[str]) -> object:
    out = runner.run(["docker", *args]).stdout  # type: ignore[attr-defined]
    return json.loads(out)


def docker_json_lines(runner: Runner, args: list[str]) -> list[dict[str, object]]:
    out = runner.run(["docker", *args]).stdout  # type: ignore[attr-defined]
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@dataclass(frozen=True)
class SwarmState:
    local_state: str  # inactive, pending, active, locked, error
    node_id: str
    is_manager: bool
    cluster_id: str | None

    @property
    def active(self) -> bool:
        return self.local_state == "active"


def swarm_state(runner: Runner) -> SwarmState:
    info = docker_json(runner, ["info", "--format", "{{json .Swarm}}"])
    assert isinstance(info, dict)
    cluster = info.get("Cluster") or {}
    return SwarmState(
        local_state=str(info.get("LocalNodeState", "inactive")),
        node_id=str(info.get("NodeID", "")),
        is_manager=bool(info.get("ControlAvailable")),
        cluster_id=cluster.get("ID") if isinstance(cluster, dict) else None,
    )


def init_command(advertise_addr: str, addr_pool: str = DEFAULT_ADDR_POOL) -> list[str]:
    return [
        "docker", "swarm", "init",
        "--advertise-addr", advertise_addr,
        "--listen-addr", f"{advertise_addr}:2377",
        "--default-addr-pool", addr_pool,
    ]  # fmt: skip


def join_command(token: str, manager_addr: str, advertise_addr: str) -> list[str]:
    return [
        "docker", "swarm", "join",
        "--advertise-addr", advertise_addr,
        "--listen-addr", f"{advertise_addr}:2377",
        "--token", token,
        f"{manager_addr}:2377",
    ]  # fmt: skip


@dataclass(frozen=True)
class JoinTokens:
    worker: str
    manager: str

    def __repr__(self) -> str:  # tokens are secrets: never in logs or tracebacks
        return "JoinTokens(worker=***, manager=***)"


def ensure_swarm(runner: Runner, advertise_addr: str) -> bool:
    """Initialise the Swarm on the first manager; False when it already was."""
    state = swarm_state(runner)
    if state.active and state.is_manager:
        return False
    if state.active:
        raise CloudhpError(
            f"{runner.host} is already a worker in another swarm",
            hint="remove it from that swarm (`docker swarm leave`) or choose another node",
        )
    runner.run(init_command(advertise_addr))
    return True


def join_tokens(runner: Runner) -> JoinTokens:
    worker = runner.run(["docker", "swarm", "join-token", "-q", "worker"]).stdout.strip()  # type: ignore[attr-defined]
    manager = runner.run(["docker", "swarm", "join-token", "-q", "manager"]).stdout.strip()  # type: ignore[attr-defined]
    return JoinTokens(worker, manager)


def ensure_joined(runner: Runner, token: str, manager_addr: str, advertise_addr: str) -> bool:
    """Join the node to the Swarm; False when it is already part of it.

    A join cut off midway leaves the node `pending` or in `error`: it leaves and joins
    again, so an interrupted run can be completed.
    """
    state = swarm_state(runner)
    if state.active:
        return False
    if state.local_state in ("pending", "error"):
        runner.run(["docker", "swarm", "leave", "--force"], check=False)
    runner.run(join_command(token, manager_addr, advertise_addr))
    return True


def node_labels_by_hostname(manager: Runner) -> dict[str, tuple[str, dict[str, str]]]:
    """Every Swarm node's id and labels, by short hostname, in one SSH round trip."""
    out = manager.run("docker node inspect $(docker node ls -q)").stdout  # type: ignore[attr-defined]
    docs = json.loads(out)
    return {
        str(d["Description"]["Hostname"]).split(".")[0]: (
            str(d["ID"]),
            dict(d["Spec"].get("Labels") or {}),
        )
        for d in docs
    }


def label_command(node_id: str, labels: dict[str, str]) -> list[str]:
    args = ["docker", "node", "update"]
    for key, value in sorted(labels.items()):
        args += ["--label-add", f"{key}={value}"]
    return [*args, node_id]


def ensure_labels(manager: Runner, wanted: dict[str, dict[str, str]]) -> bool:
    """Give each node (by hostname) the labels it lacks; False when all had them."""
    current = node_labels_by_hostname(manager)
    changed = False
    for hostname, labels in wanted.items():
        if hostname not in current:
            raise CloudhpError(
                f"node {hostname} is not in the Swarm",
                hint="run `cloudhp init` again; it joins nodes that are missing",
            )
        node_id, have = current[hostname]
        missing = {k: v for k, v in labels.items() if have.get(k) != v}
        if missing:
            manager.run(label_command(node_id, missing))
            changed = True
    return changed


def overlay_command(name: str, encrypted: bool) -> list[str]:
    args = ["docker", "network", "create", "--driver", "overlay", "--attachable"]
    if encrypted:
        args += ["--opt", "encrypted"]
    return [*args, name]


def ensure_overlay(manager: Runner, name: str, encrypted: bool = False) -> bool:
    """Create the overlay network `name` unless it exists; False when it did."""
    out = manager.run(  # type: ignore[attr-defined]
        ["docker", "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}"]
    ).stdout
    if name in out.split():
        return False
    manager.run(overlay_command(name, encrypted))
    return True


def list_nodes(manager: Runner) -> list[dict[str, object]]:
    return docker_json_lines(manager, ["node", "ls", "--format", "{{json .}}"])


T = TypeVar("T")
R = TypeVar("R")


def in_parallel(fn: Callable[[T], R], items: Iterable[T], limit: int = 8) -> list[R]:
    """Run `fn` over items with bounded concurrency; the first failure is re-raised."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        return list(pool.map(fn, items))
