"""Reading the Swarm for repair: the first manager that answers is asked, a dead one is
skipped, a leaderless Swarm is refused; init's lead is a manager already in the Swarm.

Each node is a scripted engine answering as a real `docker` CLI would, or a host that
cannot be reached (the socket error paramiko raises).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from typing import IO

import pytest

from cloudhp.commands.swarm import demote_command, remove_node_command
from cloudhp.remote.runner import Result
from cloudhp.steps.health import QuorumLost
from cloudhp.steps.replace import SWARM_VIEW, read_swarm
from cloudhp.steps.swarm import lead_index

CLOCK = "2026-12-02T18:00:00.000000001Z"
DOC = {
    "ID": "m2",
    "UpdatedAt": "2026-12-02T17:00:00Z",
    "Spec": {"Labels": {}},
    "Description": {"Hostname": "c-manager-2"},
    "Status": {"State": "ready"},
    "ManagerStatus": {"Reachability": "reachable", "Leader": True},
}


class Node:
    def __init__(self, host: str, answer: Result | None = None, state: str = "active") -> None:
        self.host = host
        self.answer = answer
        self.info = {"LocalNodeState": state, "NodeID": host, "ControlAvailable": True}
        self.asked: list[str] = []

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        line = command if isinstance(command, str) else shlex.join(command)
        self.asked.append(line)
        if self.answer is None:
            raise OSError(113, "No route to host")
        if line.startswith("docker info"):
            return Result(self.host, line, json.dumps(self.info), "", 0)
        return self.answer

    def run_with_input(self, command: Sequence[str], chunks: Iterable[bytes]) -> Result:
        raise AssertionError("nothing is fed on stdin here")


def answers(stdout: str = "", stderr: str = "", exited: int = 0) -> Result:
    return Result("h", SWARM_VIEW, stdout, stderr, exited)


LEADERLESS = answers(
    stderr="Error response from daemon: rpc error: code = Unknown desc = The swarm does "
    "not have a leader. It's possible that too few managers are online.",
    exited=1,
)


def test_a_dead_manager_is_skipped_and_the_next_one_answers() -> None:
    dead = Node("10.0.0.5")
    alive = Node("10.0.0.6", answers(f"{CLOCK}\n{json.dumps([DOC])}"))
    found = read_swarm([("c-manager-1", dead), ("c-manager-2", alive)])
    assert found is not None
    lead, clock, nodes = found
    assert (lead, clock) == ("c-manager-2", CLOCK)
    assert [(n.id, n.hostname, n.state, n.reachable_manager) for n in nodes] == [
        ("m2", "c-manager-2", "ready", True)
    ]
    assert alive.asked == [SWARM_VIEW]


@pytest.mark.parametrize("failure", [LEADERLESS, answers(exited=124)])  # 124: timed out
def test_managers_without_a_leader_are_refused_with_the_recovery(failure: Result) -> None:
    with pytest.raises(QuorumLost) as caught:
        read_swarm([("c-manager-1", Node("10.0.0.5")), ("c-manager-2", Node("x", failure))])
    assert caught.value.hint is not None
    assert "`docker swarm init --force-new-cluster` on c-manager-2" in caught.value.hint


def test_no_swarm_at_all_is_none() -> None:
    not_manager = answers(stderr="This node is not a swarm manager.", exited=1)
    assert read_swarm([("c-manager-1", Node("a", not_manager)), ("m", Node("b"))]) is None
    assert read_swarm([]) is None


def test_the_lead_is_the_first_manager_already_in_the_swarm() -> None:
    fresh = Node("10.0.0.9", answers(), state="inactive")  # a replaced manager-1
    assert lead_index([fresh, Node("10.0.0.6", answers()), Node("10.0.0.7", answers())]) == 1
    assert lead_index([fresh, Node("10.0.0.8", answers(), state="inactive")]) == 0


def test_a_dead_node_is_demoted_then_removed_by_force() -> None:
    assert demote_command("abc") == ["docker", "node", "demote", "abc"]
    assert remove_node_command("abc") == ["docker", "node", "rm", "--force", "abc"]
