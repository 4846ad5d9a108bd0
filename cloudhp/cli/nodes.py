"""`cloudhp scale-nodes`: init again with the cluster's recorded spec and new counts.

Scaling out is init's own work (create, pin, join, label what is missing) and scaling
in is the step init runs when the spec asks for fewer nodes, so this command only
rebuilds the spec init recorded, with the counts changed, and runs init on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cloudhp.cli.cluster import cloud_options, connect_cluster, expiry_of
from cloudhp.cli.options import cluster_option, files_of, locked, no_wait_option, timeout_option
from cloudhp.cli.output import emit, output_option, reporter_for
from cloudhp.cloud.access import auth_choice
from cloudhp.context import ClusterContext
from cloudhp.errors import NotFoundError, UsageError


@click.command("scale-nodes")
@cloud_options
@cluster_option
@click.option("--workers", type=int, help="workers wanted [default: as now]")
@click.option("--managers", type=int, help="managers wanted: 1, 3, 5 or 7 [default: as now]")
@timeout_option
@no_wait_option
@output_option
def scale_nodes(
    openrc: Path | None,
    os_cloud: str | None,
    cloud: str | None,
    cluster: str | None,
    workers: int | None,
    managers: int | None,
    timeout: float,
    no_wait: bool,
    output: str,
) -> None:
    """Add or remove nodes. A removed node is drained first and its tasks run elsewhere;
    refused (exit 4, nothing changed) when the nodes left cannot hold the services'
    memory reservations. Managers go one at a time, keeping the Raft majority. A
    volume on a removed node is moved first, as `cloudhp volume move` does, to the
    staying worker with the fewest tasks."""
    from cloudhp.clusterspec import build_spec
    from cloudhp.flows.init import run_init
    from cloudhp.images.engine import local_engine

    if workers is None and managers is None:
        raise UsageError(
            "nothing to scale: give --workers N, --managers M or both",
            hint="e.g. `cloudhp scale-nodes --workers 3`",
        )
    counts = {"workers": workers, "managers": managers}
    build_spec({}, counts, default_name="placeholder")  # the counts, before any I/O
    files = files_of(cluster)
    record = files.read_record()
    recorded = record.get("spec")
    if not isinstance(recorded, dict):
        raise NotFoundError(
            f"cluster {files.name} has no recorded spec in {files.record_path}",
            hint=f"run `cloudhp init --name {files.name}` with the cluster's options and "
            "the counts you want; it records the spec for later scale-nodes",
        )
    spec = build_spec(recorded, counts)
    files, conn = connect_cluster(files.name, openrc, os_cloud, cloud)
    given = openrc or os_cloud or cloud
    ctx = ClusterContext(
        conn,
        spec,
        files.create().path,
        reporter_for(output),
        auth=auth_choice(openrc, os_cloud, cloud) if given else dict(record.get("auth") or {}),
        expires_at=expiry_of(files, None),
    )
    with locked(files, "cloudhp scale-nodes", no_wait):
        report = run_init(ctx, local_engine(), drain_timeout=timeout)
    data: dict[str, Any] = report.to_dict()

    def text() -> None:
        click.echo(f"cluster {spec.name}: {'changed' if report.changed else 'no changes'}")
        for moved in report.moved_volumes:
            click.echo(
                f"  moved volume {moved['volume']}: {moved['from_node']} -> {moved['to_node']}"
            )
        for name in report.removed:
            click.echo(f"  removed {name}")
        for n in report.nodes:
            click.echo(f"  {n.name:28} {n.role:8} {n.private_ip or '-':16} {n.floating_ip or ''}")

    emit(output, data, text)
