"""Calling the cloud and waiting on it: one error mapping and one polling loop.

Every step that talks to OpenStack wraps its calls in `cloud_call` so that an
openstacksdk failure reaches the user as a CloudhpError naming what was being done,
and waits with `poll`, which checks one condition (often over many resources at once)
until it holds or a deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import openstack.exceptions as os_exc

from cloudhp.errors import (
    CloudhpError,
    ConflictError,
    EnvironmentProblem,
    NotFoundError,
    WaitTimeout,
)

T = TypeVar("T")


def from_sdk(exc: os_exc.SDKException, what: str) -> CloudhpError:
    """The one mapping of openstacksdk failures to what the user is told."""
    if isinstance(exc, os_exc.EndpointNotFound | os_exc.ServiceDisabledException):
        return EnvironmentProblem(
            f"{what}: the cloud's service catalog has no endpoint for this service",
            hint="check the region (OS_REGION_NAME) and the interface (OS_INTERFACE)",
        )
    if isinstance(exc, os_exc.NotFoundException):
        return NotFoundError(f"{what} failed: {exc}")
    if isinstance(exc, os_exc.ConflictException):
        return ConflictError(f"{what} failed: {exc}")
    return CloudhpError(f"{what} failed: {exc}")


@contextmanager
def cloud_call(what: str) -> Iterator[None]:
    """Turns openstacksdk failures into a CloudhpError that says what failed."""
    try:
        yield
    except CloudhpError:
        raise
    except os_exc.SDKException as exc:
        raise from_sdk(exc, what) from None


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
