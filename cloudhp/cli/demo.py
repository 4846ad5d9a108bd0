"""`cloudhp demo`: a 3-node Swarm of node containers serving the sample app."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from cloudhp.cli.output import emit, output_option, reporter_for
from cloudhp.flows.demo import LABEL, SwarmDemo
from cloudhp.images.engine import local_engine
from cloudhp.images.nodecontainers import remove_labelled


@click.group()
def demo() -> None:
    """Try the platform: node containers forming a Swarm behind HAProxy."""


@demo.command("swarm")
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(2, 7))
@click.option("--keep", is_flag=True, help="leave the nodes running (remove with `demo clean`)")
@output_option
def swarm(nodes: int, keep: bool, output: str) -> None:
    """Start node containers, form a Swarm, deploy the sample app behind HAProxy, ask it."""
    reporter = reporter_for(output)
    workdir = Path(tempfile.mkdtemp(prefix="cloudhp-demo-"))
    runner = SwarmDemo(local_engine(), workdir, reporter, node_count=nodes)
    try:
        report = runner.up()
    finally:
        if not keep:
            runner.down()
    data = report.to_dict() | {"kept": keep, "workdir": str(workdir)}

    def text() -> None:
        click.echo(f"Swarm of {len(report.nodes)} nodes (run {report.run_id}):")
        for n in report.nodes:
            click.echo(f"  {n['hostname']:8} {n['status']:6} {n['manager']}")
        click.echo(f"Requests to {report.url}demo-web/ were answered by:")
        for node, count in sorted(report.answers.items()):
            click.echo(f"  {node}: {count}")
        click.echo(
            "kept running; remove with `cloudhp demo clean`" if keep else "removed everything"
        )

    emit(output, data, text)


@demo.command("clean")
@output_option
def clean(output: str) -> None:
    """Remove every container, volume and network a demo left running."""
    removed = remove_labelled(local_engine(), LABEL)
    emit(output, {"removed": removed}, lambda: click.echo(f"removed {removed} resources"))
