"""The cluster spec: what `cloudhp init` is asked to build.

Values come from a YAML file and from command-line flags; flags win so that one
file can serve several runs (`--workers 5` for a bigger run). Everything is checked
here, before any OpenStack call, so that a typo never leaves half a cluster behind.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from cloudhp.errors import NotFoundError, UsageError
from cloudhp.naming import validate_cluster_name

MANAGER_COUNTS = (1, 3, 5, 7)
MAX_WORKERS = 50
_NETWORK_NAME = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_SSH_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class OverlayNetwork:
    """A Swarm overlay network; `encrypted` turns on IPsec between nodes (costs CPU)."""

    name: str
    encrypted: bool = False


DEFAULT_OVERLAYS = (OverlayNetwork("proxy"), OverlayNetwork("apps"))


@dataclass(frozen=True)
class ClusterSpec:
    """A validated cluster description; build it with `build_spec`, which checks it.

    `network` and `external_network` None mean "the only one there is", resolved by
    preflight against the cloud, because most projects have exactly one of each.
    """

    name: str
    managers: int = 1
    workers: int = 0
    flavor: str = "m1.small"
    image: str = "debian-12"
    network: str | None = None
    external_network: str | None = None
    ssh_user: str = "debian"
    overlay_networks: tuple[OverlayNetwork, ...] = field(default=DEFAULT_OVERLAYS)
    ingress_nodes: int = 1

    @property
    def node_count(self) -> int:
        return self.managers + self.workers


FIELDS = tuple(f.name for f in fields(ClusterSpec))
_ALIASES = {name.replace("_", "-"): name for name in FIELDS if "_" in name}
_OVERLAY_KEYS = ("name", "encrypted")


class SpecValues(dict[str, Any]):
    """The values of a spec file, plus where each came from, for precise error messages."""

    def __init__(self, values: Mapping[str, Any], source: str, lines: Mapping[str, int]) -> None:
        super().__init__(values)
        self.source = source
        self.lines = dict(lines)

    def where(self, key: str) -> str:
        line = self.lines.get(key)
        return f"{self.source} line {line}" if line else self.source


def _unknown_key_error(key: str, allowed: tuple[str, ...], where: str, what: str) -> UsageError:
    close = difflib.get_close_matches(key, allowed, n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return UsageError(
        f"{where}: unknown {what} {key!r}{guess}",
        hint=f"allowed {what}s: " + ", ".join(allowed),
    )


def load_spec(path: Path | str) -> SpecValues:
    """Reads a cluster spec file without interpreting its values yet.

    Only the shape is checked here (YAML syntax, a mapping at the top, known keys, no
    duplicates), because PyYAML silently keeps the last of duplicate keys and ignores
    nothing, which would turn typos into silently ignored settings.

    Args:
        path: The YAML file.

    Returns:
        The values by field name (hyphenated keys normalised to underscores), with
        their line numbers for later messages.

    Raises:
        NotFoundError: If the file does not exist.
        UsageError: For unreadable files, malformed YAML (with line and column),
            a non-mapping document, duplicate or unknown keys.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"spec file {str(path)!r} does not exist",
            hint="give the path of a YAML file, or leave --spec out to use flags only",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read spec file {str(path)!r}: {exc}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path} line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise UsageError(
            f"{where}: malformed YAML: {problem}",
            hint="a spec file is a YAML mapping such as 'workers: 3'",
        ) from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: malformed YAML: {exc}") from None
    finally:
        loader.dispose()
    if data is None:
        return SpecValues({}, str(path), {})
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise UsageError(
            f"{path}: the spec must be a YAML mapping of settings, not a {type(data).__name__}",
            hint="for example:\n  name: demo\n  managers: 3\n  workers: 2",
        )
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, _value_node in node.value:
        line = key_node.start_mark.line + 1
        raw_key = key_node.value
        key = _ALIASES.get(raw_key, raw_key)
        if key not in FIELDS:
            raise _unknown_key_error(str(raw_key), FIELDS, f"{path} line {line}", "setting")
        if key in lines:
            raise UsageError(
                f"{path} line {line}: {raw_key!r} is set twice (first on line {lines[key]})",
                hint="keep one of them",
            )
        lines[key] = line
        values[key] = data[raw_key]
    return SpecValues(values, str(path), lines)


def _bad(name: str, value: Any, allowed: str, where: str) -> UsageError:
    return UsageError(
        f"{name}: invalid value {value!r} ({where})", hint=f"{name} must be {allowed}"
    )


def _int(name: str, value: Any, where: str) -> int:
    # bool is an int in Python; 'managers: yes' must not become 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, value, f"an integer, not {type(value).__name__}", where)
    return value


def _str(name: str, value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, value, "a non-empty string", where)
    return value


def _overlays(value: Any, where: str) -> tuple[OverlayNetwork, ...]:
    if not isinstance(value, list | tuple):
        raise _bad("overlay_networks", value, "a list of {name, encrypted} entries", where)
    result: list[OverlayNetwork] = []
    for i, item in enumerate(value):
        label = f"overlay_networks[{i}]"
        if isinstance(item, OverlayNetwork):
            item = {"name": item.name, "encrypted": item.encrypted}
        elif isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise _bad(label, item, "a network name or a mapping {name, encrypted}", where)
        for key in item:
            if key not in _OVERLAY_KEYS:
                raise _unknown_key_error(str(key), _OVERLAY_KEYS, f"{where}: {label}", "key")
        name = item.get("name")
        if not isinstance(name, str) or not _NETWORK_NAME.fullmatch(name):
            raise _bad(
                f"{label}.name",
                name,
                "a lower-case name of a-z, 0-9 and '-' starting with a letter, e.g. 'apps'",
                where,
            )
        encrypted = item.get("encrypted", False)
        if not isinstance(encrypted, bool):
            raise _bad(f"{label}.encrypted", encrypted, "true or false", where)
        if any(o.name == name for o in result):
            raise _bad(label, name, "a name not used by another overlay network", where)
        result.append(OverlayNetwork(name, encrypted))
    return tuple(result)


def _check_managers(managers: int, where: str) -> None:
    if managers in MANAGER_COUNTS:
        return
    if managers < 1:
        why = "a cluster needs at least one manager"
    elif managers % 2 == 0:
        why = (
            "Raft needs a majority of managers to agree, so an even count adds no fault "
            f"tolerance: {managers} managers survive {(managers - 1) // 2} failure(s), "
            f"like {managers - 1}"
        )
    else:
        why = "more than 7 managers slow down Raft consensus without a real gain in safety"
    raise UsageError(
        f"managers: invalid value {managers} ({where}): {why}",
        hint="managers must be 1, 3, 5 or 7",
    )


def build_spec(
    file_values: Mapping[str, Any],
    flag_values: Mapping[str, Any],
    default_name: str | None = None,
) -> ClusterSpec:
    """Merges file values and flags into a validated ClusterSpec.

    Flags override the file; a flag whose value is None was not given (click's
    default), so it never hides a value from the file.

    Args:
        file_values: From `load_spec`, or {} when there is no file.
        flag_values: Flag values by field name; None means "not given".
        default_name: Used when neither gives a name (the CLI passes one derived
            from the OpenStack project name).

    Returns:
        The validated spec.

    Raises:
        UsageError: Naming the field, the bad value, where it came from and what is
            allowed.
        TypeError: If flag_values has a key that is not a field (a programming error).
    """
    for key in flag_values:
        if key not in FIELDS:
            raise TypeError(f"unknown ClusterSpec flag {key!r}")
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in file_values.items():
        merged[key] = value
        place = file_values.where(key) if isinstance(file_values, SpecValues) else "spec file"
        origin[key] = f"from {place}"
    for key, value in flag_values.items():
        if value is not None:
            merged[key] = value
            origin[key] = f"from --{key.replace('_', '-')}"
    if "name" not in merged or merged["name"] is None:
        if default_name is None:
            raise UsageError(
                "the cluster has no name",
                hint="give --name or 'name:' in the spec file, e.g. 'demo'",
            )
        merged["name"] = default_name
        origin["name"] = "derived from the project name"

    def where(key: str) -> str:
        return origin.get(key, "default")

    kwargs: dict[str, Any] = {}
    for key in ("name", "flavor", "image", "ssh_user"):
        if key in merged:
            kwargs[key] = _str(key, merged[key], where(key))
    for key in ("network", "external_network"):
        if merged.get(key) is not None:
            kwargs[key] = _str(key, merged[key], where(key))
    for key in ("managers", "workers", "ingress_nodes"):
        if key in merged:
            kwargs[key] = _int(key, merged[key], where(key))
    if "overlay_networks" in merged:
        kwargs["overlay_networks"] = _overlays(
            merged["overlay_networks"], where("overlay_networks")
        )

    try:
        validate_cluster_name(kwargs["name"])
    except UsageError as exc:
        raise UsageError(f"name: {exc.message} ({where('name')})", hint=exc.hint) from None
    spec = ClusterSpec(**kwargs)
    _check_managers(spec.managers, where("managers"))
    if not 0 <= spec.workers <= MAX_WORKERS:
        raise _bad("workers", spec.workers, f"between 0 and {MAX_WORKERS}", where("workers"))
    if not 1 <= spec.ingress_nodes <= spec.node_count:
        raise _bad(
            "ingress_nodes",
            spec.ingress_nodes,
            f"between 1 and the number of nodes ({spec.node_count} = "
            f"{spec.managers} managers + {spec.workers} workers)",
            where("ingress_nodes"),
        )
    if not _SSH_USER.fullmatch(spec.ssh_user):
        raise _bad(
            "ssh_user",
            spec.ssh_user,
            "a Unix user name (a-z, 0-9, '_' and '-', starting with a letter or '_')",
            where("ssh_user"),
        )
    return spec
