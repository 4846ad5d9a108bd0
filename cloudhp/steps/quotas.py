"""Quota arithmetic: what a cluster needs, what the project has left, and one message
naming every limit that is too small.

Pure, so preflight's verdict is unit-tested without a cloud; `cloudhp.steps.preflight`
reads the limits and the cluster's existing resources and hands them over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cloudhp.errors import QuotaTooSmall


@dataclass(frozen=True)
class Quota:
    """One limit as OpenStack reports it: a maximum (negative: unlimited) and the usage."""

    limit: int
    used: int

    @property
    def available(self) -> int | None:
        """What is left, or None for unlimited."""
        if self.limit < 0:
            return None
        return max(0, self.limit - self.used)


@dataclass(frozen=True)
class Shortage:
    name: str
    need: int
    available: int
    unit: str = ""

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name} need {self.need}{unit}, {self.available}{unit} available"


UNITS = {"RAM": "MiB", "volume gigabytes": "GiB"}


def shortages(needs: Mapping[str, int], quotas: Mapping[str, Quota]) -> list[Shortage]:
    """Every quota that cannot hold what is needed, in the order of `needs`.

    A need of 0 is never short (a rerun that creates nothing must pass even on a
    project that is now full), and a quota the cloud does not report is not checked.
    """
    short = []
    for name, need in needs.items():
        quota = quotas.get(name)
        if need <= 0 or quota is None:
            continue
        available = quota.available
        if available is not None and need > available:
            short.append(Shortage(name, need, available, UNITS.get(name, "")))
    return short


def quota_error(short: Sequence[Shortage]) -> QuotaTooSmall:
    """One error naming every short quota, so the user asks the administrator once."""
    return QuotaTooSmall(
        "quota too small: " + "; ".join(s.describe() for s in short),
        hint="ask the project's administrator to raise the quota, or free resources, "
        "or ask for less (fewer workers, a smaller flavor); nothing was created",
    )


def compute_needs(new_servers: int, vcpus: int, ram_mb: int) -> dict[str, int]:
    """What `new_servers` servers of a flavor take from the compute quota."""
    new_servers = max(0, new_servers)
    return {"instances": new_servers, "cores": new_servers * vcpus, "RAM": new_servers * ram_mb}
