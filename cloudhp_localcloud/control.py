"""The local cloud's one door for the tool: start, stop, inspect, reset, credentials.

`cloudhp` (the tool) imports nothing else from this package (the import contracts in
pyproject.toml check it), so the emulator's insides can change without the tool
noticing, and a bastion install without the `local` extra never loads Flask.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloudhp_localcloud import clients, daemon, server
from cloudhp_localcloud.config import CLOUD_NAME, LocalCloudConfig, clouds_yaml_path

__all__ = ["CLOUD_NAME", "down", "ensure_running", "openrc", "reset", "status", "up"]


def _config(data_dir: Path | None, **settings: Any) -> LocalCloudConfig:
    given = {k: v for k, v in settings.items() if v is not None}
    if data_dir is not None:
        given["data_dir"] = data_dir.expanduser()
    return LocalCloudConfig(**given)


def up(
    data_dir: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    public_url: str | None = None,
    foreground: bool = False,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
    faults: Path | None = None,
    build_latency: float | None = None,
) -> dict[str, Any]:
    """Start the cloud (a no-op when it runs) and add its entries to clouds.yaml.

    With `foreground` it serves in this process until interrupted and calls `on_ready`
    once it answers; otherwise it returns the running daemon's state. `faults` names
    a file of injected-fault rules (fault_injection.py), for tests; `build_latency`
    keeps each new server in BUILD that many seconds (the latency model).
    """
    config = _config(
        data_dir,
        host=host,
        port=port,
        public_url=public_url,
        faults_path=faults,
        build_latency=build_latency,
    )
    path = clouds_yaml_path()

    def announce(state: dict[str, Any]) -> dict[str, Any]:
        names = clients.install_clouds_yaml(config, path)
        return {**state, "clouds_yaml": str(path), "clouds": names, "cloud": CLOUD_NAME}

    if foreground:

        def ready() -> None:
            if on_ready is not None:
                on_ready(announce(daemon.status(config)))

        server.serve(config, on_ready=ready)
        return announce(daemon.status(config))
    return announce(daemon.start(config))


def ensure_running() -> str:
    """Start (or find) the default local cloud; the clouds.yaml entry that reaches it."""
    up()
    return CLOUD_NAME


def down(data_dir: Path | None = None) -> dict[str, Any]:
    return daemon.stop(_config(data_dir))


def status(data_dir: Path | None = None) -> dict[str, Any]:
    return daemon.status(_config(data_dir))


def reset(data_dir: Path | None = None) -> dict[str, Any]:
    return daemon.reset(_config(data_dir))


def data_dir_of(data_dir: Path | None = None) -> Path:
    return _config(data_dir).data_dir


def openrc(data_dir: Path | None = None, user: str = "demo") -> str:
    return clients.openrc(_config(data_dir), user)
