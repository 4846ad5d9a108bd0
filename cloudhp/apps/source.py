"""Reading the user's YAML and JSON so that every error points at a file, line and key.

PyYAML's SafeLoader follows YAML 1.1, where an unquoted `22:22` is the integer 1342,
`no` is False and `2024-01-01` a date. docker compose reads YAML 1.2, where all three
are strings, so the loader here resolves plain scalars with YAML 1.2's core schema:
a file means to cloudhp what it means to docker compose. It also records the line of
every mapping key and list item, and refuses duplicate keys (which PyYAML would
silently overwrite).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cloudhp.errors import UsageError


class MarkedDict(dict[str, Any]):
    """A mapping that remembers where it and each of its keys are (1-based lines)."""

    line: int = 0
    lines: dict[str, int]


class MarkedList(list[Any]):
    """A sequence that remembers the line of each of its items."""

    line: int = 0
    lines: list[int]


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars and line marks."""

    def construct_marked_mapping(self, node: yaml.MappingNode) -> MarkedDict:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base`: keys written here may override merged ones
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                )
            key = str(key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        self.flatten_mapping(node)
        result = MarkedDict()
        result.line = node.start_mark.line + 1
        result.lines = {}
        for key_node, value_node in node.value:
            # Keys are text, as docker compose reads them (`on:` is the key "on").
            key = str(key_node.value)
            result.lines[key] = key_node.start_mark.line + 1
            result[key] = self.construct_object(value_node, deep=True)
        return result

    def construct_marked_sequence(self, node: yaml.SequenceNode) -> MarkedList:
        result = MarkedList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.lines = [child.start_mark.line + 1 for child in node.value]
        return result

    def construct_core_int(self, node: yaml.ScalarNode) -> int:
        text = str(node.value)
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits, 10)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_marked_mapping
)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_marked_sequence
)
_Loader.add_constructor(_INT, _Loader.construct_core_int)


def read_text(path: Path) -> str:
    """The file's text, or an error naming it; a missing file is the user's typo."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it: {exc}") from None


def parse_yaml(path: Path, text: str) -> Any:
    """Parses YAML 1.2-style, with marks; a malformed file names its line."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "cannot be parsed"
        raise UsageError(
            f"{path}{line}: malformed YAML: {problem}",
            hint="check the indentation and quoting around that line",
        ) from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: malformed YAML: {exc}") from None


def parse_json_or_yaml(path: Path, text: str) -> Any:
    """Parses a file that may be either; JSON is recognised by its first character."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            plain = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
        try:
            # The same data with line marks, when the YAML parser reads it (it nearly
            # always does: JSON is YAML 1.2).
            return parse_yaml(path, text)
        except UsageError:
            return plain
    return parse_yaml(path, text)


def close_matches(word: str, choices: Iterable[str]) -> str:
    """' (did you mean ...?)' for a misspelt key, or '' when nothing is close."""
    found = difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(f) for f in found) + "?)"


@dataclass(frozen=True)
class At:
    """Where a value is: file, dotted key and line, for errors that say exactly that."""

    path: Path | None
    key: str
    line: int | None = None

    def child(self, mapping: Any, key: str) -> At:
        line = self.line
        if isinstance(mapping, MarkedDict):
            line = mapping.lines.get(key, mapping.line or line)
        return At(self.path, f"{self.key}.{key}" if self.key else key, line)

    def item(self, sequence: Any, index: int) -> At:
        line = self.line
        if isinstance(sequence, MarkedList) and index < len(sequence.lines):
            line = sequence.lines[index]
        return At(self.path, f"{self.key}[{index}]", line)

    def where(self) -> str:
        place = "" if self.path is None else str(self.path)
        if self.line:
            place += f":{self.line}"
        return ": ".join(part for part in (place, self.key) if part)

    def error(self, message: str, hint: str | None = None) -> UsageError:
        return UsageError(f"{self.where()}: {message}", hint=hint)


def check_keys(at: At, mapping: Any, known: Iterable[str], what: str = "key") -> None:
    """Refuses the first unknown key, naming close matches; x-* extensions are allowed."""
    allowed = set(known)
    for key in mapping:
        if key not in allowed and not key.startswith("x-"):
            raise at.child(mapping, key).error(
                f"unknown {what} {key!r}{close_matches(key, allowed)}",
                hint="known: " + ", ".join(sorted(allowed)),
            )


def mapping(at: At, value: Any, allow_none: bool = True) -> MarkedDict:
    """The value as a mapping (an empty one for `key:` with nothing after it)."""
    if value is None and allow_none:
        empty = MarkedDict()
        empty.line, empty.lines = at.line or 0, {}
        return empty
    if not isinstance(value, dict):
        raise at.error(f"must be a mapping, not {describe(value)}")
    if not isinstance(value, MarkedDict):
        marked = MarkedDict(value)
        marked.line, marked.lines = at.line or 0, {}
        return marked
    return value


def sequence(at: At, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise at.error(f"must be a list, not {describe(value)}")
    return value


def string(at: At, value: Any) -> str:
    if not isinstance(value, str):
        raise at.error(f"must be a string, not {describe(value)}")
    return value


def integer(at: At, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer within bounds; `true` is not 1 here, and "3" is not 3."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise at.error(f"must be an integer, not {describe(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise at.error(f"must be {bounds}, not {value}")
    return value


def scalar_text(at: At, value: Any) -> str:
    """A string, number or boolean as the text a container sees (true -> "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise at.error(f"must be a string or a number, not {describe(value)}")


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def plain(value: Any) -> Any:
    """A deep copy with ordinary dicts and lists, which YAML's dumper and hashing need."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
