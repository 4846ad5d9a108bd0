"""Options every cluster command shares, defined once so their help reads the same."""

from __future__ import annotations

from contextlib import AbstractContextManager

import click

from cloudhp import state

NAME_HELP = "cluster name [default: the current cluster, see `cloudhp clusters`]"

cluster_option = click.option("--name", "cluster", help=NAME_HELP)

timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="seconds to wait for every service to run healthy",
)


def files_of(cluster: str | None) -> state.ClusterFiles:
    """The named cluster's files, else the current cluster's (validated name)."""
    return state.cluster_files(state.resolve_name(cluster))


no_wait_option = click.option(
    "--no-wait",
    is_flag=True,
    help="fail at once (exit 4) if another command holds the cluster's lock",
)


def locked(files: state.ClusterFiles, command: str, no_wait: bool) -> AbstractContextManager[None]:
    """The cluster's lock for this command; who it waits for goes to stderr."""
    from cloudhp.lock import cluster_lock

    return cluster_lock(
        files.name, command, wait=not no_wait, say=lambda m: click.echo(m, err=True)
    )
