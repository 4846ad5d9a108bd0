"""HOT templates: parsing, parameter validation and the intrinsic functions.

This module is pure (no store, no HTTP) so that everything a user can get wrong in a
template is checked up front, fast, and in unit tests: the API's POST /validate and
POST /stacks both call `Template.validate` and `Template.resolve_parameters` before
anything is created, and answer 400 with Heat's exception name and wording.

Supported: sections heat_template_version, description, parameter_groups,
parameters, resources, outputs (conditions are not); parameter types string, number,
json, comma_delimited_list, boolean with the constraints length, range,
allowed_values, allowed_pattern (custom_constraint is accepted and not checked, so
a wrong flavor name fails at create like with a constraint-less template); the
intrinsic functions get_param, get_resource, get_attr, str_replace, list_join.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from cloudhp.localcloud.heat import errors

# Every version a current Heat accepts, by date and by release name.
VERSIONS = frozenset(
    {
        "2013-05-23",
        "2014-10-16",
        "2015-04-30",
        "2015-10-15",
        "2016-04-08",
        "2016-10-14",
        "2017-02-24",
        "2017-09-01",
        "2018-03-02",
        "2018-08-31",
        "2021-04-16",
        "newton",
        "ocata",
        "pike",
        "queens",
        "rocky",
        "wallaby",
    }
)
SECTIONS = frozenset(
    {
        "heat_template_version",
        "description",
        "parameter_groups",
        "parameters",
        "resources",
        "outputs",
        "conditions",
    }
)
RESOURCE_KEYS = frozenset(
    {
        "type",
        "properties",
        "metadata",
        "depends_on",
        "update_policy",
        "deletion_policy",
        "condition",
        "external_id",
    }
)
PARAMETER_TYPES = frozenset({"string", "number", "json", "comma_delimited_list", "boolean"})
PARAMETER_KEYS = frozenset(
    {"type", "label", "description", "default", "hidden", "constraints", "immutable", "tags"}
)
PSEUDO_PARAMETERS = ("OS::stack_name", "OS::stack_id", "OS::project_id")
FUNCTIONS = ("get_param", "get_resource", "get_attr", "str_replace", "list_join")
HIDDEN = "******"

_TRUE = {"true", "yes", "on", "y", "t", "1"}
_FALSE = {"false", "no", "off", "n", "f", "0"}


class TypeInfo(Protocol):
    """What validation needs to know about a resource type (see resources/base.py)."""

    type_name: str

    @classmethod
    def validate_properties(cls, name: str, properties: Mapping[str, Any]) -> None: ...

    @classmethod
    def has_attribute(cls, attribute: str) -> bool: ...


class Resolver(Protocol):
    """What intrinsic functions ask of the running stack."""

    def param(self, name: str) -> Any: ...

    def resource_ref(self, name: str) -> Any: ...

    def resource_attr(self, name: str, attribute: str) -> Any: ...


# --- loading --------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, as Heat does ("2018-08-31" is a version)."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def load(raw: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """A template document from the API's `template` field (a mapping or YAML/JSON text).

    Raises:
        StackValidationFailed: not YAML, or not a mapping.
    """
    if isinstance(raw, Mapping):
        doc: Any = _dates_to_text(dict(raw))
    else:
        try:
            doc = yaml.load(raw, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise errors.StackValidationFailed(f"Error parsing template: {exc}") from None
    if not isinstance(doc, dict):
        raise errors.StackValidationFailed("The template is not a JSON object or YAML mapping.")
    return doc


def _dates_to_text(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    return value


# --- parameters -----------------------------------------------------------------------


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


def _as_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise errors.StackValidationFailed(f"Invalid boolean for {what}: {value}")


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
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"Value '{value}' is not a number") from None
    if ptype == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f'Unrecognized value "{value}", acceptable values are: true, false.')
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


# --- the template ---------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceDefn:
    """One entry of `resources:` as written (properties still hold intrinsic calls)."""

    name: str
    type: str
    properties: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    deletion_policy: str = "Delete"


@dataclass(frozen=True)
class OutputDefn:
    name: str
    value: Any
    description: str | None = None


@dataclass(frozen=True)
class Template:
    """A parsed HOT template. Build it with `Template.parse`, then `validate` it."""

    version: str
    description: str
    parameters: dict[str, Parameter]
    resources: dict[str, ResourceDefn]
    outputs: dict[str, OutputDefn]
    parameter_groups: tuple[Any, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, raw: str | bytes | Mapping[str, Any]) -> Template:
        """Structure only: sections, parameter specs and resource definitions.

        Raises:
            HeatError: with Heat's exception name (InvalidTemplateVersion, ...).
        """
        doc = load(raw)
        version = doc.get("heat_template_version")
        if version is None:
            raise errors.InvalidTemplateVersion(
                "Template format version not found.", kind="InvalidTemplateVersion"
            )
        if str(version) not in VERSIONS:
            raise errors.InvalidTemplateVersion(
                f'"heat_template_version: {version}". "heat_template_version" should be one '
                f"of: {', '.join(sorted(VERSIONS))}"
            )
        for key in doc:
            if key not in SECTIONS:
                raise errors.StackValidationFailed(f"The template section is invalid: {key}")
        if doc.get("conditions"):
            raise errors.StackValidationFailed(
                "The template section conditions is not supported by localcloud."
            )
        params_doc = doc.get("parameters") or {}
        resources_doc = doc.get("resources") or {}
        outputs_doc = doc.get("outputs") or {}
        for section, value in (
            ("parameters", params_doc),
            ("resources", resources_doc),
            ("outputs", outputs_doc),
        ):
            if not isinstance(value, dict):
                raise errors.StackValidationFailed(
                    f'Each "{section}" must be a mapping, not {type(value).__name__}'
                )
        parameters = {name: Parameter.parse(str(name), spec) for name, spec in params_doc.items()}
        resources = {
            str(name): _parse_resource(str(name), spec) for name, spec in resources_doc.items()
        }
        outputs = {}
        for name, spec in outputs_doc.items():
            if not isinstance(spec, dict) or "value" not in spec:
                raise errors.StackValidationFailed(
                    f'Each output definition must contain a value key. Output "{name}" has none.'
                )
            outputs[str(name)] = OutputDefn(str(name), spec["value"], spec.get("description"))
        description = doc.get("description") or ""
        return cls(
            version=str(version),
            description=str(description),
            parameters=parameters,
            resources=resources,
            outputs=outputs,
            parameter_groups=tuple(doc.get("parameter_groups") or ()),
            raw=doc,
        )

    def validate(self, types: Callable[[str], TypeInfo | None]) -> None:
        """Every type known, every reference and function call well formed.

        `types` maps a resource type name to its class (None when unknown), so this
        module needs no import of the resource plugins.

        Raises:
            HeatError: the first problem found, worded like Heat.
        """
        for defn in self.resources.values():
            info = types(defn.type)
            if info is None:
                raise errors.StackValidationFailed(
                    f"Failed to validate: The Resource Type ({defn.type}) could not be found."
                )
            for dep in defn.depends_on:
                if dep not in self.resources:
                    raise errors.InvalidTemplateReference(
                        f'The specified reference "{dep}" (in {defn.name}) is incorrect.'
                    )
            self._check(defn.properties, f"{defn.name}.Properties", types)
            self._check(defn.metadata, f"{defn.name}.Metadata", types)
            try:
                info.validate_properties(defn.name, defn.properties)
            except errors.HeatError as exc:
                raise errors.StackValidationFailed(
                    f"Property error: resources.{defn.name}.properties: {exc.message}"
                ) from None
        for output in self.outputs.values():
            self._check(output.value, f"Outputs.{output.name}", types)
        # Import here: graph.py imports this module for `references`.
        from cloudhp.localcloud.heat.graph import creation_order

        creation_order(self)

    def _check(self, value: Any, where: str, types: Callable[[str], TypeInfo | None]) -> None:
        for fn, arg in _calls(value):
            _check_syntax(fn, arg)
            if fn == "get_param":
                name = arg if isinstance(arg, str) else arg[0]
                if (
                    isinstance(name, str)
                    and name not in self.parameters
                    and name not in PSEUDO_PARAMETERS
                ):
                    raise errors.StackValidationFailed(
                        f"The Parameter ({name}) was not defined in template."
                    )
            elif fn in ("get_resource", "get_attr"):
                target = arg if fn == "get_resource" else arg[0]
                if not isinstance(target, str):
                    continue
                if target not in self.resources:
                    raise errors.InvalidTemplateReference(
                        f'The specified reference "{target}" (in {where}) is incorrect.'
                    )
                if fn == "get_attr" and isinstance(arg[1], str):
                    info = types(self.resources[target].type)
                    if info is not None and not info.has_attribute(arg[1]):
                        raise errors.InvalidTemplateAttribute(
                            f"The Referenced Attribute ({target} {arg[1]}) is incorrect."
                        )

    def resolve_parameters(
        self, given: Mapping[str, Any], *, strict: bool = True
    ) -> dict[str, Any]:
        """Typed values of every declared parameter: the user's, else the default.

        Raises:
            UserParameterMissing: a parameter without default was not given.
            UnknownUserParameter: `strict` and a given name is not declared.
            StackValidationFailed: wrong type or a constraint failed.
        """
        if strict:
            for name in given:
                if name not in self.parameters:
                    raise errors.UnknownUserParameter(
                        f"The Parameter ({name}) was not defined in template."
                    )
        values: dict[str, Any] = {}
        for name, param in self.parameters.items():
            if name in given and given[name] is not None:
                values[name] = param.coerce(given[name])
            elif param.has_default and param.default is not None:
                values[name] = param.coerce(param.default)
            else:
                raise errors.UserParameterMissing(f"The Parameter ({name}) was not provided.")
        return values


def _parse_resource(name: str, spec: Any) -> ResourceDefn:
    if not isinstance(spec, dict):
        raise errors.StackValidationFailed(f"Resource {name} must be a mapping.")
    for key in spec:
        if key not in RESOURCE_KEYS:
            raise errors.StackValidationFailed(
                f'"{key}" is not a valid keyword inside a resource definition'
            )
    rtype = spec.get("type")
    if not isinstance(rtype, str) or not rtype:
        raise errors.StackValidationFailed(f'Resource {name} is missing "type"')
    if spec.get("condition") is not None:
        raise errors.StackValidationFailed(
            f"Resource {name}: conditions are not supported by localcloud."
        )
    props = spec.get("properties") or {}
    if not isinstance(props, dict):
        raise errors.StackValidationFailed(f'"properties" of resource {name} must be a mapping')
    metadata = spec.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise errors.StackValidationFailed(f'"metadata" of resource {name} must be a mapping')
    deps = spec.get("depends_on") or []
    if isinstance(deps, str):
        deps = [deps]
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise errors.StackValidationFailed(
            f'Resource {name} "depends_on" must be a string or a list of strings'
        )
    policy = spec.get("deletion_policy") or "Delete"
    if policy not in ("Delete", "Retain", "Snapshot"):
        raise errors.StackValidationFailed(
            f'Invalid deletion policy "{policy}" for resource {name}'
        )
    return ResourceDefn(
        name=name,
        type=rtype,
        properties=props,
        metadata=metadata,
        depends_on=tuple(deps),
        deletion_policy=policy,
    )


# --- intrinsic functions --------------------------------------------------------------


def _calls(value: Any) -> Iterator[tuple[str, Any]]:
    """Every intrinsic call in `value`, outermost first (arguments are searched too)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in FUNCTIONS:
                yield key, arg
                yield from _calls(arg)
                return
        for item in value.values():
            yield from _calls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _calls(item)


def _check_syntax(fn: str, arg: Any) -> None:
    """Heat's argument checks for each function, so a typo fails at validate time."""
    if fn == "get_param":
        if not (isinstance(arg, str) or (isinstance(arg, list) and arg)):
            raise errors.StackValidationFailed(
                'Function "get_param" must have arguments: a parameter name or a '
                "list [name, path...]"
            )
    elif fn == "get_resource":
        if not isinstance(arg, str):
            raise errors.StackValidationFailed('Argument to "get_resource" must be a string')
    elif fn == "get_attr":
        if not isinstance(arg, list) or len(arg) < 2:
            raise errors.StackValidationFailed(
                'Arguments to "get_attr" must be of the form '
                "[resource_name, attribute, (path), ...]"
            )
    elif fn == "str_replace":
        if not isinstance(arg, dict) or "template" not in arg or "params" not in arg:
            raise errors.StackValidationFailed(
                '"str_replace" syntax should be str_replace:\n  template: <string>\n  '
                "params: <dict>"
            )
        if set(arg) - {"template", "params"}:
            raise errors.StackValidationFailed(
                f'"str_replace" takes only "template" and "params", got {sorted(arg)}'
            )
        if not isinstance(arg["params"], dict):
            raise errors.StackValidationFailed('"str_replace" params must be a map')
    elif fn == "list_join" and (
        not isinstance(arg, list) or len(arg) < 2 or not isinstance(arg[0], str)
    ):
        raise errors.StackValidationFailed(
            'Incorrect arguments to "list_join" should be: list_join:\n- <delim>\n- <list>'
        )


def references(value: Any) -> set[str]:
    """Names of resources `value` refers to with get_resource or get_attr."""
    found: set[str] = set()
    for fn, arg in _calls(value):
        if fn == "get_resource" and isinstance(arg, str):
            found.add(arg)
        elif fn == "get_attr" and isinstance(arg, list) and arg and isinstance(arg[0], str):
            found.add(arg[0])
    return found


def resolve(value: Any, ctx: Resolver) -> Any:
    """`value` with every intrinsic call replaced by its result, innermost first."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in FUNCTIONS:
                _check_syntax(key, arg)
                return _IMPLS[key](arg, ctx)
        return {k: resolve(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    return value


def _walk_path(value: Any, path: list[Any], what: str) -> Any:
    for step in path:
        if isinstance(value, dict):
            if step not in value:
                raise errors.StackValidationFailed(f'"{step}" not found in {what}')
            value = value[step]
        elif isinstance(value, list):
            try:
                value = value[int(step)]
            except (ValueError, IndexError):
                raise errors.StackValidationFailed(
                    f'"{step}" is not a valid index in {what}'
                ) from None
        else:
            raise errors.StackValidationFailed(f'"{step}" cannot be looked up in {what}')
    return value


def _get_param(arg: Any, ctx: Resolver) -> Any:
    args = resolve(arg, ctx)
    if isinstance(args, str):
        return ctx.param(args)
    name, *path = args
    return _walk_path(ctx.param(name), path, f"parameter {name}")


def _get_resource(arg: Any, ctx: Resolver) -> Any:
    return ctx.resource_ref(resolve(arg, ctx))


def _get_attr(arg: Any, ctx: Resolver) -> Any:
    name, attribute, *path = resolve(arg, ctx)
    return _walk_path(ctx.resource_attr(name, attribute), path, f"{name}.{attribute}")


def _text(value: Any) -> str:
    """How Heat puts a non-string into a string: JSON for containers, '' for null."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _str_replace(arg: Any, ctx: Resolver) -> str:
    text = resolve(arg["template"], ctx)
    params = resolve(arg["params"], ctx)
    if not isinstance(text, str):
        raise errors.StackValidationFailed('"str_replace" template must be a string')
    if not isinstance(params, dict):
        raise errors.StackValidationFailed('"str_replace" params must be a map')
    # Longest keys first, one pass: "$host_name" is not mangled by "$host" (as Heat).
    keys = sorted((str(k) for k in params), key=len, reverse=True)
    if not keys:
        return text
    values = {str(k): _text(v) for k, v in params.items()}
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    return pattern.sub(lambda m: values[m.group(0)], text)


def _list_join(arg: Any, ctx: Resolver) -> str:
    delim, *lists = resolve(arg, ctx)
    items: list[str] = []
    for part in lists:
        if isinstance(part, str):
            try:
                part = json.loads(part)
            except ValueError:
                raise errors.StackValidationFailed(
                    f'"list_join" arguments must be lists, got "{part}"'
                ) from None
        if not isinstance(part, list):
            raise errors.StackValidationFailed('"list_join" arguments must be lists')
        items.extend(_text(item) for item in part)
    return str(delim).join(items)


_IMPLS: dict[str, Callable[[Any, Resolver], Any]] = {
    "get_param": _get_param,
    "get_resource": _get_resource,
    "get_attr": _get_attr,
    "str_replace": _str_replace,
    "list_join": _list_join,
}
