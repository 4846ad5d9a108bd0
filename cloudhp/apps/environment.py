"""Environment values, env_file and `$`: what a container is told, exactly as written.

cloudhp does not read the bastion's environment: it differs between users and runs,
and a deployment must mean the same thing whoever runs it. So where docker compose
would interpolate (`${VAR}`, `$VAR`) or take a value from the shell (`- NAME`), the
file is refused with what to write instead, never deployed with the value empty.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cloudhp.apps import fields
from cloudhp.apps.source import At, check_keys, scalar_text, sequence, string

_REFERENCE = re.compile(r"\$(?:\{[^}]*\}?|[A-Za-z_][A-Za-z0-9_]*)?")


def literal(at: At, value: str) -> str:
    """The value with `$$` read as `$`; any other `$` would be interpolated by compose.

    cloudhp does not read the bastion's environment (it would differ between
    users and runs), so a file that relies on interpolation is refused instead of being
    deployed with the variables silently empty.
    """
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "$":
            if value[index + 1 : index + 2] == "$":
                out.append("$")
                index += 2
                continue
            reference = _REFERENCE.match(value, index)
            shown = reference.group(0) if reference else "$"
            raise at.error(
                f"{value!r} uses variable interpolation ({shown}): cloudhp does not read the "
                "bastion's environment and passes values literally",
                hint="write the value itself, and $$ for a literal $",
            )
        out.append(char)
        index += 1
    return "".join(out)


def unescape(at: At, value: Any) -> Any:
    """Applies `literal` to every string value (not keys) in place, with its location."""
    if isinstance(value, str):
        return literal(at, value)
    if isinstance(value, dict):
        for key in list(value):
            value[key] = unescape(at.child(value, key), value[key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = unescape(at.item(value, index), item)
    return value


def pairs(at: At, value: Any) -> list[tuple[str, str]]:
    """`[A=B, ...]` or `{A: B}` as ordered pairs; a name without a value is refused."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for name, item in value.items():
            where = at.child(value, name)
            if item is None:
                raise where.error(
                    f"{name} has no value: cloudhp does not read the bastion's environment",
                    hint=f"give the value in the file: {name}: value",
                )
            found.append((fields.env_name(where, name), scalar_text(where, item)))
        return found
    items = sequence(at, value) if value is not None else []
    for index, item in enumerate(items):
        where = at.item(items, index)
        name, eq, text = string(where, item).partition("=")
        if not eq:
            raise where.error(
                f"{item!r} has no value: cloudhp does not read the bastion's environment",
                hint=f"write {item}=value",
            )
        found.append((fields.env_name(where, name), text))
    return fields.merge_environment([], found)


def _env_file_lines(at: At, path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise at.error(f"cannot read env_file {path}: {exc}") from None
    found: list[tuple[str, str]] = []
    for number, line in enumerate(lines, 1):
        where = At(path, "env_file", number)
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        stripped = stripped.removeprefix("export ").lstrip()
        name, eq, value = stripped.partition("=")
        name = fields.env_name(where, name.strip())
        if not eq:
            raise where.error(
                f"{name} has no value: cloudhp does not read the bastion's environment"
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = literal(where, value[1:-1])
        else:
            value = literal(where, value.split(" #", 1)[0].rstrip())
        found.append((name, value))
    return found


def env_files(at: At, value: Any, base: Path) -> list[tuple[str, str]]:
    items = [value] if isinstance(value, str | dict) else sequence(at, value)
    found: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        where = at.item(items, index) if isinstance(value, list) else at
        required = True
        if isinstance(item, dict):
            check_keys(where, item, ("path", "required", "format"))
            required = item.get("required", True) is not False
            item = item.get("path")
        path = base / string(where, item)
        if not path.is_file():
            if not required:
                continue
            raise where.error(f"env_file {path} does not exist")
        found = fields.merge_environment(found, _env_file_lines(where, path))
    return found
