"""Calling the cloud: one error mapping.

Every step that talks to OpenStack wraps its calls in `cloud_call` so that an
openstacksdk failure reaches the user as a CloudhpError naming what was being done
(and waits with `cloudhp.polling.poll`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import keystoneauth1.exceptions as ks_exc
import openstack.exceptions as os_exc

from cloudhp.errors import (
    CloudhpError,
    CloudUnavailable,
    ConflictError,
    EnvironmentProblem,
    NotFoundError,
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
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and (status == 429 or status >= 500):
        return CloudUnavailable(
            f"{what} failed: the cloud answered {status} after retries: {exc}",
            hint="the cloud is overloaded or down for a moment; run the command again",
        )
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
    except ks_exc.ConnectionError as exc:
        raise CloudUnavailable(
            f"{what} failed: the cloud could not be reached after retries: {exc}",
            hint="check this machine's connection to the cloud, then run the command again",
        ) from None
