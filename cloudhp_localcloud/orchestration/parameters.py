"""HOT parameters: declarations, typed values, constraints, and how stacks show them.

Pure, like template.py. A `Parameter` is parsed from the template's `parameters:`
section; `coerce` turns a user's value into the declared type and checks the
constraints (length, range, allowed_values, allowed_pattern; custom_constraint is
accepted and not checked), raising Heat's StackValidationFailed in Heat's words.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cloudhp_localcloud.orchestration import errors

PARAMETER_TYPES = frozenset({"string", "number", "json", "comma_delimited_list", "boolean"})


PARAMETER_KEYS = frozenset(
    {"type", "label", "description", "default", "hidden", "constraints", "immutable", "tags"}
)


HIDDEN = "******"


_TRUE = {"true", "yes", "on", "y", "t", "1"}
_FALSE = {"false", "no", "off", "n", "f", "0"}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter; `coerce` turns a user value into its typed form."""

    name: str
    type: str
    default: Any = None
    has_default: bool = False
    hidden: bool = False
    label: str | None = None
    description: str | None = None
    constraints: tuple[dict[str, Any], ...] = ()

    @classmethod
    def parse(cls, name: str, spec: Any) -> Parameter:
        if not isinstance(spec, dict):
            raise errors.StackValidationFailed(f'Parameter "{name}" must be a mapping.')
        unknown = sorted(set(spec) - PARAMETER_KEYS)
        if unknown:
            raise errors.StackValidationFailed(f"Invalid key '{unknown[0]}' for parameter ({name})")
        ptype = spec.get("type")
        if ptype is None:
            raise errors.StackValidationFailed(f"Missing parameter type for parameter: {name}")
        if ptype not in PARAMETER_TYPES:
            raise errors.StackValidationFailed(f"Invalid type ({ptype})")
        constraints = spec.get("constraints") or []
        if not isinstance(constraints, list) or not all(isinstance(c, dict) for c in constraints):
            raise errors.StackValidationFailed(
                f"Invalid parameter constraints for parameter {name}, expected a list"
            )
        param = cls(
            name=name,
            type=ptype,
            default=spec.get("default"),
            has_default="default" in spec,
            hidden=_as_bool(spec.get("hidden", False), f"hidden of parameter {name}"),
            label=spec.get("label"),
            description=spec.get("description"),
            constraints=tuple(constraints),
        )
        if param.has_default and param.default is not None:
            param.coerce(param.default)  # a bad default is the template's error
        return param

    def coerce(self, value: Any) -> Any:
        """`value` as this parameter's type, checked against its constraints.

        Raises:
            StackValidationFailed: wrong type or a violated constraint, in Heat's words.
        """
        try:
            typed = _coerce(self.type, value)
        except ValueError as exc:
            raise errors.StackValidationFailed(
                f"Parameter '{self.name}' is invalid: {exc}"
            ) from None
        for constraint in self.constraints:
            problem = _check_constraint(self.type, typed, constraint)
            if problem:
                message = constraint.get("description") or problem
                raise errors.StackValidationFailed(f"Parameter '{self.name}' is invalid: {message}")
        return typed

    def shown(self, value: Any) -> str:
        """The value as GET /stacks/<id> lists it (Heat shows strings, hides secrets)."""
        if self.hidden:
            return HIDDEN
        if self.type == "json":
            return json.dumps(value)
        if self.type == "comma_delimited_list":
            return ",".join(str(v) for v in value)
        if self.type == "boolean":
            return str(bool(value))
        return str(value)


def _parse_bool(value: Any) -> bool | None:
    """True or False for Heat's spellings of a boolean ("yes", "off", ...), else None."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _as_bool(value: Any, what: str) -> bool:
    parsed = _parse_bool(value)
    if parsed is None:
        raise errors.StackValidationFailed(f"Invalid boolean for {what}: {value}")
    return parsed


def _coerce(ptype: str, value: Any) -> Any:
    if ptype == "string":
        if isinstance(value, dict | list):
            raise ValueError(f"Value must be a string; got {json.dumps(value)}")
        return value if isinstance(value, str) else str(value)
    if ptype == "number":
        if isinstance(value, bool):
            raise ValueError(f"Value '{value}' is not a number")
        if isinstance(value, int | float):
            return value
        text = str(value).strip()
        with contextlib.suppress(ValueError):
            return int(text)
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"Value '{value}' is not a number") from None
    if ptype == "boolean":
        parsed = _parse_bool(value)
        if parsed is None:
            raise ValueError(f'Unrecognized value "{value}", acceptable values are: true, false.')
        return parsed
    if ptype == "comma_delimited_list":
        if isinstance(value, list):
            return [str(v) if not isinstance(v, str) else v for v in value]
        text = str(value)
        return [item.strip() for item in text.split(",")] if text.strip() else []
    # json
    if isinstance(value, dict | list):
        return value
    try:
        loaded = json.loads(str(value))
    except ValueError:
        raise ValueError(f"Value must be valid JSON: {value}") from None
    if not isinstance(loaded, dict | list):
        raise ValueError(f"Value must be a JSON list or map: {value}")
    return loaded


def _check_constraint(ptype: str, value: Any, constraint: dict[str, Any]) -> str | None:
    """Heat's message for the first failed check of `constraint`, or None."""
    if "length" in constraint:
        bounds = constraint["length"] or {}
        size = len(value)
        low, high = bounds.get("min"), bounds.get("max")
        if (low is not None and size < low) or (high is not None and size > high):
            if low is not None and high is not None:
                return f"length must be in the range {low} to {high}."
            if low is not None:
                return f"length must be at least {low}."
            return f"length must be no greater than {high}."
    if "range" in constraint:
        bounds = constraint["range"] or {}
        low, high = bounds.get("min"), bounds.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{value} is out of range (min: {low}, max: {high})"
    if "allowed_values" in constraint:
        allowed = constraint["allowed_values"] or []
        values = value if ptype == "comma_delimited_list" else [value]
        for item in values:
            if item not in allowed and str(item) not in [str(a) for a in allowed]:
                return f'"{item}" is not an allowed value {json.dumps(allowed)}'
    if "allowed_pattern" in constraint:
        pattern = str(constraint["allowed_pattern"])
        if re.fullmatch(pattern, str(value)) is None:
            return f'"{value}" does not match pattern "{pattern}"'
    return None
