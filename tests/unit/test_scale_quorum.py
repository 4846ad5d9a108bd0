"""Raft arithmetic and the one-at-a-time plan for removing managers."""

import pytest

from cloudhp.steps.health import has_quorum
from cloudhp.steps.quorum import (
    Demotion,
    demotion_plan,
    describe_managers,
    manager_counts,
    safe_to_demote,
)
from cloudhp.steps.swarm_nodes import SwarmNode


@pytest.mark.parametrize(
    ("reachable", "managers", "expected"),
    [(1, 1, True), (0, 1, False), (2, 3, True), (1, 3, False), (1, 2, False), (2, 2, True),
     (3, 5, True), (2, 5, False), (4, 7, True), (3, 7, False), (0, 0, False)],
)  # fmt: skip
def test_quorum_is_a_strict_majority(reachable, managers, expected):
    assert has_quorum(reachable, managers) is expected


@pytest.mark.parametrize(
    ("reachable", "managers", "expected"),
    [(3, 3, True), (2, 3, False), (2, 2, True), (5, 5, True), (4, 5, True), (3, 5, False),
     (1, 1, False)],
)  # fmt: skip
def test_a_demotion_must_commit_and_leave_a_reachable_majority(reachable, managers, expected):
    assert safe_to_demote(reachable, managers) is expected


def test_five_to_one_demotes_one_at_a_time_through_three():
    assert demotion_plan(["m5", "m4", "m3", "m2"], 5) == [
        Demotion("m5", 5, 4, 3),
        Demotion("m4", 4, 3, 3),
        Demotion("m3", 3, 2, 1),
        Demotion("m2", 2, 1, 1),
    ]


def test_three_to_one_and_seven_to_five():
    assert demotion_plan(["m3", "m2"], 3) == [Demotion("m3", 3, 2, 1), Demotion("m2", 2, 1, 1)]
    assert demotion_plan(["m7", "m6"], 7) == [Demotion("m7", 7, 6, 5), Demotion("m6", 6, 5, 5)]


def test_every_planned_step_keeps_quorum_when_all_managers_answer():
    for step in demotion_plan(["a", "b", "c", "d", "e", "f"], 7):
        assert safe_to_demote(step.managers_before, step.managers_before)


def test_nothing_to_demote_is_an_empty_plan():
    assert demotion_plan([], 3) == []


def node(name, role="manager", reachability="reachable", leader=False):
    return SwarmNode(name, name, role, "active", "ready", 0, {}, leader, reachability)


def test_counts_and_description_read_like_docker_node_ls():
    nodes = [
        node("c-manager-2", reachability="unreachable"),
        node("c-manager-1", leader=True),
        node("c-worker-1", role="worker", reachability=""),
        node("c-manager-3"),
    ]
    assert manager_counts(nodes) == (2, 3)
    assert describe_managers(nodes) == (
        "c-manager-1 Leader, c-manager-2 Unreachable, c-manager-3 Reachable"
    )
