"""OpenStack-shaped errors: raise an exception, get the body the real service sends.

Service code raises, e.g. `raise NotFound("Server x could not be found.")`, and the
app's error handler renders it in the *style* of the service that owns the URL
(declared once as `Service.fault_style` in catalog.py), so openstacksdk maps it to the
same exception it raises against a real cloud (NotFoundException, ...).

Styles and the bodies they produce for a 404:

    NOVA, CINDER  {"itemNotFound": {"code": 404, "message": m}}
    NEUTRON       {"NeutronError": {"type": "HTTPNotFound", "message": m, "detail": ""}}
    KEYSTONE      {"error": {"code": 404, "title": "Not Found", "message": m}}
    GLANCE        {"code": "404 Not Found", "title": "Not Found", "message": m}
    HEAT          {"code": 404, "title": "Not Found", "explanation": m,
                   "error": {"type": "EntityNotFound", "message": m, "traceback": None}}

`kind` overrides the type name where the real service names it (Neutron's
"NetworkNotFound", Heat's "StackValidationFailed", Nova's "overLimit").
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

NOVA = "nova"
CINDER = "cinder"
NEUTRON = "neutron"
KEYSTONE = "keystone"
GLANCE = "glance"
HEAT = "heat"
STYLES = (NOVA, CINDER, NEUTRON, KEYSTONE, GLANCE, HEAT)

# Nova and Cinder wrap errors in a key named after the fault (nova/api/openstack/wsgi.py).
_NOVA_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    500: "computeFault",
    501: "notImplemented",
    503: "serviceUnavailable",
}


class Fault(Exception):
    """An HTTP error a client should see; subclasses fix the status code."""

    code: int = 500
    # Set to render in one style whatever the service (auth's 401s are Keystone's).
    style: str | None = None

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        if code is not None:
            self.code = code
        self.headers = headers or {}

    @property
    def title(self) -> str:
        return HTTPStatus(self.code).phrase


class BadRequest(Fault):
    code = 400


class Unauthorized(Fault):
    code = 401


class Forbidden(Fault):
    code = 403


class NotFound(Fault):
    code = 404


class MethodNotAllowed(Fault):
    code = 405


class NotAcceptable(Fault):
    code = 406


class Conflict(Fault):
    code = 409


class OverLimit(Fault):
    """Quota exceeded. Nova sends 403 for server quotas and 413 for others: pass `code`."""

    code = 413


class NotImplementedFault(Fault):
    code = 501


class ServiceUnavailable(Fault):
    code = 503


def _http_kind(fault: Fault) -> str:
    """The webob exception name Neutron and Heat report: "HTTPNotFound", ..."""
    return "HTTP" + fault.title.replace(" ", "")


def body_for(fault: Fault, style: str) -> dict[str, Any]:
    """The JSON body `style`'s real service would send for `fault`."""
    code, msg = fault.code, fault.message
    if style in (NOVA, CINDER):
        name = fault.kind if fault.kind and fault.kind[0].islower() else None
        if isinstance(fault, OverLimit):
            # Nova: the instance quota is a 403 "forbidden" body, others 413 "overLimit".
            name = "forbidden" if code == 403 else "overLimit"
        return {name or _NOVA_NAMES.get(code, "computeFault"): {"code": code, "message": msg}}
    if style == NEUTRON:
        default = "OverQuota" if isinstance(fault, OverLimit) else None
        kind = fault.kind or default or _http_kind(fault)
        return {"NeutronError": {"type": kind, "message": msg, "detail": ""}}
    if style == GLANCE:
        return {"code": f"{code} {fault.title}", "title": fault.title, "message": msg}
    if style == HEAT:
        kind = fault.kind or _http_kind(fault)
        return {
            "code": code,
            "title": fault.title,
            "explanation": msg,
            "error": {"type": kind, "message": msg, "traceback": None},
        }
    return {"error": {"code": code, "title": fault.title, "message": msg}}


def render(fault: Fault, style: str) -> Response:
    response = jsonify(body_for(fault, fault.style or style))
    response.status_code = fault.code
    for key, value in fault.headers.items():
        response.headers[key] = value
    return response


def from_http_exception(exc: HTTPException) -> Fault:
    """Werkzeug's routing errors (unknown URL, wrong method) as a Fault."""
    code = exc.code or 500
    messages = {
        404: "The resource could not be found.",
        405: "The method specified is not allowed for this resource.",
    }
    return Fault(messages.get(code, exc.description or HTTPStatus(code).phrase), code=code)


def json_body(required_key: str | None = None) -> dict[str, Any]:
    """The request's JSON object, or the 400 a real service sends for a bad body."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise BadRequest("Malformed request body")
    if required_key is not None and not isinstance(data.get(required_key), dict):
        raise BadRequest(f"Invalid input: '{required_key}' is a required property")
    return data
