"""Checks shared by compose files and definitions, so both refuse the same things alike."""

from __future__ import annotations

import re
from typing import Any

from cloudhp.apps.source import At, describe
from cloudhp.errors import UsageError
from cloudhp.naming import MAX_NAME_LENGTH, validate_service_name

NAME_RULE = (
    "a public name <project>-<service> begins with a lower-case letter, contains only "
    f"a-z, 0-9 and '-', ends with a letter or digit and has at most {MAX_NAME_LENGTH} "
    "characters"
)

MIB = 1024 * 1024
MIN_LIMIT_MB = 6
"""Docker refuses memory limits below 6 MiB when it creates the container."""

_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB, "t": 1024**2 * MIB, "p": 1024**3 * MIB}

# Docker's reference grammar (distribution/reference), without its ambiguities.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?)"
_IMAGE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
_HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_ALIAS = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?$")


def public_name(project: str, name: str, at: At) -> str:
    """The `<project>-<service>` name, or an error stating the rule and the name."""
    try:
        return validate_service_name(project, name)
    except UsageError as exc:
        detail = exc.message.replace("invalid cluster name", "invalid project name")
        hint = (exc.hint or "").replace("a cluster name", "a project name")
        raise at.error(
            f"the public name {project + '-' + name!r} breaks the naming rule "
            f"({NAME_RULE}): {detail}",
            hint=hint or None,
        ) from None


def memory_mb(at: At, value: Any) -> int:
    """A memory size in whole MiB, from bytes (an integer) or text such as 512m or 1g.

    Sizes are kept in MiB because that is what definitions and `cloudhp services`
    speak; a size that is not a whole number of MiB is refused rather than rounded.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise at.error(
            f"{describe(value)} is not a memory size", hint="write e.g. 512m, 1g or 268435456"
        )
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(value.strip())
        if not match:
            raise at.error(
                f"{value!r} is not a memory size",
                hint="write a number with an optional unit b, k, m or g: e.g. 512m, 1g, 256M",
            )
        amount = float(match.group(1)) * _UNITS[match.group(2).lower()]
        if amount != int(amount):
            raise at.error(f"{value!r} is not a whole number of bytes")
        size = int(amount)
    if size <= 0:
        raise at.error("a memory size must be above 0", hint="leave the key out for no limit")
    if size % MIB:
        raise at.error(
            f"{value!r} ({size} bytes) is not a whole number of MiB",
            hint=f"cloudhp sizes memory in MiB: e.g. {max(1, size // MIB)}m",
        )
    return size // MIB


def check_memory(
    at: At, reservation: int | None, limit: int | None, unit: str = "MiB"
) -> tuple[int | None, int | None]:
    """Refuses a reservation above the limit and a limit Docker would refuse."""
    if limit is not None and limit < MIN_LIMIT_MB:
        raise at.error(
            f"memory limit {limit} {unit} is below Docker's minimum of {MIN_LIMIT_MB} MiB"
        )
    if reservation is not None and limit is not None and reservation > limit:
        raise at.error(
            f"memory reservation {reservation} {unit} is above the memory limit {limit} {unit}",
            hint="a reservation is what the task is guaranteed, at most its limit",
        )
    return reservation, limit


def image(at: At, value: Any) -> str:
    if not isinstance(value, str) or not _IMAGE.match(value):
        raise at.error(
            f"{value!r} is not an image reference",
            hint="e.g. nginx:1.25, registry.example.com:5000/team/api:2.1 "
            "(repository names are lower-case)",
        )
    return value


def hosts(at: At, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise at.error(f"must be a list of host names, not {describe(value)}")
    found: list[str] = []
    for index, host in enumerate(value):
        if not isinstance(host, str) or not _HOST.match(host):
            raise at.item(value, index).error(
                f"{host!r} is not a host name",
                hint="lower-case DNS names such as shop.example.com, without a scheme or port",
            )
        if host not in found:
            found.append(host)
    return tuple(found)


def health_path(at: At, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() for c in value):
        raise at.error(
            f"{value!r} is not an HTTP path",
            hint="a path the task answers with 2xx or 3xx, starting with /, e.g. /shop-api/health",
        )
    return value


def alias(at: At, value: str) -> str:
    if not _ALIAS.match(value):
        raise at.error(f"{value!r} is not a network alias (letters, digits, '.', '_', '-')")
    return value


def env_name(at: At, name: Any) -> str:
    if not isinstance(name, str) or not name or "=" in name or any(c.isspace() for c in name):
        raise at.error(
            f"{name!r} is not an environment variable name",
            hint="a non-empty name without '=' or spaces",
        )
    return name


def merge_environment(
    base: list[tuple[str, str]], override: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Later values win in place, so the order stays the order of first mention."""
    merged = dict(base)
    merged.update(override)
    return list(merged.items())
