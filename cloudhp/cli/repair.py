"""`cloudhp repair`: parse, call `cloudhp.flows.repair`, print."""

from __future__ import annotations

from pathlib import Path

import click

from cloudhp.cli.cluster import cloud_options, connect_cluster
from cloudhp.cli.options import NAME_HELP, files_of, locked, no_wait_option
from cloudhp.cli.output import emit, output_option, reporter_for
from cloudhp.steps.health import DEFAULT_DOWN_AFTER


@click.command()
@cloud_options
@click.option("--name", "--cluster", "cluster", help=NAME_HELP)
@click.option(
    "--down-after",
    type=click.FloatRange(min=0),
    default=DEFAULT_DOWN_AFTER,
    show_default=True,
    help="seconds a Swarm node may be Down, its server still ACTIVE, before it is replaced",
)
@click.option("--dry-run", is_flag=True, help="only list the nodes that would be replaced")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="seconds to wait, once replaced, for every node Ready and every manager reachable",
)
@no_wait_option
@output_option
def repair(
    openrc: Path | None,
    os_cloud: str | None,
    cloud: str | None,
    cluster: str | None,
    down_after: float,
    dry_run: bool,
    timeout: float,
    no_wait: bool,
    output: str,
) -> None:
    """Replace the nodes whose server is in ERROR, SHUTOFF or gone, or whose Swarm node
    has been Down for longer than --down-after: new server, joined, labels moved."""
    from cloudhp.flows.repair import repair_context, run_repair, spec_of
    from cloudhp.images.engine import local_engine

    spec = spec_of(files_of(cluster))  # before any credential is asked for
    files, conn = connect_cluster(cluster, openrc, os_cloud, cloud)
    ctx = repair_context(conn, files, spec, reporter_for(output))
    with locked(files, "cloudhp repair", no_wait):
        report = run_repair(ctx, local_engine(), down_after, dry_run=dry_run, timeout=timeout)
    data = report.to_dict()

    def text() -> None:
        found = report.found
        for fix in report.repairs:
            if fix["replace"]:
                what = f"{'would replace' if dry_run else 'replaced'} {fix['name']}"
            else:
                what = f"{'would remove' if dry_run else 'removed'} stale entries of {fix['name']}"
            click.echo(f"{what} ({fix['role']}): {fix['reason']}")
        for name in found.health.watching:
            click.echo(f"watching {name}: Down for less than {down_after:.0f}s")
        click.echo(f"quorum before: {found.quorum}")
        if report.after is not None:
            click.echo(f"quorum after: {report.after.quorum}; every node Ready")
        if not dry_run and not report.changed:
            click.echo(f"cluster {files.name}: no changes (no node needs repair)")

    emit(output, data, text)
