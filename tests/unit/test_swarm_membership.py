"""What "joined" means: a node is in the lead's Swarm only when the lead lists its node
id; a node in another Swarm, or left pending or in error by a cut-off join, leaves and
joins again, and a lead left half-initialised is initialised afresh.

The node is a scripted `docker` engine: it answers `docker info` with the Swarm state
given and records the commands it was sent, as a real engine's CLI would receive them.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from typing import IO

import pytest

from cloudhp.remote.runner import Result
from cloudhp.steps.swarm import ensure_joined, ensure_swarm, swarm_members


class Engine:
    def __init__(self, state: str, node_id: str = "", manager: bool = False) -> None:
        self.host = "10.0.0.7"
        self.info = {"LocalNodeState": state, "NodeID": node_id, "ControlAvailable": manager}
        self.sent: list[str] = []
        self.nodes = ""

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        line = command if isinstance(command, str) else shlex.join(command)
        if line.startswith("docker info"):
            return Result(self.host, line, json.dumps(self.info), "", 0)
        if line == "docker node ls -q":
            return Result(self.host, line, self.nodes, "", 0)
        self.sent.append(line.split(" --token")[0])  # the token is not what is checked
        return Result(self.host, line, "", "", 0)

    def run_with_input(self, command: Sequence[str], chunks: Iterable[bytes]) -> Result:
        raise AssertionError("nothing is fed on stdin here")


JOIN = "docker swarm join --advertise-addr 10.0.0.7 --listen-addr 10.0.0.7:2377"
LEAVE = "docker swarm leave --force"
MEMBERS = frozenset({"lead1", "w1"})


def test_a_member_of_the_leads_swarm_is_left_alone() -> None:
    node = Engine("active", "w1")
    assert ensure_joined(node, "SWMTKN-1-x", "10.0.0.5", "10.0.0.7", MEMBERS) is False
    assert node.sent == []


def test_a_node_in_another_swarm_leaves_and_joins_the_leads() -> None:
    node = Engine("active", "stranger")  # e.g. still in the Swarm of a replaced lead
    assert ensure_joined(node, "SWMTKN-1-x", "10.0.0.5", "10.0.0.7", MEMBERS) is True
    assert node.sent == [LEAVE, JOIN]


@pytest.mark.parametrize("state", ["pending", "error"])
def test_a_join_cut_off_midway_is_done_again(state: str) -> None:
    node = Engine(state, "")
    assert ensure_joined(node, "SWMTKN-1-x", "10.0.0.5", "10.0.0.7", MEMBERS) is True
    assert node.sent == [LEAVE, JOIN]


def test_a_fresh_node_just_joins() -> None:
    node = Engine("inactive")
    assert ensure_joined(node, "SWMTKN-1-x", "10.0.0.5", "10.0.0.7", MEMBERS) is True
    assert node.sent == [JOIN]


@pytest.mark.parametrize("state", ["pending", "error"])
def test_a_lead_left_half_initialised_is_initialised_afresh(state: str) -> None:
    lead = Engine(state)
    assert ensure_swarm(lead, "10.0.0.5") is True
    assert lead.sent[0] == LEAVE and lead.sent[1].startswith("docker swarm init")


def test_an_active_lead_is_left_alone() -> None:
    lead = Engine("active", "lead1", manager=True)
    assert ensure_swarm(lead, "10.0.0.5") is False
    assert lead.sent == []


def test_members_are_the_node_ids_the_lead_lists() -> None:
    lead = Engine("active", "lead1", manager=True)
    lead.nodes = "lead1\nw1\n"
    assert swarm_members(lead) == MEMBERS
