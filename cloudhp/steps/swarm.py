"""Forming a Docker Swarm over SSH: read each node's state, then init, join or label.

Engine calls are `docker` CLI commands (built in `cloudhp.commands.swarm`) run through
the node's SSH runner with JSON output. We use fabric rather than the docker SDK's
ssh:// transport because that transport reads only ~/.ssh/config and the system
known_hosts: it cannot use a per-cluster key and pinned known_hosts without touching
the user's own SSH setup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from cloudhp.commands.swarm import (
    init_command,
    join_command,
    label_command,
    overlay_command,
    rotate_token_command,
)
from cloudhp.errors import CloudhpError
from cloudhp.remote.runner import Runner, docker_json, docker_json_lines


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


@dataclass(frozen=True)
class JoinTokens:
    worker: str
    manager: str

    def __repr__(self) -> str:  # tokens are secrets: never in logs or tracebacks
        return "JoinTokens(worker=***, manager=***)"


def ensure_swarm(runner: Runner, advertise_addr: str) -> bool:
    """Initialise the Swarm on the first manager; False when it already was.

    A lead left `pending` or in `error` (an init or join cut off midway) leaves that
    half-made Swarm first: it holds no tasks yet, and nothing else can be done with it.
    """
    state = swarm_state(runner)
    if state.active and state.is_manager:
        return False
    if state.active:
        raise CloudhpError(
            f"{runner.host} is already a worker in another swarm",
            hint="remove it from that swarm (`docker swarm leave`) or choose another node",
        )
    if state.local_state in ("pending", "error"):
        runner.run(["docker", "swarm", "leave", "--force"], check=False)
    runner.run(init_command(advertise_addr))
    return True


def lead_index(managers: Sequence[Runner]) -> int:
    """The first manager that is a manager of an active Swarm, else 0 (the first, which
    then initialises one): after manager-1 was replaced, its new server must join the
    Swarm the others hold, never start a second one."""
    for i, runner in enumerate(managers):
        state = swarm_state(runner)
        if state.active and state.is_manager:
            return i
    return 0


def swarm_members(lead: Runner) -> frozenset[str]:
    """The node ids the lead's Swarm lists: what "joined" means for every other node."""
    return frozenset(lead.run(["docker", "node", "ls", "-q"]).stdout.split())


def join_tokens(runner: Runner) -> JoinTokens:
    worker = runner.run(["docker", "swarm", "join-token", "-q", "worker"]).stdout.strip()
    manager = runner.run(["docker", "swarm", "join-token", "-q", "manager"]).stdout.strip()
    return JoinTokens(worker, manager)


def rotate_join_token(runner: Runner, role: str) -> None:
    """New joins need the new token; one that leaked from a finished join is useless."""
    runner.run(rotate_token_command(role))


def ensure_joined(
    runner: Runner, token: str, manager_addr: str, advertise_addr: str, members: frozenset[str]
) -> bool:
    """Join the node to the lead's Swarm; False when it is already one of `members`.

    Being in *a* Swarm is not enough: a node still in the Swarm of a lead that was
    replaced (or in any other) is active but not the lead's; it leaves and joins. A
    join cut off midway leaves the node `pending` or in `error`: it leaves and joins
    again, so an interrupted run can be completed.
    """
    state = swarm_state(runner)
    if state.active and state.node_id in members:
        return False
    if state.local_state in ("active", "pending", "error", "locked"):
        runner.run(["docker", "swarm", "leave", "--force"], check=False)
    runner.run(join_command(token, manager_addr, advertise_addr))
    return True


def node_labels_by_hostname(manager: Runner) -> dict[str, tuple[str, dict[str, str]]]:
    """Every Swarm node's id and labels, by short hostname, in one SSH round trip."""
    out = manager.run("docker node inspect $(docker node ls -q)").stdout
    docs = json.loads(out)
    return {
        str(d["Description"]["Hostname"]).split(".")[0]: (
            str(d["ID"]),
            dict(d["Spec"].get("Labels") or {}),
        )
        for d in docs
    }


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


def ensure_overlay(manager: Runner, name: str, encrypted: bool = False) -> bool:
    """Create the overlay network `name` unless it exists; False when it did."""
    out = manager.run(
        ["docker", "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}"]
    ).stdout
    if name in out.split():
        return False
    manager.run(overlay_command(name, encrypted))
    return True


def list_nodes(manager: Runner) -> list[dict[str, object]]:
    return docker_json_lines(manager, ["node", "ls", "--format", "{{json .}}"])
