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
from cloudhp.commands.volumes import LABEL_PREFIX
from cloudhp.errors import DeployFailed, NotFoundError, WaitTimeout
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
    update_started: str  # when the last update began ("" when there was none)
    memory_reservation_mb: int | None
    memory_limit_mb: int | None
    volumes: tuple[str, ...] = ()  # the Cinder volumes (logical names) its task is bound to

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


def _bound_volumes(task: dict[str, Any]) -> tuple[str, ...]:
    constraints = ((task.get("Placement") or {}).get("Constraints")) or []
    prefix, suffix = "node.labels." + LABEL_PREFIX, "==true"
    return tuple(
        c[len(prefix) : -len(suffix)]
        for c in constraints
        if c.startswith(prefix) and c.endswith(suffix)
    )


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
        update_started=str(update.get("StartedAt", "")),
        memory_reservation_mb=_mib((resources.get("Reservations") or {}).get("MemoryBytes")),
        memory_limit_mb=_mib((resources.get("Limits") or {}).get("MemoryBytes")),
        volumes=_bound_volumes(task),
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


def running_tasks_command(swarm_names: Sequence[str]) -> list[str]:
    """A line per task the Swarm still means to run (task id, name, current state)."""
    return [
        "docker", "service", "ps",
        "--filter", "desired-state=running",
        "--format", "{{.ID}} {{.Name}} {{.CurrentState}}",
        *swarm_names,
    ]  # fmt: skip


def parse_running_tasks(text: str, swarm_names: Sequence[str]) -> dict[str, int]:
    """Tasks Running per service, each task id once (the 20.10 CLI may repeat a task
    when given several services, as `docker node ps` does with several nodes)."""
    seen: set[str] = set()
    counts = dict.fromkeys(swarm_names, 0)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[2] != "Running" or parts[0] in seen:
            continue
        seen.add(parts[0])
        service = parts[1].rsplit(".", 1)[0]
        if service in counts:
            counts[service] += 1
    return counts


def task_counts(lead: Runner, swarm_names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(running, desired) per service.

    Desired is `docker service ls`'s; running counts only tasks whose desired state is
    still running. `service ls` also counts the tasks of a node that went Down: the
    Swarm has shut them down (desired state) but cannot hear that they stopped, so they
    show "Running" for as long as the node is gone (3/1), and a deploy after a node's
    loss would wait for a count that never comes down."""
    out = lead.run(["docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"]).stdout
    desired: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in swarm_names and "/" in parts[1]:
            desired[parts[0]] = int(parts[1].split("/")[1].split()[0])
    if not desired:
        return {}
    names = sorted(desired)
    running = parse_running_tasks(lead.run(running_tasks_command(names)).stdout, names)
    return {name: (running[name], wanted) for name, wanted in desired.items()}


def deploy_stack(lead: Runner, project: str, text: str, prune: bool) -> None:
    """`docker stack deploy` of the rendered file, fed on stdin (it holds no secret)."""
    argv = ["docker", "stack", "deploy", "--with-registry-auth", "--resolve-image", "always"]
    if prune:
        argv.append("--prune")
    lead.run_with_input([*argv, "--compose-file", "-", project], [text.encode()])


def failure_detail(lead: Runner, swarm_name: str, lines: int = 10) -> str:
    """The service's tasks that did not run, with their errors, and the last lines of
    every task's log: what a user needs to see why a deploy failed."""
    tasks = lead.run(
        [
            "docker", "service", "ps", "--no-trunc", "--filter", "desired-state=shutdown",
            "--format", "{{.Name}}@{{.Node}} {{.CurrentState}} {{.Error}}", swarm_name,
        ],
        check=False,
    ).stdout.strip()  # fmt: skip
    logs = lead.run(logs_command(swarm_name, None, lines, False), check=False)
    tail = (logs.stdout + logs.stderr).strip()
    return (
        f"tasks that stopped:\n{tasks or '(none)'}\n"
        f"last {lines} log lines of each task:\n{tail or '(none)'}"
    )


def update_marks(lead: Runner, swarm_names: Sequence[str]) -> dict[str, str]:
    """When each service's last update began: a later wait counts a rollback as this
    deploy's failure only when it belongs to a newer update than these."""
    return {
        s.swarm_name: s.update_started
        for s in running_services(lead)
        if s.swarm_name in swarm_names
    }


def wait_converged(
    lead: Runner,
    swarm_names: Sequence[str],
    timeout: float = 300.0,
    marks: dict[str, str] | None = None,
) -> None:
    """Until every service runs all its tasks and no update is in flight.

    `marks` (from `update_marks` before acting) tell an update rolled back now from
    one rolled back before; without them, only updates begun after this call count.

    Raises:
        DeployFailed: an update was rolled back or paused (its new tasks failed their
            health checks: the previous version serves), or a service still lacked
            tasks when `timeout` ran out; the message names the service and holds its
            stopped tasks and their last log lines.
    """
    names = list(swarm_names)
    before = update_marks(lead, names) if marks is None else marks

    def look() -> tuple[dict[str, tuple[int, int]], list[Running]]:
        current = [s for s in running_services(lead) if s.swarm_name in names]
        for service in current:
            fresh = service.update_started != before.get(service.swarm_name, "")
            failed = service.update_state in ROLLED_BACK or service.update_state == "paused"
            if fresh and failed:
                raise DeployFailed(
                    f"the update of {service.public_name} was {service.update_state}: "
                    f"{service.update_message}; the previous version keeps serving\n"
                    + failure_detail(lead, service.swarm_name),
                    hint=f"`cloudhp logs {service.public_name}` shows its tasks' whole logs",
                )
        return task_counts(lead, names), current

    def done(state: tuple[dict[str, tuple[int, int]], list[Running]]) -> bool:
        counts, current = state
        settled = all(
            s.update_state in ("", "completed") or s.update_started == before.get(s.swarm_name, "")
            for s in current
        )
        return settled and all(
            name in counts and counts[name][0] == counts[name][1] for name in names
        )

    try:
        poll(
            look,
            done,
            timeout=timeout,
            interval=2.0,
            what=f"services {', '.join(names)} converging",
        )
    except WaitTimeout:
        counts = task_counts(lead, names)
        lagging = [n for n in names if n not in counts or counts[n][0] != counts[n][1]] or names
        details = "\n".join(
            f"{n}: {counts.get(n, (0, 0))[0]}/{counts.get(n, (0, 0))[1]} tasks running\n"
            + failure_detail(lead, n)
            for n in lagging
        )
        raise DeployFailed(
            f"services did not converge within {timeout:.0f}s: {', '.join(lagging)}\n{details}",
            hint="`cloudhp services` shows their state; `cloudhp logs SERVICE` their logs",
        ) from None


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
