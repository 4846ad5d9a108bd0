"""Options every cluster command shares, defined once so their help reads the same."""

from __future__ import annotations

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
