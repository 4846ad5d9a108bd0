"""What the controller reads from Swarm: node states on the manager's clock, and load."""

from __future__ import annotations

import json

import pytest

from cloudhp.steps.failover_swarm import parse_task_nodes, parse_time, parse_view


def _node(name: str, state: str, updated: str, labels: dict[str, str] | None = None) -> dict:
    return {
        "ID": f"id-{name}",
        "UpdatedAt": updated,
        "Description": {"Hostname": f"{name}.novalocal"},
        "Spec": {"Availability": "active", "Labels": labels or {}},
        "Status": {"State": state},
    }


def test_docker_times_with_nanoseconds_are_read_to_the_microsecond() -> None:
    assert parse_time("2026-12-02T18:30:01.5Z") == parse_time("2026-12-02T18:30:01Z") + 0.5
    fraction = parse_time("2026-12-02T18:30:01.123456789Z") - parse_time("2026-12-02T18:30:01Z")
    assert fraction == pytest.approx(0.123456789, abs=1e-6)


def test_down_for_is_measured_on_the_managers_clock_from_the_nodes_last_change() -> None:
    now = parse_time("2026-12-02T18:31:00Z")
    docs = [
        _node("c-manager-1", "ready", "2026-12-02T18:00:00Z"),
        _node("c-worker-1", "down", "2026-12-02T18:30:15.25Z", {"cloudhp.volume.p_db": "true"}),
    ]
    view = parse_view(f"{now}\n{json.dumps(docs)}")
    assert view.down_for("c-worker-1") == 44.75
    assert view.down_for("c-manager-1") is None  # Ready
    assert view.down_for("c-worker-9") is None  # not in the Swarm
    assert view.nodes["c-worker-1"].labels == {"cloudhp.volume.p_db": "true"}
    assert view.nodes["c-manager-1"].ready and not view.nodes["c-worker-1"].ready


def test_a_drained_node_is_not_ready_for_a_volume() -> None:
    doc = _node("c-worker-2", "ready", "2026-12-02T18:00:00Z")
    doc["Spec"]["Availability"] = "drain"
    view = parse_view(f"0\n{json.dumps([doc])}")
    assert not view.nodes["c-worker-2"].ready


def test_running_tasks_are_counted_per_short_hostname() -> None:
    text = "c-worker-1\nc-worker-2.novalocal\nc-worker-1\n\n"
    assert parse_task_nodes(text) == {"c-worker-1": 2, "c-worker-2": 1}
