"""Application credential access rules: their shape, and whether a request is allowed.

An application credential made with `access_rules` ({service, method, path} each) can
only be used for the requests those rules name. OpenStack checks them in
keystonemiddleware, in front of every service (and in Keystone's own auth context),
against the token's credential; localcloud checks them in `auth._authenticate`, with
the same semantics (keystonemiddleware.auth_token `validate_allowed_request`):

- `service` is the service type the receiving service knows itself as (localcloud:
  the first of its catalog types), `method` the HTTP method, exactly (no wildcard);
- `path` is matched against the whole request path (endpoint prefix included, no query
  string): `*` and a `{tag}` match one path segment (at least one character, no `/`),
  `**` matches anything, `/` included; every other character is literal;
- a request matching no rule is refused with 401 "The request you have made requires
  authentication." (the middleware marks the token invalid: not a 403);
- a token may always be validated (GET .../v3/auth/tokens at Keystone);
- a credential without rules (none given, or an empty list) is not limited by them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

METHODS = ("HEAD", "GET", "POST", "PUT", "PATCH", "DELETE")
MAX_PATH = 225  # Keystone's schema: a longer path is refused with 400
_TOKEN = re.compile(r"(?P<tag>\{[^}]*\})|(?P<wild>\*(?=$|[^*]))|(?P<rec>\*\*)|(?P<lit>[^{}*])")


def rule_problem(index: int, rule: Any) -> str | None:
    """Why `rule` (the index-th of a create request) is not a valid access rule, or None.

    Keystone validates the same fields with its JSON schema and answers 400 naming the
    field; an `id` may come along (a rule the user already has), anything else may not.
    """
    where = f"access_rules/{index}"
    if not isinstance(rule, dict):
        return f"Invalid input for field '{where}': {rule!r} is not an object"
    unknown = sorted(set(rule) - {"id", "service", "method", "path"})
    if unknown:
        return f"Invalid input for field '{where}': unexpected properties {unknown}"
    service, method, path = rule.get("service"), rule.get("method"), rule.get("path")
    if not isinstance(service, str) or not service:
        return f"Invalid input for field '{where}/service': a service type is required"
    if method not in METHODS:
        return f"Invalid input for field '{where}/method': {method!r} is not one of {METHODS}"
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH:
        return (
            f"Invalid input for field '{where}/path': {path!r} must start with '/' and be "
            f"at most {MAX_PATH} characters"
        )
    return None


def path_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression keystonemiddleware makes of a rule's path."""
    parts = []
    for token in _TOKEN.finditer(pattern):
        if token["tag"] or token["wild"]:
            parts.append(r"[^/]+")
        elif token["rec"]:
            parts.append(".*")
        else:
            parts.append(re.escape(token["lit"]))
    return re.compile("".join(parts))


def path_matches(path: str, pattern: str) -> bool:
    return path_pattern(pattern).fullmatch(path) is not None


def allows(rules: Iterable[Mapping[str, Any]], service: str, method: str, path: str) -> bool:
    """Whether a request to `service` may go ahead on a token limited by `rules`."""
    rules = list(rules)
    if not rules:
        return True
    if service == "identity" and method == "GET" and path.endswith("/v3/auth/tokens"):
        return True
    return any(
        rule["service"] == service and rule["method"] == method and path_matches(path, rule["path"])
        for rule in rules
    )
