"""`cloudhp localcloud up/status/openrc/down/reset` with a real background daemon.

The daemon creates its public bridge and seeds a network on the Docker engine.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

from cloudhp.cli.localcloud import localcloud
from cloudhp.errors import CloudhpError, ConflictError
from cloudhp_localcloud import daemon, registry
from cloudhp_localcloud.config import LocalCloudConfig


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cli:
    def __init__(self, tmp: Path) -> None:
        self.data_dir = tmp / "data"
        self.clouds_yaml = tmp / "home" / "clouds.yaml"
        self.port = _free_port()
        self.runner = CliRunner(env={"CLOUDHP_CLOUDS_YAML": str(self.clouds_yaml)})

    def __call__(self, *args: str, ok: bool = True) -> Any:
        argv = [*args, "--data-dir", str(self.data_dir), "--output", "json"]
        result = self.runner.invoke(localcloud, argv, catch_exceptions=True)
        if not ok:
            return result
        assert result.exit_code == 0, (result.output, result.exception)
        return json.loads(result.output)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    cli = Cli(tmp_path_factory.mktemp("cli"))
    cli.clouds_yaml.parent.mkdir()
    cli.clouds_yaml.write_text(yaml.safe_dump({"clouds": {"mine": {"auth": {"x": 1}}}}))
    yield cli
    config = LocalCloudConfig(data_dir=cli.data_dir)
    daemon.stop(config)
    # The daemon seeded a network (a Docker bridge); remove this instance's objects.
    for hook in registry.reset_hooks():
        hook(config)


def test_up_starts_in_background_and_merges_clouds_yaml(cli: Cli) -> None:
    state = cli("up", "--port", str(cli.port))
    assert state["running"] and state["changed"] and state["pid"] != os.getpid()
    assert state["auth_url"] == f"http://127.0.0.1:{cli.port}/identity"
    assert requests.get(state["auth_url"] + "/v3", timeout=5).status_code == 200
    clouds = yaml.safe_load(cli.clouds_yaml.read_text())["clouds"]
    assert set(clouds) == {"mine", "cloudhp-local", "cloudhp-local-admin"}
    assert clouds["cloudhp-local"]["auth"]["auth_url"] == state["auth_url"]
    assert stat.S_IMODE(cli.clouds_yaml.stat().st_mode) == 0o600


def test_up_again_is_a_noop(cli: Cli) -> None:
    first = cli("status")
    again = cli("up", "--port", str(cli.port))
    assert again["running"] and not again["changed"] and again["pid"] == first["pid"]


def test_status_counts_seeded_resources(cli: Cli) -> None:
    state = cli("status")
    assert state["running"]
    assert state["resources"]["user"] == 2 and state["resources"]["project"] == 2


def test_openrc_prompts_instead_of_holding_the_password(cli: Cli) -> None:
    text = cli("openrc")["openrc"]
    password = yaml.safe_load(cli.clouds_yaml.read_text())["clouds"]["cloudhp-local"]["auth"][
        "password"
    ]
    assert "read -sr OS_PASSWORD_INPUT" in text and password not in text
    assert f"OS_AUTH_URL=http://127.0.0.1:{cli.port}/identity/v3" in text
    assert 'OS_USERNAME="demo"' in text


def test_up_on_a_busy_port_is_a_conflict(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        other = Cli(tmp_path)
        result = other("up", "--port", str(busy.getsockname()[1]), ok=False)
    assert isinstance(result.exception, ConflictError)
    assert "already in use" in result.exception.message


def test_down_stops_and_is_idempotent(cli: Cli) -> None:
    pid = cli("status")["pid"]
    stopped = cli("down")
    assert stopped["changed"] and stopped["stopped_pid"] == pid and not stopped["running"]
    assert not cli("status")["running"]
    assert not cli("down")["changed"]


def test_reset_runs_hooks_and_deletes_state(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []
    monkeypatch.setattr(registry, "reset_hooks", lambda: [lambda c: seen.append(c.db_path)])
    result = cli("reset", "--yes")
    assert seen == [cli.data_dir / "state.db"]
    assert str(cli.data_dir / "state.db") in result["removed"]
    assert not (cli.data_dir / "state.db").exists()
    assert not (cli.data_dir / "clouds.yaml").exists()


def test_failed_reset_hook_keeps_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = LocalCloudConfig(data_dir=tmp_path)
    config.db_path.write_bytes(b"")

    def broken(config: LocalCloudConfig) -> None:
        raise RuntimeError("docker is away")

    monkeypatch.setattr(registry, "reset_hooks", lambda: [broken])
    with pytest.raises(CloudhpError, match="docker is away"):
        daemon.reset(config)
    assert config.db_path.exists()
