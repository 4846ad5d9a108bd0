"""A cluster's time to live: `init --ttl 8h` writes its expiry on every resource it
makes, as the tag `cloudhp-expires=<UTC time>`, so that `cloudhp sweep` (from cron, on
any host with the project's credentials) finds what is due from the cloud alone.

Pure functions: parsing a duration, the tag, and a cluster's expiry from the tags of
its resources (the latest one wins: a rerun with a longer TTL must never make a
cluster due earlier; a cluster none of whose resources carries one never expires).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable

from cloudhp.errors import UsageError
from cloudhp.naming import parse_cluster_tag

PREFIX = "cloudhp-expires="
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def parse_ttl(text: str) -> datetime.timedelta:
    """`90s`, `30m`, `8h`, `2d`: a positive whole number and one unit."""
    found = _DURATION.fullmatch(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise UsageError(
            f"--ttl {text!r} is not a duration",
            hint="a positive whole number and a unit: 90s, 30m, 8h or 2d",
        )
    return datetime.timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def expiry_tag(when: datetime.datetime) -> str:
    return PREFIX + when.astimezone(datetime.UTC).strftime(_FORMAT)


def format_time(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime(_FORMAT)


def parse_time(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(text, _FORMAT).replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


def parse_expiry(tag: str) -> datetime.datetime | None:
    return parse_time(tag.removeprefix(PREFIX)) if tag.startswith(PREFIX) else None


def cluster_expiries(
    tag_sets: Iterable[Iterable[str]],
) -> dict[str, datetime.datetime | None]:
    """Each cluster found in the tags, with its expiry (None: it never expires)."""
    expiries: dict[str, datetime.datetime | None] = {}
    for tags in tag_sets:
        tags = list(tags)
        clusters = [c for c in map(parse_cluster_tag, tags) if c]
        stamps = [t for t in map(parse_expiry, tags) if t]
        for cluster in clusters:
            known = expiries.get(cluster)
            expiries[cluster] = max([*stamps, *([known] if known else [])], default=None)
    return expiries


def due(expiries: dict[str, datetime.datetime | None], now: datetime.datetime) -> list[str]:
    """The clusters whose expiry has passed, by name."""
    return sorted(c for c, when in expiries.items() if when is not None and when <= now)
