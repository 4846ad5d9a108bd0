"""What the Heat API modules share: the blueprint, the engine, finding a stack.

api.py declares the service; api_stacks.py serves validate and the stacks,
api_resources.py their resources, events and signals; all add their views to `bp`.
A stack is looked up by name or id within the URL's project (`find_stack`), or by
the canonical /stacks/<name>/<id> pair (`get_stack`); either way an IN_PROGRESS
stack that no engine thread works on is marked FAILED first, as Heat does.
"""

from __future__ import annotations

import threading

from flask import Blueprint, current_app, g, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from cloudhp_localcloud import faults
from cloudhp_localcloud.config import current_config
from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.engine import Engine
from cloudhp_localcloud.orchestration.records import STACK
from cloudhp_localcloud.store import Record, current_store

bp = Blueprint("orchestration", __name__)


_ENGINE_KEY = "cloudhp_localcloud.orchestration.engine"

_engine_lock = threading.Lock()


def engine() -> Engine:
    """The app's engine, made on first use (the app factory knows nothing of Heat)."""
    with _engine_lock:
        found = current_app.extensions.get(_ENGINE_KEY)
        if found is None:
            found = Engine(current_store(), current_config())
            current_app.extensions[_ENGINE_KEY] = found
        return found


def invalid(exc: errors.HeatError) -> faults.BadRequest:
    return faults.BadRequest(exc.message, kind=exc.kind)


def check_project(project_id: str) -> None:
    if project_id != g.project_id and not g.is_admin:
        raise faults.Forbidden("You are not authorized to use this project's stacks.")


def _base(project_id: str) -> str:
    return f"{request.host_url.rstrip('/')}/heat-api/v1/{project_id}"


def stack_url(stack: Record) -> str:
    return f"{_base(stack['project_id'])}/stacks/{stack['name']}/{stack['id']}"


def find_stack(project_id: str, name_or_id: str) -> Record:
    check_project(project_id)
    store = current_store()
    stack = store.get(STACK, name_or_id, project_id=project_id)
    if stack is None:
        found = store.list(STACK, project_id=project_id, name=name_or_id)
        stack = found[0] if found else None
    if stack is None:
        raise faults.NotFound(
            f"The Stack ({name_or_id}) could not be found.", kind="EntityNotFound"
        )
    return check_alive(stack)


def get_stack(project_id: str, name: str, stack_id: str) -> Record:
    stack = find_stack(project_id, stack_id)
    if name not in (stack["name"], stack["id"]):
        raise faults.NotFound(f"The Stack ({name}) could not be found.", kind="EntityNotFound")
    return stack


def check_alive(stack: Record) -> Record:
    """An IN_PROGRESS stack no thread works on (daemon restarted) is FAILED, as in Heat."""
    if stack.get("status") == "IN_PROGRESS" and not engine().owns(stack):
        stack = engine().set_stack_status(
            stack["id"],
            stack["action"],
            "FAILED",
            f"Engine went down during stack {stack['action']}",
        )
    return stack


def redirect_to_stack(stack: Record, suffix: str = "") -> WerkzeugResponse:
    url = stack_url(stack) + suffix
    if request.query_string:
        url += "?" + request.query_string.decode()
    return redirect(url, code=302)
