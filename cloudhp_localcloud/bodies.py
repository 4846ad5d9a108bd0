"""Limits on request bodies, checked before authentication for every service.

A local cloud listens on this machine's ports, so a client (or any local process)
must not be able to exhaust its memory or crash a request thread with one body:

    MAX_JSON_BODY   1 MiB: Heat's `max_json_body_size` default, the largest any
                    service here accepts (a stack create carries its template; Heat's
                    own `max_template_size` is 512 KiB). Nova, Neutron, Cinder and
                    Keystone accept 112 KiB behind oslo.middleware; one limit for all
                    keeps the rule simple and stays far from what a request needs.
                    Beyond it: 413, also for a chunked body without Content-Length.
    MAX_JSON_DEPTH  64 levels of objects and lists. Python's parser gives up near
                    1000 with a RecursionError (a 500 before this module), PyYAML
                    near 150; cloudhp's golden-image template, the deepest document
                    a client sends here, nests 10.

A view that takes raw data (an image upload) is marked with `@raw_body` and is not
limited. JSON or YAML text inside a body (a Heat environment or template string) is
checked where it is parsed, with `loads` or `too_deep`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from cloudhp_localcloud import faults

MAX_JSON_BODY = 1 << 20
MAX_JSON_DEPTH = 64

F = TypeVar("F", bound=Callable[..., Any])


def raw_body(view: F) -> F:
    """Mark a view whose body is data, not a JSON document (no size or depth limit)."""
    view._localcloud_raw_body = True  # type: ignore[attr-defined]
    return view


def limit_body() -> None:
    """before_request hook: 413 for a body too large, 400 for JSON nested too deeply."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "_localcloud_raw_body", False):
        return
    # One byte over: a chunked body is cut at the limit, not refused, by werkzeug.
    request.max_content_length = MAX_JSON_BODY + 1
    try:
        data: bytes | None = request.get_data(cache=True)
    except RequestEntityTooLarge:
        data = None
    if data is None or len(data) > MAX_JSON_BODY:
        raise faults.Fault(f"Request body too large: the limit is {MAX_JSON_BODY} bytes.", code=413)
    if not data:
        return
    try:
        loads(data, "The request body")
    except ValueError:
        return  # not JSON: the view answers that in its own words


def too_deep(document: Any) -> bool:
    """Whether `document` nests objects and lists deeper than MAX_JSON_DEPTH.

    A YAML document can share one list under many keys (anchors): a container is
    walked again only when reached deeper than before, so that stays linear.
    """
    deepest: dict[int, int] = {}
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if not isinstance(value, dict | list) or deepest.get(id(value), 0) >= depth:
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        deepest[id(value)] = depth
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children)
    return False


def loads(text: str | bytes, what: str) -> Any:
    """json.loads that answers a document nested too deeply with a 400 naming `what`.

    Raises:
        ValueError: not JSON (the caller words that error itself).
    """
    try:
        document = json.loads(text)
    except RecursionError:
        raise _too_deep(what) from None
    if too_deep(document):
        raise _too_deep(what)
    return document


def _too_deep(what: str) -> faults.BadRequest:
    return faults.BadRequest(
        f"{what} is nested too deeply: at most {MAX_JSON_DEPTH} levels of objects and "
        "lists are accepted."
    )
