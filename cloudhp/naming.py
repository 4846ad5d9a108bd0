"""Naming rules for clusters, services and the OpenStack resources cloudhp creates.

Names end up in many places with their own limits: OpenStack resource names, Nova
server tags (60 characters), hostnames, Docker service and network names and URL
paths (`/<project>-<service>`). One strict rule set that fits all of them is easier
to explain than per-place escaping, and it is the rule users of similar platforms
already know (DESIGN.md, "Service definitions").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from cloudhp.errors import UsageError

MAX_NAME_LENGTH = 32
"""Longest cluster name, and longest `<project>-<service>` name."""

TAG_KEY = "cloudhp-cluster"
"""Every resource cloudhp creates carries `cloudhp-cluster=<name>`; teardown finds it so."""

_ALLOWED = re.compile(r"[a-z0-9-]")
_VALID = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_KIND = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_RULES = "begins with a lower-case letter, contains only a-z, 0-9 and '-', ends with a "


def _rule_failures(name: str) -> list[str]:
    """Lists every character rule `name` breaks, so one error fixes them all at once."""
    if not name:
        return ["it is empty"]
    failures = []
    if not ("a" <= name[0] <= "z"):
        failures.append(f"it must begin with a lower-case letter (a-z), not {name[0]!r}")
    bad = sorted({c for c in name if not _ALLOWED.fullmatch(c)})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        failures.append(f"it may contain only a-z, 0-9 and '-', not {shown}")
    if not re.fullmatch(r"[a-z0-9]", name[-1]):
        failures.append(f"it must end with a lower-case letter or a digit, not {name[-1]!r}")
    return failures


def _slug(text: str, max_length: int) -> str:
    """Derives the closest valid name from arbitrary text, or '' if nothing survives."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower())
    slug = re.sub(r"^[^a-z]+", "", slug)
    return slug[:max_length].rstrip("-")


def _example(name: str, max_length: int, fallback: str) -> str:
    suggestion = _slug(name, max_length)
    return suggestion if suggestion and suggestion != name else fallback


def validate_cluster_name(name: str) -> str:
    """Checks a cluster name against the naming rules.

    The cluster name prefixes every resource name and tag, so it is checked once,
    before anything is created, rather than failing half-way in some API.

    Args:
        name: The proposed cluster name.

    Returns:
        The name, unchanged, so callers can validate and assign in one expression.

    Raises:
        UsageError: Naming each rule the name breaks, with a valid example.
    """
    failures = _rule_failures(name)
    if len(name) > MAX_NAME_LENGTH:
        failures.append(f"it is {len(name)} characters long, at most {MAX_NAME_LENGTH} allowed")
    if failures:
        example = _example(name, MAX_NAME_LENGTH, "my-cluster")
        raise UsageError(
            f"invalid cluster name {name!r}: " + "; ".join(failures),
            hint=f"a cluster name {_RULES}letter or digit and has at most "
            f"{MAX_NAME_LENGTH} characters, for example {example!r}",
        )
    return name


def validate_service_name(project: str, name: str) -> str:
    """Checks a service name, including the length of its `<project>-` prefixed form.

    The limit applies to the prefixed name because that is what becomes the Docker
    service name and the URL path `/<project>-<name>`.

    Args:
        project: The project (cluster) the service belongs to; must itself be valid.
        name: The service name without the prefix.

    Returns:
        The full name `<project>-<name>`.

    Raises:
        UsageError: Naming each rule the name breaks, with a valid example.
    """
    validate_cluster_name(project)
    room = MAX_NAME_LENGTH - len(project) - 1
    if room < 1:
        raise UsageError(
            f"project name {project!r} is {len(project)} characters long and leaves no room "
            f"for a service name within {MAX_NAME_LENGTH} characters",
            hint=f"use a project (cluster) name of at most {MAX_NAME_LENGTH - 2} characters",
        )
    failures = _rule_failures(name)
    full = f"{project}-{name}"
    if len(full) > MAX_NAME_LENGTH:
        failures.append(
            f"{full!r} is {len(full)} characters long, at most {MAX_NAME_LENGTH} allowed "
            f"including the prefix {project + '-'!r}"
        )
    if failures:
        example = _example(name, room, "web"[:room])
        raise UsageError(
            f"invalid service name {name!r}: " + "; ".join(failures),
            hint=f"a service name {_RULES}letter or digit, and has at most {room} "
            f"characters in project {project!r}, for example {example!r}",
        )
    return full


def default_cluster_name(project_name: str) -> str:
    """Derives a valid cluster name from an OpenStack project name.

    Project names are free text ("Project 3", "ÉTÉ_2024"); users expect the cluster
    to be named after their project without having to invent a name.

    Args:
        project_name: Any string.

    Returns:
        A valid cluster name; "cloudhp" when nothing usable is left.
    """
    return _slug(project_name, MAX_NAME_LENGTH) or "cloudhp"


def resource_name(cluster: str, kind: str, index: int | None = None) -> str:
    """Builds the name of an OpenStack resource, so every module names things alike.

    Idempotent steps find existing resources by these names, so they must never be
    spelled by hand elsewhere.

    Args:
        cluster: A valid cluster name.
        kind: What the resource is: "manager", "worker", "sg-swarm", "key", ...
        index: 1-based number for resources that come in several (nodes).

    Returns:
        `<cluster>-<kind>` or `<cluster>-<kind>-<index>`.

    Raises:
        UsageError: If the cluster name is invalid.
        ValueError: If kind or index is malformed (a programming error).
    """
    validate_cluster_name(cluster)
    if not _KIND.fullmatch(kind):
        raise ValueError(f"resource kind {kind!r} must match {_KIND.pattern}")
    if index is None:
        return f"{cluster}-{kind}"
    if isinstance(index, bool) or not isinstance(index, int) or index < 1:
        raise ValueError(f"resource index must be an int >= 1, not {index!r}")
    return f"{cluster}-{kind}-{index}"


def cluster_tag(name: str) -> str:
    """The tag that marks a resource as belonging to cluster `name`."""
    return f"{TAG_KEY}={validate_cluster_name(name)}"


def tag_list(tags: str | Iterable[str] | None) -> list[str]:
    """Tags as a list, also when given as the comma-separated string Heat's API takes
    (and some releases return), so that one membership test fits every service."""
    if isinstance(tags, str):
        return [t.strip() for t in tags.split(",") if t.strip()]
    return list(tags or [])


def parse_cluster_tag(tag: str) -> str | None:
    """The cluster a tag names, or None if it is not a cloudhp tag (teardown's filter)."""
    key, sep, value = tag.partition("=")
    if key != TAG_KEY or not sep or not _VALID.fullmatch(value):
        return None
    return value


def is_cluster_volume(metadata: dict[str, str] | None, cluster: str) -> bool:
    """Cinder has no tags: a volume is the cluster's by its metadata key."""
    return (metadata or {}).get(TAG_KEY) == cluster
