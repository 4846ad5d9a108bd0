"""Heat's orchestration v1 API, as openstacksdk, python-heatclient and the CLI call it.

Mounted at /heat-api; the catalog advertises /heat-api/v1/<project_id>. The routes
heatclient and the SDK rely on behave like Heat's: GET /stacks/<name> (or <id>, or
/stacks/<name>/events, /resources, ...) answers 302 to the canonical
/stacks/<name>/<id> URL; DELETE /stacks/<name_or_id> works without the redirect;
errors are Heat-style bodies whose error.type names Heat's exception.

The signal route (POST .../resources/<handle>/signal) is public at the Keystone gate
and checks its own token: either the handle's signal token (what its curl_cli
carries, see waitcondition.py) or a normal Keystone token of the stack's project,
as `openstack stack resource signal` sends.

Signal base URL: where a server container reaches localcloud. It is fixed per stack
at create, from the first of `LocalCloudConfig.signal_base_url` (when the config has
that field), the app config key HEAT_SIGNAL_BASE_URL, the environment variable
CLOUDHP_LOCALCLOUD_SIGNAL_URL, and the URL the request came to.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from cloudhp.localcloud import auth, faults
from cloudhp.localcloud.catalog import Service, version_entry, versions_response
from cloudhp.localcloud.config import current_config
from cloudhp.localcloud.heat import credentials, errors, waitcondition
from cloudhp.localcloud.heat.engine import (
    EVENT,
    RESOURCE,
    STACK,
    Engine,
    _Run,
    insert_resources,
)
from cloudhp.localcloud.heat.graph import dependencies, required_by
from cloudhp.localcloud.heat.resources import REGISTRY, lookup
from cloudhp.localcloud.heat.template import Template
from cloudhp.localcloud.store import Record, current_store, utcnow

bp = Blueprint("orchestration", __name__)

SERVICE = Service(
    name="heat",
    types=("orchestration",),
    prefix="/heat-api",
    endpoint="/heat-api/v1/{project_id}",
    blueprint=bp,
    fault_style=faults.HEAT,
)

_ENGINE_KEY = "cloudhp.localcloud.heat.engine"
_engine_lock = threading.Lock()
STACK_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_.-]{0,254}")
_PARAM_TYPES = {
    "string": "String",
    "number": "Number",
    "json": "Json",
    "comma_delimited_list": "CommaDelimitedList",
    "boolean": "Boolean",
}


def engine() -> Engine:
    """The app's engine, made on first use (the app factory knows nothing of Heat)."""
    with _engine_lock:
        found = current_app.extensions.get(_ENGINE_KEY)
        if found is None:
            found = Engine(current_store(), current_config())
            current_app.extensions[_ENGINE_KEY] = found
        return found


def _invalid(exc: errors.HeatError) -> faults.BadRequest:
    return faults.BadRequest(exc.message, kind=exc.kind)


# --- version discovery ------------------------------------------------------------------


@bp.get("")
@bp.get("/")
@auth.public
def versions() -> Response:
    return versions_response([version_entry("v1.0", "/heat-api/v1/")])


@bp.get("/v1/<project_id>/build_info")
def build_info(project_id: str) -> Response:
    _check_project(project_id)
    return jsonify({"api": {"revision": "localcloud"}, "engine": {"revision": "localcloud"}})


@bp.get("/v1/<project_id>/resource_types")
def resource_types(project_id: str) -> Response:
    _check_project(project_id)
    return jsonify({"resource_types": sorted(REGISTRY)})


# --- helpers ---------------------------------------------------------------------------


def _check_project(project_id: str) -> None:
    if project_id != g.project_id and not g.is_admin:
        raise faults.Forbidden("You are not authorized to use this project's stacks.")


def _base(project_id: str) -> str:
    return f"{request.host_url.rstrip('/')}/heat-api/v1/{project_id}"


def _stack_url(stack: Record) -> str:
    return f"{_base(stack['project_id'])}/stacks/{stack['name']}/{stack['id']}"


def _find(project_id: str, name_or_id: str) -> Record:
    _check_project(project_id)
    store = current_store()
    stack = store.get(STACK, name_or_id, project_id=project_id)
    if stack is None:
        found = store.list(STACK, project_id=project_id, name=name_or_id)
        stack = found[0] if found else None
    if stack is None:
        raise faults.NotFound(
            f"The Stack ({name_or_id}) could not be found.", kind="EntityNotFound"
        )
    return _check_alive(stack)


def _get(project_id: str, name: str, stack_id: str) -> Record:
    stack = _find(project_id, stack_id)
    if name not in (stack["name"], stack["id"]):
        raise faults.NotFound(f"The Stack ({name}) could not be found.", kind="EntityNotFound")
    return stack


def _check_alive(stack: Record) -> Record:
    """An IN_PROGRESS stack no thread works on (daemon restarted) is FAILED, as in Heat."""
    if stack.get("status") == "IN_PROGRESS" and not engine().owns(stack):
        stack = engine().set_stack_status(
            stack["id"],
            stack["action"],
            "FAILED",
            f"Engine went down during stack {stack['action']}",
        )
    return stack


def _redirect(stack: Record, suffix: str = "") -> WerkzeugResponse:
    url = _stack_url(stack) + suffix
    if request.query_string:
        url += "?" + request.query_string.decode()
    return redirect(url, code=302)


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
            environment = json.loads(environment)
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
        raise _invalid(exc) from None
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
        raise _invalid(exc) from None


# --- validate -------------------------------------------------------------------------


@bp.post("/v1/<project_id>/validate")
def validate(project_id: str) -> Response:
    """Heat's template-validate: structure, types, references; values only if given.

    Like Heat (strict_validate off), a required parameter without a value is not an
    error here: POST /stacks reports it (UserParameterMissing).
    """
    _check_project(project_id)
    template, given = _parse_request_template(faults.json_body())
    _validate(template)
    for name, value in given.items():
        param = template.parameters.get(name)
        if param is not None and value is not None:
            try:
                param.coerce(value)
            except errors.HeatError as exc:
                raise _invalid(exc) from None
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
    _check_project(project_id)
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
        raise _invalid(exc) from None
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
    links = [{"href": _stack_url(stack), "rel": "self"}]
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
        "links": [{"href": _stack_url(stack), "rel": "self"}],
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
    _check_project(project_id)
    stacks = current_store().list(STACK, project_id=project_id)
    names = request.args.getlist("name")
    statuses = request.args.getlist("status")
    tags = [t for arg in request.args.getlist("tags") for t in arg.split(",") if t]
    found = []
    for stack in stacks:
        stack = _check_alive(stack)
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
    return _redirect(_find(project_id, name_or_id))


@bp.get(
    "/v1/<project_id>/stacks/<name_or_id>/resources/<resource>/events",
)
def lookup_resource_events(project_id: str, name_or_id: str, resource: str) -> WerkzeugResponse:
    return _redirect(_find(project_id, name_or_id), f"/resources/{resource}/events")


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>")
def show_stack(project_id: str, name: str, stack_id: str) -> WerkzeugResponse:
    if stack_id in _SUBPATHS:  # /stacks/<name>/events and friends: look the id up
        return _redirect(_find(project_id, name), "/" + stack_id)
    stack = _get(project_id, name, stack_id)
    resolve_outputs = request.args.get("resolve_outputs", "true").lower() not in ("false", "0")
    return jsonify({"stack": _stack_view(stack, detail=True, resolve_outputs=resolve_outputs)})


@bp.delete("/v1/<project_id>/stacks/<name_or_id>")
def delete_stack_by_name(project_id: str, name_or_id: str) -> tuple[str, int]:
    return _delete(_find(project_id, name_or_id))


@bp.delete("/v1/<project_id>/stacks/<name>/<stack_id>")
def delete_stack(project_id: str, name: str, stack_id: str) -> tuple[str, int]:
    return _delete(_get(project_id, name, stack_id))


def _delete(stack: Record) -> tuple[str, int]:
    if (stack["action"], stack["status"]) != ("DELETE", "IN_PROGRESS"):
        engine().set_stack_status(stack["id"], "DELETE", "IN_PROGRESS", "Stack DELETE started")
        engine().start_delete(stack["id"])
    return "", 204


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/template")
def stack_template(project_id: str, name: str, stack_id: str) -> Response:
    return jsonify(_get(project_id, name, stack_id)["template"])


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/outputs")
def list_outputs(project_id: str, name: str, stack_id: str) -> Response:
    stack = _get(project_id, name, stack_id)
    outputs = [
        {"output_key": o["output_key"], "description": o["description"]}
        for o in stack.get("outputs") or []
    ]
    return jsonify({"outputs": outputs})


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/outputs/<key>")
def show_output(project_id: str, name: str, stack_id: str, key: str) -> Response:
    stack = _get(project_id, name, stack_id)
    for output in stack.get("outputs") or []:
        if output["output_key"] == key:
            return jsonify({"output": output})
    raise faults.NotFound(f"Specified output key {key} not found.", kind="NotFound")


# --- resources ------------------------------------------------------------------------


def _resource_view(stack: Record, record: Record, needed_by: set[str]) -> dict[str, Any]:
    url = f"{_stack_url(stack)}/resources/{record['name']}"
    return {
        "resource_name": record["name"],
        "logical_resource_id": record["name"],
        "physical_resource_id": record.get("physical_resource_id") or "",
        "resource_type": record["resource_type"],
        "resource_status": f"{record['action']}_{record['status']}",
        "resource_status_reason": record.get("resource_status_reason") or "",
        "creation_time": record.get("creation_time"),
        "updated_time": record.get("updated_time") or record.get("creation_time"),
        "required_by": sorted(needed_by),
        "links": [{"href": url, "rel": "self"}, {"href": _stack_url(stack), "rel": "stack"}],
    }


def _required_by(stack: Record) -> dict[str, set[str]]:
    try:
        return required_by(dependencies(Template.parse(stack["template"])))
    except errors.HeatError:
        return {}


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/resources")
def list_resources(project_id: str, name: str, stack_id: str) -> Response:
    stack = _get(project_id, name, stack_id)
    needed = _required_by(stack)
    records = current_store().list(RESOURCE, stack_id=stack["id"])
    types = request.args.getlist("type")
    names = request.args.getlist("name")
    views = [
        _resource_view(stack, r, needed.get(r["name"], set()))
        for r in records
        if (not types or r["resource_type"] in types) and (not names or r["name"] in names)
    ]
    return jsonify({"resources": views})


def _resource(stack: Record, resource: str) -> Record:
    found = current_store().list(RESOURCE, stack_id=stack["id"], name=resource)
    if not found:
        raise faults.NotFound(
            f"The Resource ({resource}) could not be found.", kind="EntityNotFound"
        )
    return found[0]


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/resources/<resource>")
def show_resource(project_id: str, name: str, stack_id: str, resource: str) -> Response:
    stack = _get(project_id, name, stack_id)
    record = _resource(stack, resource)
    view = _resource_view(stack, record, _required_by(stack).get(resource, set()))
    view["attributes"] = _attributes(stack, record)
    return jsonify({"resource": view})


def _attributes(stack: Record, record: Record) -> dict[str, Any]:
    """Every attribute of a complete resource, resolved now as Heat does (None on error)."""
    cls = lookup(record["resource_type"])
    if cls is None or not record.get("physical_resource_id"):
        return {}
    run = _Run(engine(), stack["id"], threading.Event())
    run.stack = stack
    values: dict[str, Any] = {}
    for attribute in cls.attributes:
        try:
            values[attribute] = run.resource_attr(record["name"], attribute)
        except Exception:
            values[attribute] = None
    return values


# --- events ---------------------------------------------------------------------------


def _event_view(stack: Record, event: Record) -> dict[str, Any]:
    res = event["resource_name"]
    stack_url = _stack_url(stack)
    resource_url = f"{stack_url}/resources/{res}"
    return {
        "id": event["id"],
        "event_time": event["event_time"],
        "resource_name": res,
        "logical_resource_id": event["logical_resource_id"],
        "physical_resource_id": event["physical_resource_id"],
        "resource_status": event["resource_status"],
        "resource_status_reason": event["resource_status_reason"],
        "links": [
            {"href": f"{resource_url}/events/{event['id']}", "rel": "self"},
            {"href": resource_url, "rel": "resource"},
            {"href": stack_url, "rel": "stack"},
        ],
    }


def _events(stack: Record, resource: str | None) -> list[dict[str, Any]]:
    filters: dict[str, Any] = {"stack_id": stack["id"]}
    if resource is not None:
        filters["resource_name"] = resource
    events = current_store().list(EVENT, **filters)
    for key in ("resource_name", "resource_status", "resource_type"):
        wanted = request.args.getlist(key)
        if wanted:
            events = [
                e
                for e in events
                if e[key] in wanted
                or (key == "resource_status" and e[key].split("_", 1)[-1] in wanted)
            ]
    actions = request.args.getlist("resource_action")
    if actions:
        events = [e for e in events if e["resource_status"].split("_", 1)[0] in actions]
    if request.args.get("sort_dir", "asc") == "desc":
        events.reverse()
    marker = request.args.get("marker")
    if marker:
        ids = [e["id"] for e in events]
        events = events[ids.index(marker) + 1 :] if marker in ids else events
    limit = request.args.get("limit")
    if limit and limit.isdigit():
        events = events[: int(limit)]
    return [_event_view(stack, e) for e in events]


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/events")
def list_events(project_id: str, name: str, stack_id: str) -> Response:
    return jsonify({"events": _events(_get(project_id, name, stack_id), None)})


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/resources/<resource>/events")
def list_resource_events(project_id: str, name: str, stack_id: str, resource: str) -> Response:
    stack = _get(project_id, name, stack_id)
    _resource(stack, resource)
    return jsonify({"events": _events(stack, resource)})


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/resources/<resource>/events/<event_id>")
def show_event(project_id: str, name: str, stack_id: str, resource: str, event_id: str) -> Response:
    stack = _get(project_id, name, stack_id)
    event = current_store().get(EVENT, event_id)
    if event is None or event["stack_id"] != stack["id"] or event["resource_name"] != resource:
        raise faults.NotFound(f"The Event ({event_id}) could not be found.", kind="EntityNotFound")
    return jsonify({"event": _event_view(stack, event)})


# --- signals --------------------------------------------------------------------------


@bp.post("/v1/<project_id>/stacks/<name>/<stack_id>/resources/<resource>/signal")
@auth.public
def signal(project_id: str, name: str, stack_id: str, resource: str) -> tuple[str, int]:
    """A signal to a wait condition handle, with its signal token or a Keystone token."""
    store = current_store()
    token = request.headers.get("X-Auth-Token", "")
    stack = store.get(STACK, stack_id, project_id=project_id)
    record = None
    if stack is not None and name in (stack["name"], stack["id"]):
        found = store.list(RESOURCE, stack_id=stack_id, name=resource)
        record = found[0] if found else None
    digest = waitcondition.token_digest(token) if token else None
    if record is not None and digest and digest == (record.get("data") or {}).get("token_sha256"):
        pass  # the handle's own signal token
    else:
        caller = auth.validate_token(store, token or None)  # 401 in Keystone's shape
        if caller.project_id != project_id and not caller.is_admin:
            raise faults.Forbidden("You are not authorized to signal this stack.")
        if stack is None or record is None:
            what = "Stack" if stack is None else "Resource"
            target = f"{name}/{stack_id}" if stack is None else resource
            raise faults.NotFound(
                f"The {what} ({target}) could not be found.", kind="EntityNotFound"
            )
    assert stack is not None and record is not None
    if record["resource_type"] != waitcondition.WaitConditionHandle.type_name:
        raise faults.BadRequest(
            f"Signal resource during {record['action']} is not supported for "
            f"{record['resource_type']}.",
            kind="ResourceActionNotSupported",
        )
    if not record.get("physical_resource_id"):
        raise faults.BadRequest(
            f"Signal resource during {record['action']}_{record['status']} is not possible: "
            "the handle is not created yet.",
            kind="ResourceFailure",
        )
    body = request.get_json(force=True, silent=True) if request.data else None
    if request.data and body is None:
        raise faults.BadRequest("The signal body is not valid JSON.")
    try:
        waitcondition.add_signal(store, stack_id, resource, body)
    except errors.HeatError as exc:
        raise _invalid(exc) from None
    engine().add_event(
        stack,
        resource_name=resource,
        physical_id=record.get("physical_resource_id"),
        status="SIGNAL_COMPLETE",
        reason="Signal: status:{} reason:{}".format(
            (body or {}).get("status", "SUCCESS"), (body or {}).get("reason") or "received"
        ),
        resource_type=record["resource_type"],
    )
    return "", 200
