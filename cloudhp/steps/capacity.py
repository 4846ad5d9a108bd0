"""Will the services still fit? The memory arithmetic behind every scale-in.

Swarm places a task only on a node with its memory reservation free, so removing nodes
that leave less memory than the services reserve would strand tasks (pending forever)
while the nodes are drained. The check is a sum, as an operator does it: each service's
reservation times its replicas (a global service: times the nodes left) against the
memory the remaining schedulable nodes offer. It runs before anything changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudhp.commands.nodes import inspect_services_command, service_ids_command
from cloudhp.errors import ConflictError
from cloudhp.remote.runner import Runner

MIB = 1024 * 1024


class CapacityShortfall(ConflictError):
    """The nodes left could not hold the services' memory reservations; nothing changed."""


@dataclass(frozen=True)
class Reservation:
    service: str
    replicas: int | None  # None: a global service, one task per node
    memory_bytes: int  # per task


@dataclass(frozen=True)
class Capacity:
    needed_bytes: int
    available_bytes: int
    needs: tuple[str, ...]  # "shop-web 2 x 512 MiB", per service with a reservation

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.available_bytes


def parse_reservations(docs: Sequence[dict[str, Any]]) -> list[Reservation]:
    """From `docker service inspect`: the services that reserve memory, by name."""
    found: list[Reservation] = []
    for doc in docs:
        spec = doc.get("Spec") or {}
        resources = (spec.get("TaskTemplate") or {}).get("Resources") or {}
        memory = int((resources.get("Reservations") or {}).get("MemoryBytes") or 0)
        if memory <= 0:
            continue
        mode = spec.get("Mode") or {}
        replicated = mode.get("Replicated") or {}
        replicas = None if "Global" in mode else int(replicated.get("Replicas", 1))
        found.append(Reservation(str(spec.get("Name", "")), replicas, memory))
    return sorted(found, key=lambda r: r.service)


def capacity_after(reservations: Sequence[Reservation], remaining: Mapping[str, int]) -> Capacity:
    """What the services reserve against what `remaining` (node -> memory bytes) offers."""
    needed = 0
    needs: list[str] = []
    for r in reservations:
        tasks = len(remaining) if r.replicas is None else r.replicas
        needed += tasks * r.memory_bytes
        if tasks:
            kind = " (global)" if r.replicas is None else ""
            needs.append(f"{r.service} {tasks} x {r.memory_bytes // MIB} MiB{kind}")
    return Capacity(needed, sum(remaining.values()), tuple(needs))


def read_reservations(lead: Runner) -> list[Reservation]:
    ids = lead.run(service_ids_command()).stdout.split()
    if not ids:
        return []
    return parse_reservations(json.loads(lead.run(inspect_services_command(ids)).stdout))


def refuse_unless_fits(
    capacity: Capacity, removing: Sequence[str], remaining: Mapping[str, int]
) -> None:
    """Refuses before any drain, so a refused scale-in leaves the cluster as it was.

    Raises:
        CapacityShortfall: with the numbers, when the reservations would not fit.
    """
    if capacity.fits:
        return
    raise CapacityShortfall(
        f"removing {', '.join(removing)} would leave {capacity.available_bytes // MIB} MiB "
        f"on {', '.join(sorted(remaining)) or 'no schedulable node'} for "
        f"{capacity.needed_bytes // MIB} MiB of memory reservations "
        f"({'; '.join(capacity.needs)}); nothing was changed",
        hint="keep more nodes, or lower those services' replicas or memory-reservation "
        "(`cloudhp services` shows them)",
    )
