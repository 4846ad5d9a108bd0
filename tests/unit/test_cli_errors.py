"""One error path: every failure is a short message, a pinned exit status, JSON on ask."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import openstack.exceptions as os_exc
import paramiko
import pytest
from click.testing import CliRunner

from cloudhp.cli import main
from cloudhp.errors import ExitStatus, RemoteCommandError


def test_exit_statuses_are_the_documented_ones() -> None:
    assert {s.name: int(s) for s in ExitStatus} == {
        "OK": 0, "ERROR": 1, "USAGE": 2, "NOT_FOUND": 3, "CONFLICT": 4, "ENVIRONMENT": 5,
        "REMOTE": 6, "TIMEOUT": 7, "DEPLOY_FAILED": 8,
        "INTERNAL": 70, "INTERRUPTED": 130,
    }  # fmt: skip


def _failing_images(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def boom() -> None:
        raise exc

    monkeypatch.setattr("cloudhp.cli.images.local_engine", boom)


def test_a_bug_is_a_short_message_and_a_private_traceback_file(
    monkeypatch: pytest.MonkeyPatch, hermetic_home: Path
) -> None:
    _failing_images(monkeypatch, ZeroDivisionError("division by zero"))
    result = CliRunner().invoke(main, ["images", "build", "--output", "json"])
    assert result.exit_code == 70
    doc = json.loads(result.output)
    assert doc["error"] == "InternalError"
    assert "ZeroDivisionError" in doc["message"]
    path = Path(doc["traceback_file"])
    assert path.is_relative_to(hermetic_home)
    assert "Traceback" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_traceback_flag_prints_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_images(monkeypatch, KeyError("x"))
    result = CliRunner().invoke(main, ["--traceback", "images", "build"])
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.output
    assert "traceback written to" in result.output


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (os_exc.NotFoundException("no such flavor"), 3, "NotFoundError"),
        (os_exc.ConflictException("busy"), 4, "ConflictError"),
        (os_exc.EndpointNotFound("no volume service"), 5, "EnvironmentProblem"),
        (os_exc.HttpException("503 Service Unavailable"), 1, "CloudhpError"),
        (paramiko.SSHException("Error reading SSH protocol banner"), 6, "RemoteUnreachable"),
        (ConnectionResetError("reset by peer"), 6, "RemoteUnreachable"),
    ],
)
def test_sdk_and_ssh_errors_never_reach_the_user_raw(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException, status: int, kind: str
) -> None:
    _failing_images(monkeypatch, exc)
    result = CliRunner().invoke(main, ["images", "build", "--output", "json"])
    assert result.exit_code == status, result.output
    doc = json.loads(result.output)
    assert doc["error"] == kind
    assert "Traceback" not in result.output


def test_secrets_are_redacted_from_error_text() -> None:
    err = RemoteCommandError(
        "10.0.0.7",
        "docker swarm join --token SWMTKN-1-abcdef0123-xyz 10.0.0.5:2377",
        1,
        "Error: token SWMTKN-1-abcdef0123-xyz is invalid; password=hunter2",
    )
    text = json.dumps(err.to_dict())
    assert "SWMTKN-1-abcdef0123" not in text and "hunter2" not in text
    assert "SWMTKN-***" in text
