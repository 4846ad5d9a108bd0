"""The failover's decisions: the recorded move and its remaining steps, when a node is
lost, and which node a volume goes to."""

from __future__ import annotations

import pytest

from cloudhp.errors import UsageError
from cloudhp.steps.failover_plan import (
    FENCE_PENDING,
    STEPS,
    Candidate,
    Move,
    is_lost,
    parse_move,
    pick_target,
)


def test_a_volume_at_rest_has_no_move() -> None:
    assert parse_move("", "c-worker-1") is None
    assert parse_move(None, "c-worker-1") is None


def test_a_recorded_step_is_read_back_with_what_remains() -> None:
    move = parse_move("attach:c-worker-1:c-worker-2", "c-worker-1")
    assert move == Move("attach", "c-worker-1", "c-worker-2")
    assert move.remaining == ("attach", "check", "mount", "placement", "done")
    assert move.text() == "attach:c-worker-1:c-worker-2"
    assert Move("fence", "a", "b").remaining == STEPS


def test_fence_pending_stands_alone_and_names_the_holder() -> None:
    move = parse_move(FENCE_PENDING, "c-worker-1")
    assert move == Move(FENCE_PENDING, "c-worker-1", "")
    assert move.remaining == ()
    assert Move(FENCE_PENDING, "c-worker-1", "c-worker-2").text() == "FENCE_PENDING"


@pytest.mark.parametrize(
    "text", ["attach", "attach:a", "attach::b", "attach:a:", "move:a:b", "a:b:c:d"]
)
def test_a_value_cloudhp_never_writes_is_an_error_naming_the_form(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_move(text, "a")
    assert repr(text) in caught.value.message
    assert "'<step>:<from node>:<to node>'" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("down_for", "status", "reachable", "lost"),
    [
        (None, "SHUTOFF", None, False),  # Swarm Ready: never lost, whatever Nova says
        (29.0, "SHUTOFF", None, False),  # Down for less than the window
        (30.0, "SHUTOFF", None, True),  # the container was killed
        (30.0, None, None, True),  # the server is gone
        (30.0, "ERROR", None, True),
        (30.0, "ACTIVE", False, True),  # paused or cut off: SSH decides
        (30.0, "ACTIVE", True, False),  # Swarm's heartbeat lapsed, the node answers
        (30.0, "ACTIVE", None, False),  # not probed: not lost
    ],
)
def test_lost_needs_swarm_down_for_the_window_and_the_server_down_or_mute(
    down_for: float | None, status: str | None, reachable: bool | None, lost: bool
) -> None:
    assert is_lost(down_for, 30.0, status, reachable) is lost


def test_the_target_is_the_ready_node_with_fewest_tasks_and_never_the_lost_one() -> None:
    nodes = [
        Candidate("c-manager-1", True, 3),
        Candidate("c-worker-1", False, 0),  # Down
        Candidate("c-worker-2", True, 1),
        Candidate("c-worker-3", True, 1),
    ]
    assert pick_target(nodes, exclude={"c-worker-1"}) == "c-worker-2"  # tie: by name
    assert pick_target(nodes, exclude={"c-worker-2"}) == "c-worker-3"
    assert pick_target([Candidate("c-worker-1", True, 0)], exclude={"c-worker-1"}) is None
    assert pick_target([Candidate("c-worker-2", False, 0)], exclude=()) is None
