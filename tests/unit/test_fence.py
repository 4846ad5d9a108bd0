"""When a lost node counts as fenced: off for certain, by Nova's word."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloudhp.steps.fence import is_fenced


@pytest.mark.parametrize(
    ("status", "task_state", "fenced"),
    [
        ("SHUTOFF", None, True),
        ("SHUTOFF", "powering-on", False),  # someone is starting it again
        ("ACTIVE", "powering-off", False),  # the stop is under way, not done
        ("ACTIVE", None, False),
        ("ERROR", None, False),  # a broken server may still run
        ("PAUSED", None, False),  # frozen, and it resumes where it was
    ],
)
def test_only_shutoff_with_no_power_action_under_way_is_off(
    status: str, task_state: str | None, fenced: bool
) -> None:
    assert is_fenced(SimpleNamespace(status=status, task_state=task_state)) is fenced


def test_a_server_that_is_gone_is_fenced() -> None:
    assert is_fenced(None)
