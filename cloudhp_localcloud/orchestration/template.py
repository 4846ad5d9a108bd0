"""HOT templates: loading, the template's structure, and validation before a stack.

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
Parameters are parameters.py's, intrinsic functions functions.py's.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from cloudhp_localcloud import bodies
from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.functions import calls, check_syntax
from cloudhp_localcloud.orchestration.graph import creation_order
from cloudhp_localcloud.orchestration.parameters import Parameter

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


PSEUDO_PARAMETERS = ("OS::stack_name", "OS::stack_id", "OS::project_id")


class TypeInfo(Protocol):
    """What validation needs to know about a resource type (see resources/base.py)."""

    type_name: str

    @classmethod
    def validate_properties(cls, name: str, properties: Mapping[str, Any]) -> None: ...

    @classmethod
    def has_attribute(cls, attribute: str) -> bool: ...


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
        StackValidationFailed: not YAML, not a mapping, or nested too deeply.
    """
    if isinstance(raw, Mapping):
        doc: Any = _dates_to_text(dict(raw))
    else:
        try:
            doc = yaml.load(raw, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise errors.StackValidationFailed(f"Error parsing template: {exc}") from None
        except RecursionError:  # PyYAML recurses several frames per level
            raise _nested_too_deeply() from None
    if bodies.too_deep(doc):
        raise _nested_too_deeply()
    if not isinstance(doc, dict):
        raise errors.StackValidationFailed("The template is not a JSON object or YAML mapping.")
    return doc


def _nested_too_deeply() -> errors.StackValidationFailed:
    return errors.StackValidationFailed(
        f"Error parsing template: it nests objects and lists deeper than "
        f"{bodies.MAX_JSON_DEPTH} levels"
    )


def _dates_to_text(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    return value


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
        creation_order(self)

    def _check(self, value: Any, where: str, types: Callable[[str], TypeInfo | None]) -> None:
        for fn, arg in calls(value):
            check_syntax(fn, arg)
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
