"""`cloudhp sweep`: parse, call `cloudhp.flows.sweep`, print."""

from __future__ import annotations

from pathlib import Path

import click

from cloudhp.cli.cluster import cloud_options, connect_cloud
from cloudhp.cli.output import emit, output_option, reporter_for
from cloudhp.errors import UsageError


@click.command()
@cloud_options
@click.option("--dry-run", is_flag=True, help="only list what is due")
@click.option("--yes", is_flag=True, help="tear down without asking (for cron)")
@output_option
def sweep(
    openrc: Path | None,
    os_cloud: str | None,
    cloud: str | None,
    dry_run: bool,
    yes: bool,
    output: str,
) -> None:
    """Tear down every cluster of the project whose `init --ttl` has run out."""
    from cloudhp.flows.sweep import sweep as run_sweep

    if not (yes or dry_run):
        raise UsageError("sweep tears clusters down: pass --yes (or --dry-run to see what is due)")
    report = run_sweep(
        connect_cloud(openrc, os_cloud, cloud), reporter_for(output), dry_run=dry_run
    )

    def text() -> None:
        verb = "due" if dry_run else "torn down"
        for cluster, counts in report.torn_down.items():
            summary = ", ".join(f"{n} {kind}(s)" for kind, n in counts.items())
            click.echo(f"{verb}: {cluster}" + (f" ({summary})" if summary else ""))
        for cluster, when in report.spared.items():
            click.echo(f"spared: {cluster} ({'expires ' + when if when else 'no expiry'})")
        for cluster in report.leftovers:
            click.echo(f"left over: {cluster} has tagged resources but no server "
                       f"(`cloudhp teardown --name {cluster}` removes them)")  # fmt: skip
        if not (report.torn_down or report.spared):
            click.echo("no clusters in this project: nothing to sweep")

    emit(output, report.to_dict(), text)
