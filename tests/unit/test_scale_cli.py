"""`cloudhp scale-nodes` refuses bad requests before touching the cloud or the cluster."""

import json

from click.testing import CliRunner

from cloudhp.cli import main
from cloudhp.state import cluster_files


def run(*args):
    result = CliRunner().invoke(main, ["scale-nodes", *args, "--output", "json"])
    return result.exit_code, json.loads(result.output)


def test_no_count_is_a_usage_error():
    code, doc = run("--name", "c1")
    assert code == 2
    assert "--workers" in doc["message"] and "--managers" in doc["message"]


def test_an_even_or_too_large_manager_count_names_the_allowed_values():
    for count in ("2", "4", "9", "0"):
        code, doc = run("--name", "c1", "--managers", count)
        assert code == 2, count
        assert doc["hint"] == "managers must be 1, 3, 5 or 7"


def test_a_negative_worker_count_is_refused():
    code, doc = run("--name", "c1", "--workers", "-1")
    assert code == 2 and "workers" in doc["message"]


def test_a_cluster_without_a_recorded_spec_says_how_to_get_one():
    cluster_files("c1").update_record(nodes=[])
    code, doc = run("--name", "c1", "--workers", "2")
    assert code == 3
    assert "no recorded spec" in doc["message"]
    assert "cloudhp init --name c1" in doc["hint"]
