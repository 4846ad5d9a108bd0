"""The one polling loop: the cloud, the Swarm and HTTP endpoints are all waited on here.

`poll` checks one condition (often over many resources at once) until it holds or a
deadline passes. A `Transient` failure of one check (the cloud overloaded for a moment,
a node briefly unreachable) does not end the wait: the next check may succeed, and
only the deadline decides; the last such failure is then named in the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from cloudhp.errors import Transient, WaitTimeout

T = TypeVar("T")


def poll(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float,
    what: str,
    on_tick: Callable[[T, float], None] | None = None,
    hint: str | None = None,
) -> T:
    """Calls `fetch` every `interval` seconds until `done(result)`; returns that result.

    Raises:
        WaitTimeout: `done` did not hold within `timeout` seconds (naming the last
            transient failure, if the checks kept failing).
        Any other exception `fetch` or `done` raise, at once.
    """
    start = time.monotonic()
    last_failure: Exception | None = None
    while True:
        try:
            current = fetch()
        except Exception as exc:
            if not isinstance(exc, Transient):
                raise
            last_failure = exc
        else:
            last_failure = None
            if done(current):
                return current
            if on_tick is not None:
                on_tick(current, time.monotonic() - start)
        if time.monotonic() - start > timeout:
            why = f" (last check: {last_failure})" if last_failure is not None else ""
            raise WaitTimeout(f"{what} did not finish within {timeout:.0f}s{why}", hint=hint)
        time.sleep(interval)


def poll_until(done: Callable[[], bool], *, timeout: float, interval: float, what: str) -> None:
    """`poll` for a condition that is its own result."""
    poll(done, bool, timeout=timeout, interval=interval, what=what)
