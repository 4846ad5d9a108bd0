"""`cloudhp repair`'s input errors, and the spec it rebuilds nodes to (init's record)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from click.testing import CliRunner

from cloudhp import state
from cloudhp.cli import main
from cloudhp.clusterspec import build_spec
from cloudhp.flows.repair import spec_of


def test_the_recorded_spec_comes_back_as_init_ran_it(hermetic_home: Path) -> None:
    overlays = [{"name": "proxy"}, {"name": "db", "encrypted": True}]
    spec = build_spec(
        {"managers": 3, "workers": 2, "network": "private", "overlay_networks": overlays},
        {"name": "c", "flavor": "m1.large", "ingress_nodes": 2},
    )
    files = state.cluster_files("c")
    files.update_record(spec=json.loads(json.dumps(asdict(spec))))
    assert spec_of(files) == spec


def test_a_cluster_without_a_recorded_spec_is_refused_before_any_credential() -> None:
    state.cluster_files("old").update_record(nodes=[])
    result = CliRunner().invoke(main, ["repair", "--cluster", "old", "--output", "json"])
    assert result.exit_code == 3, result.output
    doc = json.loads(result.output)
    assert doc["error"] == "NotFoundError"
    assert "cluster old has no recorded spec" in doc["message"]
    assert "cloudhp init --name old" in doc["hint"]


def test_no_cluster_named_and_none_current_is_refused() -> None:
    result = CliRunner().invoke(main, ["repair", "--output", "json"])
    assert result.exit_code == 3, result.output
    assert "no cluster named and no current cluster" in json.loads(result.output)["message"]


def test_a_negative_threshold_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["repair", "--down-after", "-5"])
    assert result.exit_code == 2
    assert "--down-after" in result.output
