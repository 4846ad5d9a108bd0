"""Printing results: human text on a terminal, one JSON document with `--output json`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from cloudhp.progress import ConsoleReporter, RecordingReporter

F = TypeVar("F", bound=Callable[..., Any])


def output_option(fn: F) -> F:
    """Adds `--output [text|json]`, remembered on the context for the error handler."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str) -> str:
        ctx.meta["cloudhp.output"] = value
        return value

    return click.option(
        "--output",
        "-o",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        is_eager=True,
        expose_value=True,
        callback=remember,
        help="text for people, json for scripts",
    )(fn)


def reporter_for(output: str) -> RecordingReporter:
    """Live progress on a terminal; silent (but still timed) for JSON or pipes."""
    if output == "json" or not sys.stderr.isatty():
        return _PlainReporter() if output != "json" else RecordingReporter()
    return ConsoleReporter()


class _PlainReporter(RecordingReporter):
    """A line when a phase starts and one when it ends, on stderr, for logs and CI."""

    def _on_phase_start(self, record: Any) -> None:
        click.echo(f"{record.name} started", err=True)

    def _on_phase_end(self, record: Any) -> None:
        mark = "changed" if record.changed else "unchanged"
        click.echo(f"{record.name} done in {record.seconds:.1f}s ({mark})", err=True)


def emit(output: str, data: Any, text: Callable[[], None]) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        text()
