"""The README's main job, as a newcomer runs it: the CLI end to end."""

from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = pytest.mark.docker


def cloudhp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["cloudhp", *args], capture_output=True, text=True, timeout=900)


def test_images_build_is_cached_on_second_run(images):
    result = cloudhp("images", "build", "--output", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {i["name"] for i in doc["images"]} == {"node", "sampleapp", "haproxy", "registry"}
    assert not any(i["built"] for i in doc["images"])


def test_demo_swarm_cli(images, engine):
    result = cloudhp("demo", "swarm", "--output", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["nodes"]) == 3
    assert set(doc["answers_by_node"]) == {"node1", "node2", "node3"}
    assert (
        engine.containers.list(all=True, filters={"label": f"cloudhp.demo={doc['run_id']}"}) == []
    )
