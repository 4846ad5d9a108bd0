"""The user's services on the Swarm: what runs, deploying a stack, waiting for it.

Everything is read from the Swarm itself (service labels written by the stack file,
`cloudhp.commands.stack`), so any bastion holding the cluster's key sees the same
services, and a rerun compares what runs with what is asked before acting.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cloudhp.commands.haproxy import Route
from cloudhp.errors import CloudhpError, NotFoundError
from cloudhp.polling import poll
from cloudhp.remote.runner import Runner

PROJECT_LABEL = "cloudhp.project"
ROLLED_BACK = ("rollback_completed", "rollback_paused")


@dataclass(frozen=True)
class Running:
    """One Swarm service that cloudhp deployed, as the Swarm reports it."""

    swarm_name: str
    labels: dict[str, str]
    image: str
    replicas: int | None  # None: global mode
    update_state: str  # completed, updating, paused, rollback_completed, ... or ""
    update_message: str
    memory_reservation_mb: int | None
    memory_limit_mb: int | None

    @property
    def public_name(self) -> str:
        return self.labels.get("cloudhp.public-name", self.swarm_name)

    @property
    def project(self) -> str:
        return self.labels.get(PROJECT_LABEL, "")

    @property
    def spec_hash(self) -> str:
        return self.labels.get("cloudhp.spec", "")

    def route(self) -> Route | None:
        if "cloudhp.route" not in self.labels or "cloudhp.port" not in self.labels:
            return None
        hosts = tuple(h for h in self.labels.get("cloudhp.hosts", "").split(",") if h)
        return Route(
            name=self.public_name,
            backend=f"tasks.{self.swarm_name}",
            port=int(self.labels["cloudhp.port"]),
            hosts=hosts,
            health_path=self.labels.get("cloudhp.health") or None,
        )


def _mib(value: Any) -> int | None:
    return int(value) // (1024 * 1024) if value else None


def parse_service(doc: dict[str, Any]) -> Running:
    spec = doc.get("Spec") or {}
    task = spec.get("TaskTemplate") or {}
    resources = task.get("Resources") or {}
    mode = spec.get("Mode") or {}
    update = doc.get("UpdateStatus") or {}
    return Running(
        swarm_name=str(spec.get("Name", "")),
        labels={str(k): str(v) for k, v in (spec.get("Labels") or {}).items()},
        image=str((task.get("ContainerSpec") or {}).get("Image", "")),
        replicas=(mode.get("Replicated") or {}).get("Replicas") if "Replicated" in mode else None,
        update_state=str(update.get("State", "")),
        update_message=str(update.get("Message", "")),
        memory_reservation_mb=_mib((resources.get("Reservations") or {}).get("MemoryBytes")),
        memory_limit_mb=_mib((resources.get("Limits") or {}).get("MemoryBytes")),
    )


def running_services(lead: Runner, project: str | None = None) -> list[Running]:
    """cloudhp's services on the Swarm (of one project when given), by name."""
    label = PROJECT_LABEL if project is None else f"{PROJECT_LABEL}={project}"
    ids = lead.run(["docker", "service", "ls", "-q", "--filter", f"label={label}"]).stdout.split()
    if not ids:
        return []
    docs = json.loads(lead.run(["docker", "service", "inspect", *ids]).stdout)
    return sorted((parse_service(d) for d in docs), key=lambda s: s.swarm_name)


def find_service(lead: Runner, public_name: str) -> Running:
    services = running_services(lead)
    for service in services:
        if public_name in (service.public_name, service.swarm_name):
            return service
    known = ", ".join(s.public_name for s in services) or "none"
    raise NotFoundError(
        f"no service {public_name!r} on this cluster (deployed: {known})",
        hint="`cloudhp services` lists them by their public name <project>-<service>",
    )


def task_counts(lead: Runner, swarm_names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(running, desired) per service, as `docker service ls` counts them."""
    out = lead.run(["docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"]).stdout
    counts: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in swarm_names and "/" in parts[1]:
            running, desired = parts[1].split("/")[:2]
            counts[parts[0]] = (int(running), int(desired.split()[0]))
    return counts


def deploy_stack(lead: Runner, project: str, text: str, prune: bool) -> None:
    """`docker stack deploy` of the rendered file, fed on stdin (it holds no secret)."""
    argv = ["docker", "stack", "deploy", "--with-registry-auth", "--resolve-image", "always"]
    if prune:
        argv.append("--prune")
    lead.run_with_input([*argv, "--compose-file", "-", project], [text.encode()])


def wait_converged(lead: Runner, swarm_names: Sequence[str], timeout: float = 300.0) -> None:
    """Until every service runs all its tasks and no update is in flight.

    Raises:
        CloudhpError: an update was rolled back (the new tasks failed their health
            checks) or paused; the Swarm's message is included.
    """
    names = list(swarm_names)

    def look() -> tuple[dict[str, tuple[int, int]], list[Running]]:
        current = [s for s in running_services(lead) if s.swarm_name in names]
        for service in current:
            if service.update_state in ROLLED_BACK or service.update_state == "paused":
                raise CloudhpError(
                    f"the update of {service.public_name} was {service.update_state}: "
                    f"{service.update_message}",
                    hint=f"`cloudhp logs {service.public_name}` shows why its new tasks failed",
                )
        return task_counts(lead, names), current

    def done(state: tuple[dict[str, tuple[int, int]], list[Running]]) -> bool:
        counts, current = state
        settled = all(s.update_state in ("", "completed") for s in current)
        return settled and all(
            name in counts and counts[name][0] == counts[name][1] for name in names
        )

    poll(look, done, timeout=timeout, interval=2.0, what=f"services {', '.join(names)} converging")


def remove_services(lead: Runner, swarm_names: Sequence[str]) -> None:
    lead.run(["docker", "service", "rm", *swarm_names])


def logs_command(swarm_name: str, since: str | None, tail: int | None, follow: bool) -> list[str]:
    """Every task's lines on every node, each prefixed with task and node by Swarm."""
    argv = ["docker", "service", "logs", "--no-trunc", "--timestamps"]
    if since:
        argv += ["--since", since]
    if tail is not None:
        argv += ["--tail", str(tail)]
    if follow:
        argv.append("--follow")
    return [*argv, swarm_name]
