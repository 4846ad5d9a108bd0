"""The `cloudhp` command line: parse, call one function, print. Errors render here."""

from __future__ import annotations

import sys
from typing import Any

import click

from cloudhp import __version__
from cloudhp.cli.errors import render
from cloudhp.errors import ExitStatus


class CloudhpGroup(click.Group):
    """Every failure leaves through `cloudhp.cli.errors.render`, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(int(ExitStatus.INTERRUPTED))
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:
            ctx.exit(render(ctx, exc, bool(ctx.meta.get("cloudhp.traceback"))))


def _remember_traceback(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta["cloudhp.traceback"] = value
    return value


@click.group(cls=CloudhpGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloudhp")
@click.option(
    "--traceback",
    is_flag=True,
    expose_value=False,
    callback=_remember_traceback,
    help="on an unexpected error, print the full traceback too",
)
def main() -> None:
    """Provision a Docker Swarm on OpenStack behind an HAProxy ingress, and tear it down."""


def _register() -> None:
    from cloudhp.cli.apps import deploy, logs, rm, rollback, scale, service, services
    from cloudhp.cli.cluster import clusters, init, ssh, status, teardown, use
    from cloudhp.cli.demo import demo
    from cloudhp.cli.images import images
    from cloudhp.cli.localcloud import localcloud
    from cloudhp.cli.nodes import scale_nodes
    from cloudhp.cli.registry import registry
    from cloudhp.cli.repair import repair
    from cloudhp.cli.schedule import schedule
    from cloudhp.cli.sweep import sweep
    from cloudhp.cli.volumes import volume, volumes
    from cloudhp.cli.watch import confirm_fence, watch

    main.add_command(images)
    main.add_command(demo)
    main.add_command(localcloud)
    main.add_command(registry)
    main.add_command(schedule)
    main.add_command(repair)
    main.add_command(scale_nodes)
    for command in (init, status, ssh, teardown, clusters, use, sweep):
        main.add_command(command)
    for command in (deploy, service, services, logs, scale, rollback, rm):
        main.add_command(command)
    main.add_command(volumes)
    main.add_command(volume)
    volume.add_command(confirm_fence)
    main.add_command(watch)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
