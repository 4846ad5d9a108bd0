"""What the failover asks the Swarm: each node's state, since when, and its load.

Through one manager, in one round trip each, so a pass of the controller costs two SSH
commands however many nodes there are.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cloudhp.remote.runner import Runner
from cloudhp.steps.failover_plan import Candidate

NODES = "date -u +%s.%N && docker node inspect $(docker node ls -q)"
"""The manager's clock first: how long a node has been Down is measured against the
time Swarm last changed it (its UpdatedAt), on the same clock, whatever the bastion's."""
TASKS = "docker node ps --filter desired-state=running --format '{{.Node}}' $(docker node ls -q)"


@dataclass(frozen=True)
class SwarmNode:
    name: str  # the short hostname: the server's name
    node_id: str
    state: str  # ready, down, unknown, disconnected
    availability: str  # active, pause, drain
    labels: dict[str, str]
    updated_at: float  # epoch seconds, on the manager's clock

    @property
    def ready(self) -> bool:
        return self.state == "ready" and self.availability == "active"


def parse_time(text: str) -> float:
    """Docker's RFC 3339 time with nanoseconds, as epoch seconds."""
    head, _, fraction = text.rstrip("Z").partition(".")
    when = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.UTC)
    return when.timestamp() + (float("0." + fraction.rstrip("Z")) if fraction else 0.0)


@dataclass(frozen=True)
class SwarmView:
    now: float  # the manager's clock when it answered
    nodes: dict[str, SwarmNode]

    def down_for(self, name: str) -> float | None:
        """Seconds since Swarm marked the node Down (a lower bound: any later change
        to the node restarts it, which can only delay a failover), None when not Down."""
        node = self.nodes.get(name)
        if node is None or node.state != "down":
            return None
        return max(0.0, self.now - node.updated_at)


def parse_nodes(docs: Iterable[dict[str, Any]]) -> dict[str, SwarmNode]:
    """`docker node inspect` documents, by short hostname."""
    found = {}
    for doc in docs:
        name = str(doc["Description"]["Hostname"]).split(".")[0]
        found[name] = SwarmNode(
            name=name,
            node_id=str(doc["ID"]),
            state=str(doc.get("Status", {}).get("State", "unknown")),
            availability=str(doc.get("Spec", {}).get("Availability", "active")),
            labels=dict(doc.get("Spec", {}).get("Labels") or {}),
            updated_at=parse_time(str(doc["UpdatedAt"])),
        )
    return found


def parse_task_nodes(text: str) -> dict[str, int]:
    """Running tasks per node from `docker node ps --format '{{.Node}}'` lines."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        name = line.strip().split(".")[0]
        if name:
            counts[name] = counts.get(name, 0) + 1
    return counts


def parse_view(text: str) -> SwarmView:
    clock, _, docs = text.partition("\n")
    return SwarmView(float(clock), parse_nodes(json.loads(docs)))


def swarm_view(manager: Runner) -> SwarmView:
    return parse_view(manager.run(NODES).stdout)


def candidates(manager: Runner, nodes: dict[str, SwarmNode]) -> list[Candidate]:
    counts = parse_task_nodes(manager.run(TASKS).stdout)
    return [Candidate(n.name, n.ready, counts.get(n.name, 0)) for n in nodes.values()]
