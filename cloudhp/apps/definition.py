"""One service described the way service platforms describe them, for `cloudhp service`.

A definition names an image, memory in MiB, the container's HTTP port and its
environment as name/value pairs: what users of such platforms already write. It comes
from a JSON or YAML file, from flags, or both (flags win), and every field is checked
with a message naming it and what would be right, before the cluster is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cloudhp.apps import fields
from cloudhp.apps.model import BlockVolume, Service, with_context_root
from cloudhp.apps.source import (
    At,
    check_keys,
    close_matches,
    describe,
    mapping,
    parse_json_or_yaml,
    read_text,
    scalar_text,
    sequence,
)
from cloudhp.apps.volumes import bind_block_volumes, definition_volumes
from cloudhp.errors import UsageError

FIELDS = (
    "name", "container-tag", "memory-reservation", "memory-limit", "container-port",
    "environment", "replicas", "health-path", "hosts", "volumes",
)  # fmt: skip
FLAGS = frozenset(f.replace("-", "_") for f in FIELDS if f not in ("name", "volumes")) | {"env"}

_HINTS = {
    "container-tag": "the image to run, e.g. registry.example.com/team/api:1.4",
    "memory-reservation": "a whole number of MiB the task is guaranteed, e.g. 128",
    "memory-limit": "a whole number of MiB the task may use at most, e.g. 256",
    "container-port": "the port the container serves HTTP on, from 1 to 65535, e.g. 8080",
    "replicas": "a whole number of tasks, 0 or more (default 1)",
}


def _integer(at: At, field: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer; flags may arrive as text from a command line, file values may not."""
    if at.path is None and isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise at.error(f"{describe(value)} is not an integer", hint=_HINTS[field])
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise at.error(f"{value} is out of range: it must be {bounds}", hint=_HINTS[field])
    return value


def _file_environment(at: At, value: Any) -> list[tuple[str, str]]:
    items = sequence(at, value) if value is not None else []
    found: dict[str, str] = {}
    for index, item in enumerate(items):
        where = at.item(items, index)
        entry = mapping(where, item, allow_none=False)
        check_keys(where, entry, ("name", "value"), what="environment key")
        if "name" not in entry or "value" not in entry:
            raise where.error(
                "an environment entry has a name and a value",
                hint='e.g. {"name": "LOG_LEVEL", "value": "info"}',
            )
        name = fields.env_name(where.child(entry, "name"), entry["name"])
        if name in found:
            raise where.child(entry, "name").error(f"{name} is given twice")
        found[name] = scalar_text(where.child(entry, "value"), entry["value"])
    return list(found.items())


def _flag_environment(at: At, value: Any) -> list[tuple[str, str]]:
    items = [value] if isinstance(value, str) else list(value)
    found: list[tuple[str, str]] = []
    for item in items:
        name, eq, text = str(item).partition("=")
        if not eq:
            raise at.error(f"{item!r} has no value", hint="write NAME=VALUE")
        found.append((fields.env_name(at, name), text))
    return found


def _read(path: Path) -> tuple[dict[str, tuple[Any, At]], At]:
    root = At(path, "", 1)
    data = parse_json_or_yaml(path, read_text(path))
    if data is None:
        raise root.error(
            "the definition is empty", hint="it needs container-tag and container-port"
        )
    data = mapping(root, data, allow_none=False)
    check_keys(root, data, FIELDS, what="field")
    return {key: (value, root.child(data, key)) for key, value in data.items()}, root


def load_definition(
    name: str, project: str, path: Path | None, flags: Mapping[str, Any]
) -> Service:
    """Reads a definition from `path` and/or `flags` (`container_tag=...`, `env=[A=B]`).

    Raises:
        UsageError: Naming the first invalid field (file and line when from a file).
    """
    given, root = _read(path) if path is not None else ({}, At(None, "definition"))
    env_flags: list[tuple[str, str]] = []
    for flag, item in flags.items():
        if item is None:
            continue
        option = "--" + flag.replace("_", "-")
        if flag not in FLAGS:
            raise UsageError(f"unknown option {option}{close_matches(flag, FLAGS)}")
        if flag == "env":
            env_flags += _flag_environment(At(None, option), item)
        else:
            given[flag.replace("_", "-")] = (item, At(None, option))

    where = given["name"][1] if "name" in given else At(path, "service name", root.line)
    if "name" in given and given["name"][0] != name:
        raise where.error(f"the definition is for {given['name'][0]!r}, not {name!r}")
    public = fields.public_name(project, name, where)
    for required in ("container-tag", "container-port"):
        if required not in given:
            option = "--" + required
            raise root.error(f"{required} is missing", hint=f"{_HINTS[required]} ({option})")

    def read(field: str, check: Callable[[At, Any], Any], default: Any = None) -> Any:
        return check(given[field][1], given[field][0]) if field in given else default

    def number(low: int, high: int | None = None) -> Callable[[At, Any], int]:
        return lambda at, v: _integer(at, at.key.lstrip("-"), v, low, high)

    tag = read("container-tag", fields.image)
    port = read("container-port", number(1, 65535))
    reservation = read("memory-reservation", number(1))
    limit = read("memory-limit", number(1))
    place = given["memory-reservation"][1] if reservation is not None else root
    fields.check_memory(place, reservation, limit)
    replicas = read("replicas", number(0), 1)
    health = read("health-path", fields.health_path)
    hosts = read("hosts", fields.hosts, ())
    environment: list[tuple[str, str]] = []
    if "environment" in given:
        items, where_env = given["environment"]
        pairs = isinstance(items, list) and all(isinstance(i, dict) for i in items)
        from_file = where_env.path is not None or pairs or items is None
        parse = _file_environment if from_file else _flag_environment
        environment = parse(where_env, items)
    environment = fields.merge_environment(environment, env_flags)
    mounts: list[dict[str, Any]] = []
    blocks: dict[str, BlockVolume] = {}
    uses: list[tuple[str, At]] = []
    if "volumes" in given:
        mounts, blocks, uses = definition_volumes(given["volumes"][1], given["volumes"][0], project)
    service = Service(
        project=project,
        name=name,
        image=tag,
        environment=with_context_root(tuple(environment), True, "/" + public),
        container_port=port,
        hosts=hosts,
        replicas=replicas,
        memory_reservation_mb=reservation,
        memory_limit_mb=limit,
        health_path=health,
        passthrough=(("volumes", mounts),) if mounts else (),
    )
    return bind_block_volumes(service, uses, blocks, root)
