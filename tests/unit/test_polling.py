"""The one polling loop: transient failures are waited through, others end the wait."""

from __future__ import annotations

import itertools

import pytest

from cloudhp.errors import CloudhpError, CloudUnavailable, RemoteUnreachable, WaitTimeout
from cloudhp.polling import poll


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A clock that advances one second per sleep, so deadlines pass without waiting."""
    now = [0.0]
    monkeypatch.setattr("cloudhp.polling.time.monotonic", lambda: now[0])
    monkeypatch.setattr("cloudhp.polling.time.sleep", lambda s: now.__setitem__(0, now[0] + s))
    return now


def scripted(*answers: object):  # type: ignore[no-untyped-def]
    """A fetch that raises the exceptions and returns the values given, in order."""
    queue = iter(answers)

    def fetch() -> object:
        answer = next(queue)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return fetch


def test_transient_failures_are_waited_through(clock: list[float]) -> None:
    fetch = scripted(
        CloudUnavailable("listing servers failed: the cloud answered 503 after retries"),
        RemoteUnreachable("node-1 did not answer"),
        "ACTIVE",
    )
    assert poll(fetch, lambda s: s == "ACTIVE", timeout=60, interval=1, what="x") == "ACTIVE"
    assert clock[0] == 2.0


def test_any_other_failure_ends_the_wait_at_once(clock: list[float]) -> None:
    fetch = scripted(CloudhpError("server went to ERROR"), "ACTIVE")
    with pytest.raises(CloudhpError, match="went to ERROR"):
        poll(fetch, lambda s: s == "ACTIVE", timeout=60, interval=1, what="x")
    assert clock[0] == 0.0


def test_a_wait_that_only_ever_failed_names_the_last_failure(clock: list[float]) -> None:
    attempts = itertools.count()

    def fetch() -> bool:
        raise CloudUnavailable(f"attempt {next(attempts)}: 503")

    with pytest.raises(WaitTimeout) as caught:
        poll(fetch, bool, timeout=5, interval=1, what="servers")
    assert caught.value.message.startswith("servers did not finish within 5s (last check: attempt")
    assert "503" in caught.value.message


def test_a_late_success_clears_the_last_failure(clock: list[float]) -> None:
    fetch = scripted(CloudUnavailable("503"), *["BUILD"] * 10)
    with pytest.raises(WaitTimeout) as caught:
        poll(fetch, lambda s: s == "ACTIVE", timeout=3, interval=1, what="servers")
    assert caught.value.message == "servers did not finish within 3s"
