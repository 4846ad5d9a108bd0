"""What every resource plugin shares: its property schema, its lifecycle, its context.

A plugin subclasses `Resource`, declares `type_name`, `properties_schema` and
`attributes`, and implements `create` (set `self.physical_id`; poll with
`self.ctx.wait` until the thing is ready), `delete` (gone already is fine) and
`attribute`. It talks to the other services only through `self.ctx.conn`, an
openstacksdk Connection authenticated as the stack owner, so localcloud's Heat
exercises the same public APIs as any client and never reaches into their internals.

`self.data` is the plugin's private state, persisted by the engine in the server-side
store only (never shown by the API): the wait condition handle keeps its signal token
hash and signals there.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.store import Store

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "map": (dict,),
}


@dataclass(frozen=True)
class Prop:
    """One property: its type, whether it is required, its default and allowed values."""

    type: str = "string"
    required: bool = False
    default: Any = None
    allowed: tuple[Any, ...] = ()

    def coerce(self, name: str, value: Any) -> Any:
        """`value` as this type, converting text the way Heat does ("5" -> 5)."""
        if value is None:
            return value
        if (
            self.type == "integer"
            and isinstance(value, str)
            and value.strip().lstrip("-").isdigit()
        ):
            value = int(value)
        elif self.type == "number" and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value) if "." in value else int(value)
        elif self.type == "boolean" and isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "yes", "on", "1"):
                value = True
            elif low in ("false", "no", "off", "0"):
                value = False
        elif (
            self.type == "string" and isinstance(value, int | float) and not isinstance(value, bool)
        ):
            value = str(value)
        expected = _PY_TYPES.get(self.type)
        if expected and (
            not isinstance(value, expected)
            or (self.type in ("integer", "number") and isinstance(value, bool))
        ):
            raise errors.StackValidationFailed(
                f"Property {name}: Value '{value}' is not a valid {self.type}"
            )
        if self.allowed and value not in self.allowed:
            raise errors.StackValidationFailed(
                f'Property {name}: "{value}" is not an allowed value {list(self.allowed)}'
            )
        return value


class StackContext(Protocol):
    """What the engine gives a plugin (see engine.py's `_Run`)."""

    stack: dict[str, Any]
    store: Store

    @property
    def conn(self) -> Any: ...

    def resource_name_for(self, physical_id: Any) -> str | None: ...

    def wait(self, seconds: float, *, cancellable: bool = True) -> None: ...

    def signal_url(self, resource_name: str) -> str: ...

    def encrypt(self, text: str) -> str: ...

    def decrypt(self, token: str) -> str: ...

    def resource_record(self, name: str) -> dict[str, Any] | None: ...

    def physical_name(self, resource_name: str) -> str: ...


def _is_function(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value))
        in {
            "get_param",
            "get_resource",
            "get_attr",
            "str_replace",
            "list_join",
        }
    )


class Resource(ABC):
    """Base class of resource plugins; see the module docstring for the contract."""

    type_name: ClassVar[str] = ""
    properties_schema: ClassVar[dict[str, Prop]] = {}
    attributes: ClassVar[tuple[str, ...]] = ()
    # How often to poll the owning service while waiting for a status.
    poll_interval: ClassVar[float] = 1.0

    def __init__(
        self,
        ctx: StackContext,
        name: str,
        properties: Mapping[str, Any],
        physical_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.properties = dict(properties)
        self.physical_id = physical_id
        self.data: dict[str, Any] = dict(data or {})

    # --- validation (static, from the template) ----------------------------------

    @classmethod
    def validate_properties(cls, name: str, properties: Mapping[str, Any]) -> None:
        """Unknown and missing properties, and literal values of the wrong type.

        Values that are function calls are checked once resolved (`typed_properties`).
        """
        for key in properties:
            if key not in cls.properties_schema:
                raise errors.StackValidationFailed(f"Unknown Property {key}")
        for key, prop in cls.properties_schema.items():
            if prop.required and properties.get(key) is None:
                raise errors.StackValidationFailed(f"Property {key} not assigned")
            value = properties.get(key)
            if value is not None and not _is_function(value) and not _has_function(value):
                prop.coerce(key, value)

    @classmethod
    def typed_properties(cls, resolved: Mapping[str, Any]) -> dict[str, Any]:
        """Resolved properties, type-checked, with defaults filled in."""
        typed: dict[str, Any] = {}
        for key, prop in cls.properties_schema.items():
            value = resolved.get(key)
            if value is None:
                if prop.required:
                    raise errors.StackValidationFailed(f"Property {key} not assigned")
                value = prop.default
            typed[key] = prop.coerce(key, value)
        return typed

    @classmethod
    def has_attribute(cls, attribute: str) -> bool:
        return attribute == "show" or attribute in cls.attributes

    # --- lifecycle --------------------------------------------------------------

    @abstractmethod
    def create(self) -> None:
        """Make the real resource; raise ResourceFailure with Heat's reason."""

    @abstractmethod
    def delete(self) -> None:
        """Remove the real resource; already gone counts as deleted."""

    def attribute(self, name: str) -> Any:
        raise errors.InvalidTemplateAttribute(
            f"The Referenced Attribute ({self.name} {name}) is incorrect."
        )

    def ref_id(self) -> Any:
        """What get_resource returns: the physical id (a name for some types)."""
        return self.physical_id

    def get_attribute(self, name: str) -> Any:
        if not self.has_attribute(name):
            raise errors.InvalidTemplateAttribute(
                f"The Referenced Attribute ({self.name} {name}) is incorrect."
            )
        if self.physical_id is None:
            return None
        return self.attribute(name)


def _has_function(value: Any) -> bool:
    if _is_function(value):
        return True
    if isinstance(value, dict):
        return any(_has_function(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_function(v) for v in value)
    return False


def sdk_failure(resource: str, exc: Exception) -> errors.ResourceFailure:
    """An openstacksdk error as Heat words a client error: "<Type>: resources.<n>: <msg>"."""
    code = getattr(exc, "status_code", None)
    kinds = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        413: "OverLimit",
        503: "ServiceUnavailable",
    }
    kind = kinds.get(code or 0, type(exc).__name__)
    message = getattr(exc, "details", None) or getattr(exc, "message", None) or str(exc)
    return errors.ResourceFailure(str(message), kind=kind)


def is_not_found(exc: Exception) -> bool:
    return getattr(exc, "status_code", None) == 404
