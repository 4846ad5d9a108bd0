"""Heat's template-validate and stacks: create, list, look up, show, delete, outputs.

Create checks everything a user can get wrong in the template and parameters first
(400 with Heat's exception name), stores the stack IN_PROGRESS with a credential
for the engine to act as its owner, and leaves the resources to the engine's
background run. Lookups by name answer 302 to the canonical /stacks/<name>/<id>.

Signal base URL: where a server container reaches localcloud. It is fixed per stack
at create, from the first of `LocalCloudConfig.signal_base_url` (when the config has
that field), the app config key HEAT_SIGNAL_BASE_URL, the environment variable
CLOUDHP_LOCALCLOUD_SIGNAL_URL, and the URL the request came to.
"""

from __future__ import annotations

import os
import re
from typing import Any

from flask import Response, current_app, g, jsonify, request
from werkzeug.wrappers import Response as WerkzeugResponse

from cloudhp_localcloud import auth, bodies, faults
from cloudhp_localcloud.config import current_config
from cloudhp_localcloud.orchestration import credentials, errors
from cloudhp_localcloud.orchestration.api_common import (
    bp,
    check_alive,
    check_project,
    engine,
    find_stack,
    get_stack,
    invalid,
    redirect_to_stack,
    stack_url,
)
from cloudhp_localcloud.orchestration.records import STACK, insert_resources
from cloudhp_localcloud.orchestration.resources import lookup
from cloudhp_localcloud.orchestration.template import Template
from cloudhp_localcloud.store import Record, current_store, utcnow

STACK_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_.-]{0,254}")

_PARAM_TYPES = {
    "string": "String",
    "number": "Number",
    "json": "Json",
    "comma_delimited_list": "CommaDelimitedList",
    "boolean": "Boolean",
}


def _signal_base_url() -> str:
    config = current_config()
    for value in (
        getattr(config, "signal_base_url", None),
        current_app.config.get("HEAT_SIGNAL_BASE_URL"),
        os.environ.get("CLOUDHP_LOCALCLOUD_SIGNAL_URL"),
    ):
        if value:
            return str(value).rstrip("/")
    return request.host_url.rstrip("/")


def _parse_request_template(body: dict[str, Any]) -> tuple[Template, dict[str, Any]]:
    """The template and the user's parameters (environment, then `parameters`)."""
    if body.get("template") is None:
        if body.get("template_url"):
            raise faults.BadRequest(
                "template_url is not supported by localcloud; send the template itself."
            )
        raise faults.BadRequest("No template specified")
    environment = body.get("environment") or {}
    if isinstance(environment, str):
        try:
            environment = bodies.loads(environment, "The environment")
        except ValueError:
            raise faults.BadRequest("The environment is not valid JSON.") from None
    if not isinstance(environment, dict):
        raise faults.BadRequest("The environment is not a JSON object.")
    if environment.get("resource_registry"):
        raise faults.BadRequest(
            "resource_registry in environments is not supported by localcloud.",
            kind="InvalidEnvironment",
        )
    try:
        template = Template.parse(body["template"])
    except errors.HeatError as exc:
        raise invalid(exc) from None
    given: dict[str, Any] = {}
    defaults = environment.get("parameter_defaults") or {}
    for name, value in defaults.items():
        if name in template.parameters:
            given[name] = value
    given.update(environment.get("parameters") or {})
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise faults.BadRequest("parameters must be a JSON object")
    given.update(params)
    return template, given


def _validate(template: Template) -> None:
    try:
        template.validate(lookup)
    except errors.HeatError as exc:
        raise invalid(exc) from None


# --- validate -------------------------------------------------------------------------


@bp.post("/v1/<project_id>/validate")
def validate(project_id: str) -> Response:
    """Heat's template-validate: structure, types, references; values only if given.

    Like Heat (strict_validate off), a required parameter without a value is not an
    error here: POST /stacks reports it (UserParameterMissing).
    """
    check_project(project_id)
    template, given = _parse_request_template(faults.json_body())
    _validate(template)
    for name, value in given.items():
        param = template.parameters.get(name)
        if param is not None and value is not None:
            try:
                param.coerce(value)
            except errors.HeatError as exc:
                raise invalid(exc) from None
    parameters = {}
    for name, param in template.parameters.items():
        entry: dict[str, Any] = {
            "Type": _PARAM_TYPES[param.type],
            "Description": param.description or "",
            "Label": param.label or name,
            "NoEcho": "true" if param.hidden else "false",
        }
        if param.has_default:
            entry["Default"] = param.default
        if name in given:
            entry["Value"] = given[name]
        for constraint in param.constraints:
            if "allowed_values" in constraint:
                entry["AllowedValues"] = constraint["allowed_values"]
            if "allowed_pattern" in constraint:
                entry["AllowedPattern"] = constraint["allowed_pattern"]
            for key, low, high in (
                ("length", "MinLength", "MaxLength"),
                ("range", "MinValue", "MaxValue"),
            ):
                bounds = constraint.get(key) or {}
                if "min" in bounds:
                    entry[low] = bounds["min"]
                if "max" in bounds:
                    entry[high] = bounds["max"]
            if constraint.get("description"):
                entry["ConstraintDescription"] = constraint["description"]
        parameters[name] = entry
    return jsonify(
        {
            "Description": template.description or "No description",
            "Parameters": parameters,
            "ParameterGroups": list(template.parameter_groups),
            "Environment": {"parameters": given, "parameter_defaults": {}},
        }
    )


# --- stacks ---------------------------------------------------------------------------


@bp.post("/v1/<project_id>/stacks")
def create_stack(project_id: str) -> tuple[Response, int]:
    check_project(project_id)
    body = faults.json_body()
    name = body.get("stack_name")
    if not isinstance(name, str) or not STACK_NAME.fullmatch(name):
        raise faults.BadRequest(
            f'Invalid stack name {name} must contain only alphanumeric or "_-." characters, '
            "must start with alpha and must be 255 characters or less.",
            kind="StackValidationFailed",
        )
    template, given = _parse_request_template(body)
    _validate(template)
    try:
        values = template.resolve_parameters(given)
    except errors.HeatError as exc:
        raise invalid(exc) from None
    timeout_mins = body.get("timeout_mins")
    if timeout_mins is not None:
        try:
            timeout_mins = int(timeout_mins)
        except (TypeError, ValueError):
            raise faults.BadRequest(f"Invalid timeout value {timeout_mins}") from None
        if timeout_mins <= 0:
            raise faults.BadRequest(f"Invalid timeout value {timeout_mins}")
    tags = body.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    store = current_store()
    caller: auth.Caller = g.caller
    with store.transaction():
        if store.list(STACK, project_id=project_id, name=name):
            raise faults.Conflict(f"The Stack ({name}) already exists.", kind="StackExists")
        stack = store.insert(
            STACK,
            {
                "description": template.description,
                "template": template.raw,
                "parameter_values": values,
                "timeout_mins": timeout_mins,
                "tags": [str(t) for t in tags],
                "disable_rollback": bool(body.get("disable_rollback", True)),
                "action": "CREATE",
                "status": "IN_PROGRESS",
                "stack_status_reason": "Stack CREATE started",
                "creation_time": utcnow(),
                "updated_time": None,
                "outputs": [],
                "user_id": caller.user_id,
                "signal_base_url": _signal_base_url(),
                "engine_id": engine().id,
            },
            name=name,
            project_id=project_id,
        )
    try:
        cred = credentials.obtain(
            engine().keyring,
            current_config().auth_url,
            request.headers.get("X-Auth-Token", ""),
            user_id=caller.user_id,
            project_id=project_id,
            stack_id=stack["id"],
            token_expires_at=caller.expires_at,
        )
    except (credentials.CredentialError, OSError) as exc:
        store.delete(STACK, stack["id"])
        raise faults.Fault(str(exc), code=500) from None
    with store.transaction():
        store.insert(credentials.CREDENTIAL, cred, project_id=project_id)
        insert_resources(store, stack, template)
    engine().add_event(
        stack,
        resource_name=name,
        physical_id=stack["id"],
        status="CREATE_IN_PROGRESS",
        reason="Stack CREATE started",
        resource_type="OS::Heat::Stack",
    )
    engine().start_create(stack["id"])
    links = [{"href": stack_url(stack), "rel": "self"}]
    return jsonify({"stack": {"id": stack["id"], "links": links}}), 201


def _stack_view(stack: Record, *, detail: bool, resolve_outputs: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": stack["id"],
        "stack_name": stack["name"],
        "description": stack.get("description") or "",
        "stack_status": f"{stack['action']}_{stack['status']}",
        "stack_status_reason": stack.get("stack_status_reason") or "",
        "creation_time": stack.get("creation_time"),
        "updated_time": stack.get("updated_time"),
        "deletion_time": None,
        "stack_owner": None,
        "stack_user_project_id": stack["project_id"],
        "parent": None,
        "tags": stack.get("tags") or None,
        "links": [{"href": stack_url(stack), "rel": "self"}],
    }
    if g.is_admin:
        view["project"] = stack["project_id"]
    if not detail:
        return view
    try:
        template = Template.parse(stack["template"])
        shown = {
            name: template.parameters[name].shown(value)
            for name, value in (stack.get("parameter_values") or {}).items()
            if name in template.parameters
        }
    except errors.HeatError:
        shown = {}
    shown.update(
        {
            "OS::stack_id": stack["id"],
            "OS::stack_name": stack["name"],
            "OS::project_id": stack["project_id"],
        }
    )
    view.update(
        {
            "parameters": shown,
            "timeout_mins": stack.get("timeout_mins"),
            "disable_rollback": stack.get("disable_rollback", True),
            "capabilities": [],
            "notification_topics": [],
            "template_description": stack.get("description") or "",
        }
    )
    if resolve_outputs:
        view["outputs"] = stack.get("outputs") or []
    return view


@bp.get("/v1/<project_id>/stacks")
def list_stacks(project_id: str) -> Response:
    check_project(project_id)
    stacks = current_store().list(STACK, project_id=project_id)
    names = request.args.getlist("name")
    statuses = request.args.getlist("status")
    tags = [t for arg in request.args.getlist("tags") for t in arg.split(",") if t]
    found = []
    for stack in stacks:
        stack = check_alive(stack)
        if names and stack["name"] not in names and stack["id"] not in names:
            continue
        if (
            statuses
            and stack["status"] not in statuses
            and (f"{stack['action']}_{stack['status']}" not in statuses)
        ):
            continue
        if tags and not set(tags) <= set(stack.get("tags") or []):
            continue
        found.append(_stack_view(stack, detail=False))
    if request.args.get("sort_dir", "desc") == "desc":
        found.reverse()
    return jsonify({"stacks": found})


_SUBPATHS = frozenset({"resources", "events", "template", "outputs", "environment", "files"})


@bp.get("/v1/<project_id>/stacks/<name_or_id>")
def lookup_stack(project_id: str, name_or_id: str) -> WerkzeugResponse:
    """Heat's stack lookup: a 302 to the canonical URL (what clients expect)."""
    return redirect_to_stack(find_stack(project_id, name_or_id))


@bp.get(
    "/v1/<project_id>/stacks/<name_or_id>/resources/<resource>/events",
)
def lookup_resource_events(project_id: str, name_or_id: str, resource: str) -> WerkzeugResponse:
    return redirect_to_stack(find_stack(project_id, name_or_id), f"/resources/{resource}/events")


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>")
def show_stack(project_id: str, name: str, stack_id: str) -> WerkzeugResponse:
    if stack_id in _SUBPATHS:  # /stacks/<name>/events and friends: look the id up
        return redirect_to_stack(find_stack(project_id, name), "/" + stack_id)
    stack = get_stack(project_id, name, stack_id)
    resolve_outputs = request.args.get("resolve_outputs", "true").lower() not in ("false", "0")
    return jsonify({"stack": _stack_view(stack, detail=True, resolve_outputs=resolve_outputs)})


@bp.delete("/v1/<project_id>/stacks/<name_or_id>")
def delete_stack_by_name(project_id: str, name_or_id: str) -> tuple[str, int]:
    return _delete(find_stack(project_id, name_or_id))


@bp.delete("/v1/<project_id>/stacks/<name>/<stack_id>")
def delete_stack(project_id: str, name: str, stack_id: str) -> tuple[str, int]:
    return _delete(get_stack(project_id, name, stack_id))


def _delete(stack: Record) -> tuple[str, int]:
    if (stack["action"], stack["status"]) != ("DELETE", "IN_PROGRESS"):
        engine().set_stack_status(stack["id"], "DELETE", "IN_PROGRESS", "Stack DELETE started")
        engine().start_delete(stack["id"])
    return "", 204


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/template")
def stack_template(project_id: str, name: str, stack_id: str) -> Response:
    return jsonify(get_stack(project_id, name, stack_id)["template"])


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/outputs")
def list_outputs(project_id: str, name: str, stack_id: str) -> Response:
    stack = get_stack(project_id, name, stack_id)
    outputs = [
        {"output_key": o["output_key"], "description": o["description"]}
        for o in stack.get("outputs") or []
    ]
    return jsonify({"outputs": outputs})


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/outputs/<key>")
def show_output(project_id: str, name: str, stack_id: str, key: str) -> Response:
    stack = get_stack(project_id, name, stack_id)
    for output in stack.get("outputs") or []:
        if output["output_key"] == key:
            return jsonify({"output": output})
    raise faults.NotFound(f"Specified output key {key} not found.", kind="NotFound")
