"""The one polling loop: the cloud, the Swarm and HTTP endpoints are all waited on here.

`poll` checks one condition (often over many resources at once) until it holds or a
deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from cloudhp.errors import WaitTimeout

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
        WaitTimeout: `done` did not hold within `timeout` seconds.
    """
    start = time.monotonic()
    while True:
        current = fetch()
        elapsed = time.monotonic() - start
        if done(current):
            return current
        if on_tick is not None:
            on_tick(current, elapsed)
        if elapsed > timeout:
            raise WaitTimeout(f"{what} did not finish within {timeout:.0f}s", hint=hint)
        time.sleep(interval)


def poll_until(done: Callable[[], bool], *, timeout: float, interval: float, what: str) -> None:
    """`poll` for a condition that is its own result."""
    poll(done, bool, timeout=timeout, interval=interval, what=what)
