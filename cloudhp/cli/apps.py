"""`cloudhp deploy | services | logs | scale | rollback | rm | service create|update`.

Parse, call one flow, print. They act on the current cluster (or `--name`) and talk to
its Swarm over SSH with the cluster's key: no cloud credentials are needed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import click

from cloudhp.cli.options import (
    cluster_option,
    files_of,
    locked,
    no_wait_option,
    timeout_option,
)
from cloudhp.cli.output import emit, output_option, reporter_for
from cloudhp.errors import UsageError


def _render_deploy(output: str, data: dict[str, Any]) -> None:
    def text() -> None:
        verdict = "changed" if data["changed"] else "no changes"
        click.echo(f"project {data['project']} on cluster {data['cluster']}: {verdict}")
        for service in data["services"]:
            click.echo(f"  {service['name']:32} {service['url'] or '(not routed)'}")

    emit(output, data, text)


@click.command()
@click.argument("compose_file", type=click.Path(path_type=Path))
@click.option("--project", help="project name [default: the file's `name:`, else its directory]")
@cluster_option
@timeout_option
@no_wait_option
@output_option
def deploy(
    compose_file: Path,
    project: str | None,
    cluster: str | None,
    timeout: float,
    no_wait: bool,
    output: str,
) -> None:
    """Build, push and deploy a compose stack; print each service's URL.

    Exits 8 when new tasks do not become healthy in time: the update is rolled back
    and the previous version keeps serving.
    """
    from cloudhp.apps.compose import load_compose
    from cloudhp.flows.deploy import deploy_application
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.images.engine import local_engine

    app = load_compose(compose_file, project)  # checked before anything is touched
    files = files_of(cluster)
    with locked(files, "cloudhp deploy", no_wait), open_nodes(files) as nodes:
        report = deploy_application(
            nodes, app, local_engine(), reporter_for(output), timeout=timeout
        )
    _render_deploy(output, report.to_dict())


@click.group()
def service() -> None:
    """One service described the way service platforms do (image, memory, port, env)."""


def _definition_command(update: bool) -> Any:
    verb = "update" if update else "create"

    @click.command(verb)
    @click.argument("service_name")
    @click.option("--definition", type=click.Path(path_type=Path), help="JSON or YAML file")
    @click.option("--project", default="app", show_default=True, help="the service's project")
    @click.option("--container-tag", help="image reference")
    @click.option("--container-port", type=int)
    @click.option("--memory-reservation", type=int, help="MiB")
    @click.option("--memory-limit", type=int, help="MiB")
    @click.option("--replicas", type=int)
    @click.option("--health-path")
    @click.option("--env", multiple=True, help="NAME=VALUE (repeatable)")
    @cluster_option
    @timeout_option
    @no_wait_option
    @output_option
    def command(
        service_name: str,
        definition: Path | None,
        project: str,
        cluster: str | None,
        timeout: float,
        no_wait: bool,
        output: str,
        **flags: Any,
    ) -> None:
        from cloudhp.apps.definition import load_definition
        from cloudhp.apps.model import Application
        from cloudhp.flows.deploy import deploy_application
        from cloudhp.flows.nodes import open_nodes
        from cloudhp.images.engine import local_engine
        from cloudhp.steps.services import running_services

        given = {k: v for k, v in flags.items() if v not in (None, ())}
        spec = load_definition(service_name, project, definition, given)
        app = Application(project, (spec,))
        files = files_of(cluster)
        with locked(files, f"cloudhp service {verb}", no_wait), open_nodes(files) as nodes:
            exists = any(
                s.swarm_name == spec.swarm_name
                for s in running_services(nodes.runner(nodes.lead), project)
            )
            if exists != update:
                raise UsageError(
                    f"service {spec.public_name} {'does not exist' if update else 'exists'}",
                    hint=f"use `cloudhp service {'create' if update else 'update'}`",
                )
            report = deploy_application(
                nodes,
                app,
                local_engine(),
                reporter_for(output),
                prune=False,
                force=update,
                timeout=timeout,
            )
        _render_deploy(output, report.to_dict())

    command.__doc__ = (
        "Replace a service's tasks with ones from its new definition."
        if update
        else "Create a service from a definition (file or flags)."
    )
    return command


service.add_command(_definition_command(update=False))
service.add_command(_definition_command(update=True))


@click.command()
@click.option("--project", help="only this project's services")
@cluster_option
@output_option
def services(project: str | None, cluster: str | None, output: str) -> None:
    """Each service: image, replicas running/desired, memory, URL, update state."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.steps.services import running_services, task_counts

    with open_nodes(files_of(cluster)) as nodes:
        lead = nodes.runner(nodes.lead)
        found = running_services(lead, project)
        counts = task_counts(lead, [s.swarm_name for s in found])
        address = nodes.ingress_address
    rows = [
        {
            "name": s.public_name,
            "project": s.project,
            "image": s.image,
            "running": counts.get(s.swarm_name, (0, 0))[0],
            "desired": counts.get(s.swarm_name, (0, 0))[1],
            "memory_reservation_mb": s.memory_reservation_mb,
            "memory_limit_mb": s.memory_limit_mb,
            "url": f"http://{address}/{s.public_name}/" if s.route() else None,
            "update_state": s.update_state or "completed",
            "last_error": s.update_message if s.update_state.startswith("rollback") else None,
        }
        for s in found
    ]

    def text() -> None:
        if not rows:
            click.echo("no services deployed: `cloudhp deploy FILE` deploys a compose stack")
        for r in rows:
            click.echo(
                f"{r['name']:32} {r['running']}/{r['desired']:<3} "
                f"{r['memory_reservation_mb'] or '-'}/{r['memory_limit_mb'] or '-'} MiB "
                f"{r['update_state']:18} {r['url'] or '-'}\n    {r['image']}"
            )
            if r["last_error"]:
                click.echo(f"    last error: {r['last_error']}")

    emit(output, {"services": rows}, text)


@click.command()
@click.argument("service_name")
@click.option("--since", help="e.g. 10m or 2026-12-02T10:00:00")
@click.option("--tail", type=int, help="lines per task")
@click.option("--follow", "-f", is_flag=True)
@cluster_option
def logs(
    service_name: str, since: str | None, tail: int | None, follow: bool, cluster: str | None
) -> None:
    """The logs of every task on every node, each line prefixed with task and node."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.steps.services import find_service, logs_command

    files = files_of(cluster)
    with open_nodes(files) as nodes:
        found = find_service(nodes.runner(nodes.lead), service_name)
        lead = nodes.lead
        user = nodes.ssh_user
    argv = logs_command(found.swarm_name, since, tail, follow)
    # The system ssh streams (and follows) best; pinned key and host key as `cloudhp ssh`.
    ssh = [
        "ssh", "-i", str(files.key_path),
        "-o", f"UserKnownHostsFile={files.known_hosts_path}",
        "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        f"{user}@{lead.private_ip}", *argv,
    ]  # fmt: skip
    if follow:
        os.execvp(ssh[0], ssh)
    result = subprocess.run(ssh, check=False)
    raise SystemExit(result.returncode)


@click.command()
@click.argument("assignments", nargs=-1, required=True)
@cluster_option
@no_wait_option
@output_option
def scale(assignments: tuple[str, ...], cluster: str | None, no_wait: bool, output: str) -> None:
    """Set replicas: SERVICE=N ...; waits until they run."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.steps.services import find_service, wait_converged

    wanted: dict[str, int] = {}
    for item in assignments:
        name, _, count = item.partition("=")
        if not name or not count.isdigit():
            raise UsageError(
                f"cannot read {item!r} as SERVICE=N", hint="e.g. `cloudhp scale shop-api=3`"
            )
        wanted[name] = int(count)
    files = files_of(cluster)
    with locked(files, "cloudhp scale", no_wait), open_nodes(files) as nodes:
        lead = nodes.runner(nodes.lead)
        found = {n: find_service(lead, n) for n in wanted}
        for name, service in found.items():
            if service.volumes and wanted[name] > 1:
                raise UsageError(
                    f"{name} writes to Cinder volume {service.volumes[0]}, which one task "
                    f"mounts at a time: it cannot run {wanted[name]} replicas",
                    hint=f"`cloudhp scale {name}=1` (or 0); put shared state in a service "
                    "of its own",
                )
        targets = {s.swarm_name: wanted[n] for n, s in found.items()}
        lead.run(
            ["docker", "service", "scale", "--detach", *[f"{n}={c}" for n, c in targets.items()]]
        )
        wait_converged(lead, sorted(targets))
    emit(output, {"scaled": wanted}, lambda: click.echo(f"scaled: {wanted}"))


@click.command()
@click.argument("service_name")
@cluster_option
@no_wait_option
@output_option
def rollback(service_name: str, cluster: str | None, no_wait: bool, output: str) -> None:
    """Go back to the service's previous spec (start-first, health-gated)."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.steps.services import find_service, task_counts

    files = files_of(cluster)
    with locked(files, "cloudhp rollback", no_wait), open_nodes(files) as nodes:
        lead = nodes.runner(nodes.lead)
        found = find_service(lead, service_name)
        lead.run(["docker", "service", "rollback", "--quiet", found.swarm_name])
        counts = task_counts(lead, [found.swarm_name])
    data = {"rolled_back": found.public_name, "tasks": counts.get(found.swarm_name)}
    emit(output, data, lambda: click.echo(f"rolled back {found.public_name}"))


@click.command()
@click.argument("service_name", required=False)
@click.option("--project", help="remove every service of this project")
@cluster_option
@no_wait_option
@output_option
def rm(
    service_name: str | None, project: str | None, cluster: str | None, no_wait: bool, output: str
) -> None:
    """Remove a service (or a whole project) and its route; the rest keeps answering."""
    from cloudhp.flows.deploy import remove
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.steps.services import find_service, running_services

    if bool(service_name) == bool(project):
        raise UsageError("give either SERVICE or --project P", hint="e.g. `cloudhp rm shop-api`")
    files = files_of(cluster)
    with locked(files, "cloudhp rm", no_wait), open_nodes(files) as nodes:
        lead = nodes.runner(nodes.lead)
        if service_name:
            names = [find_service(lead, service_name).public_name]
            swarm = [find_service(lead, service_name).swarm_name]
        else:
            found = running_services(lead, project)
            names = [s.public_name for s in found]
            swarm = [s.swarm_name for s in found]
        changed = remove(nodes, swarm)
    text = f"removed {', '.join(names)}" if changed else "nothing to remove: no changes"
    emit(output, {"removed": names, "changed": changed}, lambda: click.echo(text))
