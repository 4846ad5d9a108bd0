"""A node update that lost a race with the Swarm is sent again; other failures are not.

The lead is a scripted engine answering each `docker node update` with the outcome
given, as the real CLI prints it on stderr.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from typing import IO

import pytest

from cloudhp.errors import RemoteCommandError
from cloudhp.remote.runner import Result
from cloudhp.steps import swarm_nodes
from cloudhp.steps.swarm_nodes import update_node

RACE = "Error response from daemon: rpc error: code = Unknown desc = update out of sequence"


class Lead:
    def __init__(self, *errors: str) -> None:
        self.host = "10.0.0.5"
        self.errors = list(errors)
        self.sent: list[str] = []

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        line = command if isinstance(command, str) else shlex.join(command)
        self.sent.append(line)
        if self.errors:
            raise RemoteCommandError(self.host, line, 1, self.errors.pop(0))
        return Result(self.host, line, "n1\n", "", 0)

    def run_with_input(self, command: Sequence[str], chunks: Iterable[bytes]) -> Result:
        raise AssertionError("nothing is fed on stdin here")


DRAIN = ["docker", "node", "update", "--availability", "drain", "n1"]


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(swarm_nodes.time, "sleep", lambda _s: None)


def test_an_update_out_of_sequence_is_sent_again_until_it_lands():
    lead = Lead(RACE, RACE)
    update_node(lead, DRAIN)
    assert lead.sent == [shlex.join(DRAIN)] * 3


def test_another_failure_is_raised_at_once():
    lead = Lead("Error response from daemon: node n1 not found")
    with pytest.raises(RemoteCommandError, match="not found"):
        update_node(lead, DRAIN)
    assert len(lead.sent) == 1


def test_a_race_lost_every_time_is_raised_after_the_attempts():
    lead = Lead(*[RACE] * 5)
    with pytest.raises(RemoteCommandError, match="out of sequence"):
        update_node(lead, DRAIN, attempts=3)
    assert len(lead.sent) == 3
