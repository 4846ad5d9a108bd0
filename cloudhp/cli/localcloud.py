"""`cloudhp localcloud ...`: parse, call one daemon function, print. Nothing else.

Errors are raised as CloudhpError subclasses and rendered by the main CLI's handler
(`cloudhp.cli.CloudhpGroup`), in JSON too when `--output json` was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cloudhp.cli.output import emit, output_option
from cloudhp.localcloud import daemon
from cloudhp.localcloud.config import (
    CLOUD_NAME,
    DEFAULT_HOST,
    DEFAULT_PORT,
    LocalCloudConfig,
    clouds_yaml_path,
    default_data_dir,
)

_data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where state lives [default: ~/.local/share/cloudhp/localcloud].",
)


def _config(data_dir: Path | None, **kw: Any) -> LocalCloudConfig:
    return LocalCloudConfig(data_dir=(data_dir or default_data_dir()).expanduser(), **kw)


def _emit(output: str, data: dict[str, Any], text: str) -> None:
    emit(output, data, lambda: click.echo(text))


@click.group()
def localcloud() -> None:
    """A small OpenStack-compatible cloud on the local Docker engine."""


@localcloud.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port.")
@click.option("--public-url", default=None, help="URL clients use, if not http://host:port.")
@click.option("--foreground", is_flag=True, help="Serve in this process until Ctrl-C.")
@_data_dir
@output_option
def up(
    host: str,
    port: int,
    public_url: str | None,
    foreground: bool,
    data_dir: Path | None,
    output: str,
) -> None:
    """Start localcloud (no-op if running) and add `cloudhp-local` to clouds.yaml."""
    config = _config(data_dir, host=host, port=port, public_url=public_url)
    clouds_yaml = clouds_yaml_path()

    def announce(state: dict[str, Any]) -> None:
        names = daemon.install_clouds_yaml(config, clouds_yaml)
        data = {**state, "clouds_yaml": str(clouds_yaml), "clouds": names}
        verb = "started" if state.get("changed", True) else "already running"
        text = (
            f"localcloud {verb} (pid {state['pid']})\n"
            f"  auth URL:    {state['auth_url']}\n"
            f"  clouds.yaml: {clouds_yaml} (clouds: {', '.join(names)})\n"
            f"  try:         OS_CLOUD={CLOUD_NAME} openstack token issue"
        )
        _emit(output, data, text)

    if foreground:
        daemon.serve(config, on_ready=lambda: announce(daemon.status(config)))
        return
    announce(daemon.start(config))


@localcloud.command()
@_data_dir
@output_option
def down(data_dir: Path | None, output: str) -> None:
    """Stop localcloud (SIGTERM, then wait); state is kept."""
    state = daemon.stop(_config(data_dir))
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
    state = daemon.status(_config(data_dir))
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
    config = _config(data_dir)
    if not yes:
        click.confirm(f"Delete all localcloud state in {config.data_dir}?", abort=True)
    result = daemon.reset(config)
    _emit(output, result, f"localcloud reset: {len(result['removed'])} files removed")


@localcloud.command()
@click.option("--user", type=click.Choice(["demo", "admin"]), default="demo", show_default=True)
@_data_dir
@output_option
def openrc(user: str, data_dir: Path | None, output: str) -> None:
    """Print an openrc that prompts for the password (as Horizon's files do)."""
    text = daemon.openrc(_config(data_dir), user)
    _emit(output, {"user": user, "openrc": text}, text.rstrip("\n"))
