"""The Swarm's own view of its nodes, read from the lead manager in one or two calls.

`docker node inspect` carries everything scaling in decides on (role, availability,
state, the memory the node offers, its labels, the Raft reachability of a manager), so
it is parsed once into `SwarmNode`, which repair reads too (`cloudhp.steps.health`:
when an entry changed, its Raft membership); `docker node ps` counts the tasks meant to
run on each node.
"""

from __future__ import annotations

import datetime
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudhp.commands.nodes import inspect_nodes_command, node_tasks_command
from cloudhp.errors import RemoteCommandError
from cloudhp.remote.runner import Runner

OUT_OF_SEQUENCE = "update out of sequence"
UPDATE_ATTEMPTS = 10
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class SwarmNode:
    id: str
    hostname: str
    role: str  # manager or worker
    availability: str  # active, pause or drain
    state: str  # ready, down, unknown, disconnected
    memory_bytes: int
    labels: dict[str, str] = field(default_factory=dict)
    leader: bool = False
    reachability: str = ""  # Raft members: reachable or unreachable; others: ""
    since: datetime.datetime = EPOCH  # when the entry last changed (its state, its labels)

    @property
    def raft_member(self) -> bool:
        """Shown with a ManagerStatus: counts in Raft, even while a demotion settles."""
        return self.reachability != ""

    @property
    def reachable_manager(self) -> bool:
        return self.reachability == "reachable"

    @property
    def schedulable(self) -> bool:
        """Takes new tasks: what counts as room for the services' reservations."""
        return self.availability == "active" and self.state == "ready"


def parse_time(text: str) -> datetime.datetime:
    """Docker's RFC 3339 times carry nanoseconds, which `fromisoformat` refuses."""
    text = text.strip().replace("Z", "+00:00")
    main, _, zone = text.partition("+")
    if "." in main:
        seconds, fraction = main.split(".", 1)
        main = f"{seconds}.{fraction[:6].ljust(6, '0')}"
    return datetime.datetime.fromisoformat(f"{main}+{zone or '00:00'}")


def parse_node(doc: dict[str, Any]) -> SwarmNode:
    spec = doc.get("Spec") or {}
    description = doc.get("Description") or {}
    manager = doc.get("ManagerStatus") or {}
    changed = doc.get("UpdatedAt") or doc.get("CreatedAt")
    return SwarmNode(
        id=str(doc.get("ID", "")),
        hostname=str(description.get("Hostname", "")).split(".")[0],
        role=str(spec.get("Role", "worker")),
        availability=str(spec.get("Availability", "active")),
        state=str((doc.get("Status") or {}).get("State", "unknown")),
        memory_bytes=int((description.get("Resources") or {}).get("MemoryBytes") or 0),
        labels={str(k): str(v) for k, v in (spec.get("Labels") or {}).items()},
        leader=bool(manager.get("Leader")),
        reachability=str(manager.get("Reachability", "")),
        since=parse_time(str(changed)) if changed else EPOCH,
    )


def swarm_nodes(lead: Runner) -> dict[str, SwarmNode]:
    """Every node of the lead's Swarm, by short hostname (the server's name)."""
    ids = lead.run(["docker", "node", "ls", "-q"]).stdout.split()
    docs = json.loads(lead.run(inspect_nodes_command(ids)).stdout)
    return {n.hostname: n for n in (parse_node(d) for d in docs)}


def running_tasks(lead: Runner, node_ids: Sequence[str]) -> Counter[str]:
    """Tasks meant to run on each of the nodes, by hostname (absent: none)."""
    if not node_ids:
        return Counter()
    out = lead.run(node_tasks_command(node_ids)).stdout
    return count_tasks(out)


def count_tasks(out: str) -> Counter[str]:
    """Distinct tasks per short hostname in `node_tasks_command`'s output."""
    tasks = {tuple(line.split()[:2]) for line in out.splitlines() if len(line.split()) >= 2}
    return Counter(node.split(".")[0] for _, node in tasks)


def update_node(lead: Runner, argv: list[str], attempts: int = UPDATE_ATTEMPTS) -> None:
    """Run a `docker node update|demote`, again when it lost a race.

    The CLI reads the node's spec version and writes it back; the Swarm changing the
    node meanwhile (its own reconciliation right after a demotion, a label written by
    another command) makes the write "update out of sequence", which a fresh read fixes.

    Raises:
        RemoteCommandError: any other failure, or still out of sequence after `attempts`.
    """
    for attempt in range(1, attempts + 1):
        try:
            lead.run(argv)
            return
        except RemoteCommandError as exc:
            if OUT_OF_SEQUENCE not in exc.output or attempt == attempts:
                raise
            time.sleep(1.0)
