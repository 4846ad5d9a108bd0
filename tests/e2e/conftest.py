"""End-to-end fixtures: the real `cloudhp` CLI against a real localcloud daemon."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cli:
    env: dict[str, str]
    home: Path

    def run(
        self, *args: str, input: str | None = None, timeout: float = 1200
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["cloudhp", *args],
            capture_output=True,
            text=True,
            env=self.env,
            input=input,
            timeout=timeout,
        )

    def json(self, *args: str) -> dict:
        result = self.run(*args, "--output", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["cloudhp", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )


@pytest.fixture(scope="session")
def cli(tmp_path_factory, images):
    """A private cloudhp home and localcloud (own data dir, port, clouds.yaml)."""
    home = tmp_path_factory.mktemp("cloudhp-e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(
        CLOUDHP_HOME=str(home / "home"),
        CLOUDHP_LOCALCLOUD_DIR=str(home / "localcloud"),
        CLOUDHP_LOCALCLOUD_PORT=str(_free_port()),
        CLOUDHP_CLOUDS_YAML=str(home / "clouds.yaml"),
        OS_CLIENT_CONFIG_FILE=str(home / "clouds.yaml"),
    )
    runner = Cli(env, home)
    yield runner
    subprocess.run(
        ["cloudhp", "localcloud", "reset", "--yes"], env=env, capture_output=True, timeout=300
    )
