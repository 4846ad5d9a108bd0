"""Heat's stack resources, events and signals.

Resource attributes are resolved on demand, as Heat does for `resource show`. The
signal route is public at the Keystone gate and checks its own token: either the
handle's signal token (what its curl_cli carries, see resources/waitcondition.py) or
a normal Keystone token of the stack's project, as `openstack stack resource signal`
sends.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Response, jsonify, request

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.api_common import bp, engine, get_stack, invalid, stack_url
from cloudhp_localcloud.orchestration.graph import dependencies, required_by
from cloudhp_localcloud.orchestration.records import EVENT, RESOURCE, STACK
from cloudhp_localcloud.orchestration.resources import lookup, waitcondition
from cloudhp_localcloud.orchestration.run import Run
from cloudhp_localcloud.orchestration.template import Template
from cloudhp_localcloud.store import Record, current_store

# --- resources ------------------------------------------------------------------------


def _resource_view(stack: Record, record: Record, needed_by: set[str]) -> dict[str, Any]:
    url = f"{stack_url(stack)}/resources/{record['name']}"
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
        "links": [{"href": url, "rel": "self"}, {"href": stack_url(stack), "rel": "stack"}],
    }


def _required_by(stack: Record) -> dict[str, set[str]]:
    try:
        return required_by(dependencies(Template.parse(stack["template"])))
    except errors.HeatError:
        return {}


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/resources")
def list_resources(project_id: str, name: str, stack_id: str) -> Response:
    stack = get_stack(project_id, name, stack_id)
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
    stack = get_stack(project_id, name, stack_id)
    record = _resource(stack, resource)
    view = _resource_view(stack, record, _required_by(stack).get(resource, set()))
    view["attributes"] = _attributes(stack, record)
    return jsonify({"resource": view})


def _attributes(stack: Record, record: Record) -> dict[str, Any]:
    """Every attribute of a complete resource, resolved now as Heat does (None on error)."""
    cls = lookup(record["resource_type"])
    if cls is None or not record.get("physical_resource_id"):
        return {}
    run = Run(engine(), stack["id"], threading.Event())
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
    stack_link = stack_url(stack)
    resource_url = f"{stack_link}/resources/{res}"
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
            {"href": stack_link, "rel": "stack"},
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
    return jsonify({"events": _events(get_stack(project_id, name, stack_id), None)})


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/resources/<resource>/events")
def list_resource_events(project_id: str, name: str, stack_id: str, resource: str) -> Response:
    stack = get_stack(project_id, name, stack_id)
    _resource(stack, resource)
    return jsonify({"events": _events(stack, resource)})


@bp.get("/v1/<project_id>/stacks/<name>/<stack_id>/resources/<resource>/events/<event_id>")
def show_event(project_id: str, name: str, stack_id: str, resource: str, event_id: str) -> Response:
    stack = get_stack(project_id, name, stack_id)
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
        raise invalid(exc) from None
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
