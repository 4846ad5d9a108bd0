"""`cloudhp watch` refuses option combinations it cannot honour, before doing anything."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cloudhp.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--install", "--uninstall"], "--install and --uninstall cannot be combined"),
        (["--install", "--once"], "--once runs one pass here and now"),
        (["--output", "json"], "--output json needs --once"),
    ],
)
def test_contradictory_options_exit_2_with_what_would_be_right(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["watch", "--name", "c1", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_cluster_without_its_application_credential_is_exit_2_naming_init() -> None:
    result = CliRunner().invoke(main, ["watch", "--name", "c1", "--once", "--output", "json"])
    assert result.exit_code == 2, result.output
    doc = json.loads(result.output)
    assert "no application credential" in doc["message"]
    assert "cloudhp init --name c1" in doc["hint"]
