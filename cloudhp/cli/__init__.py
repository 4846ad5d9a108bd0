"""The `cloudhp` command line: parse, call one function, print. Errors render here."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from cloudhp import __version__
from cloudhp.errors import CloudhpError, ExitStatus


class CloudhpGroup(click.Group):
    """Turns every CloudhpError into a message and its exit status, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CloudhpError as exc:
            render_error(ctx, exc)
            ctx.exit(int(exc.exit_status))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(int(ExitStatus.INTERRUPTED))


def _output_of(ctx: click.Context) -> str:
    node: click.Context | None = ctx
    while node is not None:
        if "cloudhp.output" in node.meta:
            return str(node.meta["cloudhp.output"])
        node = node.parent
    return "text"


def render_error(ctx: click.Context, exc: CloudhpError) -> None:
    if _output_of(ctx) == "json":
        click.echo(json.dumps(exc.to_dict(), indent=2))
        return
    click.secho(f"error: {exc.message}", fg="red", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)


@click.group(cls=CloudhpGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloudhp")
def main() -> None:
    """Provision a Docker Swarm on OpenStack behind an HAProxy ingress, and tear it down."""


def _register() -> None:
    from cloudhp.cli.cluster import clusters, init, ssh, status, teardown, use
    from cloudhp.cli.demo import demo
    from cloudhp.cli.images import images
    from cloudhp.cli.localcloud import localcloud

    main.add_command(images)
    main.add_command(demo)
    main.add_command(localcloud)
    for command in (init, status, ssh, teardown, clusters, use):
        main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
