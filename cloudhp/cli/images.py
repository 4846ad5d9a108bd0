"""`cloudhp images`: build the container images cloudhp needs, without a registry."""

from __future__ import annotations

import click

from cloudhp.cli.output import emit, output_option, reporter_for
from cloudhp.images import RECIPES, ensure_images
from cloudhp.images.engine import local_engine


@click.group()
def images() -> None:
    """Container images (node, sampleapp, haproxy), built here and cached by recipe hash."""


@images.command("build")
@click.argument("names", nargs=-1, type=click.Choice(sorted(RECIPES)))
@output_option
def build(names: tuple[str, ...], output: str) -> None:
    """Build NAMES (default: all); an image whose recipe is unchanged is reused."""
    reporter = reporter_for(output)
    with reporter.phase("images") as phase:
        built = ensure_images(local_engine(), list(names or sorted(RECIPES)), reporter)
        phase.changed = any(b.built for b in built)

    def text() -> None:
        for b in built:
            click.echo(f"{b.tag}  {'built' if b.built else 'cached'}")

    emit(output, {"images": [b.to_dict() for b in built], "phases": reporter.summary()}, text)
