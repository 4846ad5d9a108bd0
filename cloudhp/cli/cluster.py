"""`cloudhp init | status | ssh | teardown`: parse, call one function, print."""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cloudhp import state
from cloudhp.cli.options import NAME_HELP, files_of, locked, no_wait_option
from cloudhp.cli.output import emit, output_option, reporter_for
from cloudhp.cloud.access import auth_choice, open_cloud, open_clouds_file
from cloudhp.cloud.credentials import read_secret
from cloudhp.context import ClusterContext
from cloudhp.errors import UsageError
from cloudhp.expiry import parse_time, parse_ttl

F = TypeVar("F", bound=Callable[..., Any])


def cloud_options(fn: F) -> F:
    for option in reversed(
        [
            click.option(
                "--openrc", type=click.Path(path_type=Path), help="an openrc file (read, never run)"
            ),
            click.option("--os-cloud", help="a cloud from clouds.yaml"),
            click.option(
                "--cloud", type=click.Choice(["local"]), help="local: use (and start) localcloud"
            ),
        ]
    ):
        fn = option(fn)
    return fn


def connect_cloud(openrc: Path | None, os_cloud: str | None, cloud: str | None) -> Any:
    return open_cloud(openrc, os_cloud, cloud, lambda prompt: read_secret(prompt, sys.stdin))


def connect_cluster(
    name: str | None, openrc: Path | None, os_cloud: str | None, cloud: str | None
) -> tuple[state.ClusterFiles, Any]:
    """The cluster named (else the current one) and a connection: the options given, else
    the way its init authenticated, else the OS_* variables."""
    files = files_of(name)
    if not (openrc or os_cloud or cloud):
        recorded = files.read_record().get("auth") or {}
        openrc = Path(recorded["openrc"]) if recorded.get("openrc") else None
        os_cloud = recorded.get("os_cloud")
        cloud = recorded.get("cloud")
    return files, connect_cloud(openrc, os_cloud, cloud)


def connect_with_app_credential(files: state.ClusterFiles) -> Any:
    """The cluster's own application credential (init saved it): no password needed."""
    from cloudhp.steps.appcred import credential_name, credential_path

    path = credential_path(files.path)
    if not path.is_file():
        raise UsageError(
            f"cluster {files.name} has no saved application credential ({path})",
            hint="`cloudhp init` makes one, unless it ran on an application credential "
            "itself; give credentials instead (--openrc, --os-cloud)",
        )
    return open_clouds_file(path, credential_name(files.name))


def expiry_of(files: state.ClusterFiles, lifetime: datetime.timedelta | None) -> Any:
    """From now when `--ttl` is given, else what the first init with one recorded."""
    if lifetime is not None:
        return datetime.datetime.now(datetime.UTC) + lifetime
    return parse_time(str(files.read_record().get("expires_at") or ""))


def _project_name(conn: Any) -> str:
    return str(conn.config.auth.get("project_name") or conn.current_project.name or "cloudhp")


@click.command()
@cloud_options
@click.option("--spec", "spec_file", type=click.Path(path_type=Path), help="cluster spec (YAML)")
@click.option("--name", help="cluster name [default: derived from the project]")
@click.option("--managers", type=int, help="1, 3, 5 or 7 [default: 1]")
@click.option("--workers", type=int, help="[default: 0]")
@click.option("--flavor", help="[default: m1.small]")
@click.option("--image", help="base image [default: debian-12]")
@click.option("--network", help="private network [default: the only one]")
@click.option("--external-network", help="for the floating IP [default: the only one]")
@click.option("--ssh-user", help="login user of the image [default: debian]")
@click.option("--ttl", help="e.g. 8h: `cloudhp sweep` tears the cluster down after that")
@no_wait_option
@output_option
def init(
    openrc: Path | None,
    os_cloud: str | None,
    cloud: str | None,
    spec_file: Path | None,
    ttl: str | None,
    no_wait: bool,
    output: str,
    **flags: Any,
) -> None:
    """Create (or complete) a Swarm cluster with its HAProxy ingress; a rerun changes nothing."""
    from cloudhp.clusterspec import build_spec, load_spec
    from cloudhp.flows.init import run_init
    from cloudhp.images.engine import local_engine
    from cloudhp.naming import default_cluster_name

    file_values = load_spec(spec_file) if spec_file else {}
    build_spec(file_values, flags, default_name="placeholder")  # validate before any I/O
    lifetime = parse_ttl(ttl) if ttl else None
    conn = connect_cloud(openrc, os_cloud, cloud)
    spec = build_spec(file_values, flags, default_name=default_cluster_name(_project_name(conn)))
    ctx = ClusterContext(
        conn,
        spec,
        state.cluster_dir(spec.name),
        reporter_for(output),
        auth=auth_choice(openrc, os_cloud, cloud),
        expires_at=expiry_of(state.cluster_files(spec.name), lifetime),
    )
    with locked(state.cluster_files(spec.name), "cloudhp init", no_wait):
        report = run_init(ctx, local_engine())

    def text() -> None:
        click.echo(f"cluster {spec.name}: {'changed' if report.changed else 'no changes'}")
        for n in report.nodes:
            click.echo(f"  {n.name:28} {n.role:8} {n.private_ip or '-':16} {n.floating_ip or ''}")
        click.echo(f"ingress: {report.ingress_url}")
        for p in report.phases:
            click.echo(
                f"  {p['phase']:16} {p['seconds']:7.1f}s {'changed' if p['changed'] else '-'}"
            )

    emit(output, report.to_dict(), text)


@click.command()
@cloud_options
@click.option("--name", help=NAME_HELP)
@output_option
def status(
    openrc: Path | None, os_cloud: str | None, cloud: str | None, name: str | None, output: str
) -> None:
    """Nodes (OpenStack and Swarm state, IPs), the ingress URL and the networks."""
    from cloudhp.flows.status import cluster_status

    files, conn = connect_cluster(name, openrc, os_cloud, cloud)
    name = files.name
    data = cluster_status(conn, files)

    def text() -> None:
        click.echo(f"cluster {name}: ingress {data['ingress_url'] or '-'}")
        for n in data["nodes"]:
            click.echo(
                f"  {n['name']:28} {n['status']:8} {n.get('swarm_role') or '-':8} "
                f"{n.get('swarm_state') or '-':8} {n.get('availability') or '-':8} "
                f"{n.get('private_ip') or '-':16} {n.get('floating_ip') or ''}"
            )
        click.echo(f"networks: {', '.join(data['networks']) or '-'}")

    emit(output, data, text)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--name", help=NAME_HELP)
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(name: str | None, node: str, command: tuple[str, ...]) -> None:
    """Open a shell on NODE (or run COMMAND there) with the cluster's key and pinned host key."""
    from cloudhp.flows.ssh import ssh_argv

    argv = ssh_argv(files_of(name), node, list(command))
    os.execvp(argv[0], argv)


@click.command()
@cloud_options
@click.option("--name", help=NAME_HELP)
@click.option("--images", is_flag=True, help="also delete the cluster's golden image(s)")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.option(
    "--app-credential",
    is_flag=True,
    help="authenticate with the cluster's own application credential (for unattended runs)",
)
@click.option(
    "--volumes", is_flag=True, help="also delete the Cinder volumes (kept by default: data)"
)
@click.option("--at", "at", help="do it later: at this time (e.g. 2026-12-02T18:30), by cron")
@click.option("--after", help="do it later: after this long (e.g. 2h), by cron")
@no_wait_option
@output_option
def teardown(
    openrc: Path | None,
    os_cloud: str | None,
    cloud: str | None,
    name: str | None,
    images: bool,
    yes: bool,
    app_credential: bool,
    volumes: bool,
    at: str | None,
    after: str | None,
    no_wait: bool,
    output: str,
) -> None:
    """Delete everything tagged cloudhp-cluster=NAME, in dependency order, and verify;
    with --at or --after, schedule that (on the cluster's application credential).
    The cluster's Cinder volumes are kept (and listed with their sizes) unless --volumes."""
    from cloudhp.flows.teardown import teardown as run_teardown

    name = state.resolve_name(name)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("not a terminal: pass --yes to confirm the teardown")
        click.confirm(f"Delete every resource tagged cloudhp-cluster={name}?", abort=True)
    if volumes and (at or after):
        raise UsageError(
            "--volumes cannot be scheduled: a scheduled teardown keeps the volumes",
            hint="run `cloudhp teardown --volumes` when you mean to delete their data",
        )
    if at or after:
        from cloudhp.cli.schedule import schedule_later

        schedule_later(name, at, after, output)
        return
    if app_credential:
        if openrc or os_cloud or cloud:
            raise UsageError("--app-credential cannot be combined with other credentials")
        files = files_of(name)
        conn = connect_with_app_credential(files)
    else:
        files, conn = connect_cluster(name, openrc, os_cloud, cloud)
    with locked(files, "cloudhp teardown", no_wait):
        report = run_teardown(
            conn,
            name,
            reporter_for(output),
            include_images=images,
            volumes=volumes,
            key_path=files.key_path,
            cluster_dir=files.path,
        )
    data = report.to_dict()

    def text() -> None:
        for kept in report.kept:
            click.echo(f"kept {kept.item.label()}: {kept.reason}")
        if not report.counts:
            click.echo(f"nothing tagged cloudhp-cluster={name} found: nothing to delete")
            return
        for kind, names in report.deleted.items():
            if names:
                click.echo(f"deleted {len(names)} {kind}(s): {', '.join(names)}")
        but = " but the kept volumes" if report.kept_volumes else ""
        click.echo(f"verified: nothing tagged cloudhp-cluster={name} remains{but}")

    emit(output, data, text)


@click.command()
@cloud_options
@output_option
def clusters(openrc: Path | None, os_cloud: str | None, cloud: str | None, output: str) -> None:
    """The clusters this machine knows (the current one marked); with credentials, also
    the ones the cloud's tags show."""
    from cloudhp.steps.inventory import clusters_in_cloud

    current = state.current()
    known = state.known_clusters()
    in_cloud: list[str] | None = None
    if openrc or os_cloud or cloud:
        in_cloud = clusters_in_cloud(connect_cloud(openrc, os_cloud, cloud))
    names = sorted(set(known) | set(in_cloud or []))
    rows = [
        {
            "name": n,
            "current": n == current,
            "on_this_machine": n in known,
            "in_cloud": None if in_cloud is None else n in in_cloud,
        }
        for n in names
    ]

    def text() -> None:
        if not rows:
            click.echo("no clusters known: `cloudhp init` creates one")
        for row in rows:
            where = (
                "" if row["in_cloud"] is None else (" (cloud)" if row["in_cloud"] else " (gone)")
            )
            click.echo(f"{'*' if row['current'] else ' '} {row['name']}{where}")

    emit(output, {"current": current, "clusters": rows}, text)


@click.command()
@click.argument("name")
@output_option
def use(name: str, output: str) -> None:
    """Make NAME the current cluster, the default of every later command."""
    state.use(name)
    emit(output, {"current": name}, lambda: click.echo(f"current cluster: {name}"))
