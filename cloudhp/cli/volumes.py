"""`cloudhp volumes` and `cloudhp volume move`: parse, call one flow, print.

Both need the cloud (Cinder knows the volumes) and the Swarm (which node mounts them,
which service uses them); the cloud is reached with the cluster's application
credential, so no password is asked.
"""

from __future__ import annotations

from typing import Any

import click

from cloudhp.cli.options import cluster_option, files_of, locked, no_wait_option, timeout_option
from cloudhp.cli.output import emit, output_option, reporter_for


@click.command()
@cluster_option
@output_option
def volumes(cluster: str | None, output: str) -> None:
    """Each Cinder volume of the cluster: size, node, state and the service using it.

    States: mounted, attached (not mounted), detached, moving (a move is under way),
    FENCE_PENDING (a failover waits for its old node's fence to be confirmed).
    """
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.flows.volumes import cluster_cloud, list_volumes

    files = files_of(cluster)
    with open_nodes(files) as nodes, cluster_cloud(files) as conn:
        rows = [r.to_dict() for r in list_volumes(conn, nodes)]

    def text() -> None:
        if not rows:
            click.echo("no volumes: give a compose volume driver_opts: {size: N} to make one")
        for r in rows:
            click.echo(
                f"{r['name']:32} {r['size_gb']:>4} GiB  {r['node'] or '-':20} "
                f"{r['state']:13} {r['service'] or '-'}"
            )

    emit(output, {"cluster": files.name, "volumes": rows}, text)


@click.group()
def volume() -> None:
    """One Cinder volume of the cluster."""


@volume.command()
@click.argument("name")
@click.option("--to", "to_node", required=True, help="the node to move it to")
@cluster_option
@timeout_option
@no_wait_option
@output_option
def move(
    name: str, to_node: str, cluster: str | None, timeout: float, no_wait: bool, output: str
) -> None:
    """Move volume NAME (<project>_<volume>) to node --to, gracefully: its service's task
    stops, the volume is unmounted, detached, attached, checked and mounted there, and
    the task starts there. No fencing: both nodes must be up."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.flows.volumes import cluster_cloud, move_volume

    files = files_of(cluster)
    with (
        locked(files, "cloudhp volume move", no_wait),
        open_nodes(files) as nodes,
        cluster_cloud(files) as conn,
    ):
        report = move_volume(conn, nodes, name, to_node, reporter_for(output), timeout)
    data: dict[str, Any] = report.to_dict()

    def text() -> None:
        if not data["changed"]:
            click.echo(f"volume {name} is on {to_node}: no changes")
        else:
            click.echo(f"volume {name} moved from {data['from_node'] or '-'} to {to_node}")

    emit(output, data, text)
