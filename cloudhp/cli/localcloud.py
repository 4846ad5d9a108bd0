"""`cloudhp localcloud ...`: parse, call the local cloud's control module, print.

Errors are raised as CloudhpError subclasses and rendered by the main CLI's handler
(`cloudhp.cli.CloudhpGroup`), in JSON too when `--output json` was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cloudhp.cli.output import emit, output_option
from cloudhp.cloud.local import control

_data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where state lives [default: ~/.local/share/cloudhp/localcloud].",
)


def _emit(output: str, data: dict[str, Any], text: str) -> None:
    emit(output, data, lambda: click.echo(text))


@click.group()
def localcloud() -> None:
    """A small OpenStack-compatible cloud on the local Docker engine."""


@localcloud.command()
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option(
    "--port", default=None, type=int, help="Port [default: $CLOUDHP_LOCALCLOUD_PORT or 8788]."
)
@click.option("--public-url", default=None, help="URL clients use, if not http://host:port.")
@click.option("--foreground", is_flag=True, help="Serve in this process until Ctrl-C.")
@click.option(
    "--faults",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Rules of injected 503, 429 and slow answers, for tests "
    "[default: $CLOUDHP_LOCALCLOUD_FAULTS]; read when the cloud starts.",
)
@click.option(
    "--build-latency",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds each new server stays in BUILD, as on a real cloud (a model: no CPU "
    "is spent) [default: $CLOUDHP_LOCALCLOUD_BUILD_LATENCY or 0]; read when it starts.",
)
@_data_dir
@output_option
def up(
    host: str | None,
    port: int | None,
    public_url: str | None,
    foreground: bool,
    faults: Path | None,
    build_latency: float | None,
    data_dir: Path | None,
    output: str,
) -> None:
    """Start localcloud (no-op if running) and add `cloudhp-local` to clouds.yaml."""

    def announce(state: dict[str, Any]) -> None:
        verb = "started" if state.get("changed", True) else "already running"
        text = (
            f"localcloud {verb} (pid {state['pid']})\n"
            f"  auth URL:    {state['auth_url']}\n"
            f"  clouds.yaml: {state['clouds_yaml']} (clouds: {', '.join(state['clouds'])})\n"
            f"  try:         OS_CLOUD={state['cloud']} openstack token issue"
        )
        _emit(output, state, text)

    state = control().up(
        data_dir,
        host,
        port,
        public_url,
        foreground,
        on_ready=announce,
        faults=faults,
        build_latency=build_latency,
    )
    if not foreground:
        announce(state)


@localcloud.command()
@_data_dir
@output_option
def down(data_dir: Path | None, output: str) -> None:
    """Stop localcloud (SIGTERM, then wait); state is kept."""
    state = control().down(data_dir)
    text = (
        f"localcloud stopped (pid {state['stopped_pid']})"
        if state["changed"]
        else ("localcloud is not running")
    )
    _emit(output, state, text)


@localcloud.command()
@_data_dir
@output_option
def status(data_dir: Path | None, output: str) -> None:
    """Whether localcloud runs, where, and how many resources it holds."""
    state = control().status(data_dir)
    running = f"running (pid {state['pid']})" if state["running"] else "stopped"
    lines = [
        f"localcloud is {running}",
        f"  auth URL: {state['auth_url']}",
        f"  data dir: {state['data_dir']}",
    ]
    lines += [f"  {kind}: {n}" for kind, n in state["resources"].items()]
    _emit(output, state, "\n".join(lines))


@localcloud.command()
@_data_dir
@output_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(data_dir: Path | None, output: str, yes: bool) -> None:
    """Stop localcloud and delete all of its state and credentials."""
    local = control()
    if not yes:
        click.confirm(f"Delete all localcloud state in {local.data_dir_of(data_dir)}?", abort=True)
    result = local.reset(data_dir)
    _emit(output, result, f"localcloud reset: {len(result['removed'])} files removed")


@localcloud.command()
@click.option("--user", type=click.Choice(["demo", "admin"]), default="demo", show_default=True)
@_data_dir
@output_option
def openrc(user: str, data_dir: Path | None, output: str) -> None:
    """Print an openrc that prompts for the password (as Horizon's files do)."""
    text = control().openrc(data_dir, user)
    _emit(output, {"user": user, "openrc": text}, text.rstrip("\n"))
