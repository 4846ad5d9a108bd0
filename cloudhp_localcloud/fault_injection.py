"""Injected faults at the HTTP boundary: 503, 429, 500, slow and ignored requests, for tests.

The tool promises to survive a cloud that says "not now" (retries in
cloudhp/cloud/connect.py, the polling loop's patience in cloudhp/polling.py); only a
cloud that does say it can test that promise. (faults.py is something else: the error
bodies every service renders; this module only decides when to raise them.)

The model is an overloaded API gateway in front of the services: a hook decides
before authentication and before the service's view runs, so a request answered 503
or 429 did nothing (a POST that failed created nothing), which is what makes retrying
it safe. It runs after bodies.limit_body, which reads the body, so a fault never
leaves a JSON body unread. The answer is the service's own error body (faults.render
in its `fault_style`); a 429 carries `Retry-After`. A slow answer waits `delay`
seconds, then the request goes on as usual.

Rules come from a YAML or JSON file, named by `cloudhp localcloud up --faults FILE` or
CLOUDHP_LOCALCLOUD_FAULTS, read when the app is built; `PUT /localcloud/faults`
replaces them and `GET /localcloud/faults` shows them with what was injected (admin
token only: 401 without a valid token, 403 without the admin role):

    seed: 7                 # optional; reported by GET, so a run can be repeated
    rules:
      - service: compute    # a catalog type or name (compute, nova, network, ...)
        methods: [POST]     # optional: every method
        path: "/servers"    # optional: a regex searched in the request's path
        agent: "^cloudhp/"  # optional: a regex searched in the User-Agent
        action: "os-stop"   # optional: the request's JSON body has this key (an action)
        kind: "503"         # 503 | 429 | 500 | slow | accept-and-ignore
        rate: 0.05          # 0..1
        retry_after: 1      # 429: seconds, in the Retry-After header
        delay: 2.0          # slow: seconds

`action` picks one server (or volume) action: the key of the body of a POST
`.../action` ("os-stop", "os-start", "reboot", "os-extend", ...). Two kinds exist for
it: "500" is Nova failing the action (computeFault), and "accept-and-ignore" is the
realistic unconfirmed fence: the API answers 202 as Nova does for os-stop, after
checking the token, and the request goes no further, so the server never stops.
accept-and-ignore needs an `action` (only actions answer 202 with no body).

A rule without `service` applies to every service but Keystone: keystoneauth sends
token requests without its retry policy, so a fault there tests nothing the tool can
handle; name `identity` to fault Keystone anyway. `agent` picks clients: the local
cloud's own Heat engine calls the other services over HTTP without retries, so a
test of the tool sets `agent: "^cloudhp/"` (the tool's User-Agent) and its stacks
keep working.

One uniform draw per request that some rule matches; the matching rules share [0, 1)
in file order, so their rates add (5% 503 and 5% 429: 10% of requests fail, never
two faults on one request). A seeded `random.Random` makes the faults reproducible
for a client that sends the same requests in the same order (unit tests); with
concurrent clients they follow the order of arrival. Each injected fault is logged
(`fault injected: ...`) and counted: per rule (matched, injected; a PUT starts them
again) and by kind since start (kept across a PUT, so a test can turn faults off and
still prove that some were injected).
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from cloudhp.errors import UsageError
from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.catalog import Service
from cloudhp_localcloud.store import current_store

log = logging.getLogger(__name__)

KINDS = ("503", "429", "500", "slow", "accept-and-ignore")
IGNORE = "accept-and-ignore"
MAX_DELAY = 600.0
IDENTITY = "identity"
_EXTENSION = "cloudhp_localcloud.fault_injection"
_KEYS = {"service", "methods", "path", "agent", "action", "kind", "rate", "retry_after", "delay"}


@dataclass(frozen=True)
class Rule:
    """Which requests a fault may hit, which fault, and how often."""

    kind: str
    rate: float
    service: str | None = None
    methods: frozenset[str] = frozenset()
    path: re.Pattern[str] | None = None
    agent: re.Pattern[str] | None = None
    action: str | None = None
    retry_after: int = 1
    delay: float = 0.0

    def matches(
        self,
        service_names: Sequence[str],
        method: str,
        path: str,
        agent: str,
        body_keys: Collection[str] = (),
    ) -> bool:
        """Whether the request may get this fault; `service_names` are its service's
        catalog name and types (empty outside every service), `body_keys` the keys of
        its JSON body (an action's name)."""
        if not service_names:
            return False
        if self.service is None:
            if IDENTITY in service_names:
                return False
        elif self.service not in service_names:
            return False
        if self.methods and method.upper() not in self.methods:
            return False
        if self.path is not None and not self.path.search(path):
            return False
        if self.action is not None and self.action not in body_keys:
            return False
        return self.agent is None or bool(self.agent.search(agent))

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "rate": self.rate}
        if self.service is not None:
            doc["service"] = self.service
        if self.methods:
            doc["methods"] = sorted(self.methods)
        for key, pattern in (("path", self.path), ("agent", self.agent)):
            if pattern is not None:
                doc[key] = pattern.pattern
        if self.action is not None:
            doc["action"] = self.action
        if self.kind == "429":
            doc["retry_after"] = self.retry_after
        if self.kind == "slow":
            doc["delay"] = self.delay
        return doc


def parse_rule(doc: Any) -> Rule:
    """A Rule from its mapping.

    Raises:
        ValueError: an unknown key, a missing or bad kind, a rate outside 0..1, a bad
            regex or delay.
    """
    if not isinstance(doc, dict):
        raise ValueError("a rule must be a mapping")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise ValueError(f"unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    kind = str(doc.get("kind", ""))
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {doc.get('kind')!r}")
    rate = _number(doc.get("rate"), "rate", 0.0, 1.0)
    service = doc.get("service")
    if service is not None and (not isinstance(service, str) or not service):
        raise ValueError("service must be a catalog type or name, e.g. compute")
    methods = doc.get("methods", [])
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, list) or not all(isinstance(m, str) and m for m in methods):
        raise ValueError("methods must be a list of HTTP methods")
    delay = _number(doc.get("delay", 0.0), "delay", 0.0, MAX_DELAY)
    if kind == "slow" and delay <= 0:
        raise ValueError("a slow rule needs a delay in seconds, above 0")
    retry_after = _number(doc.get("retry_after", 1), "retry_after", 0, 3600)
    if retry_after != int(retry_after):
        raise ValueError("retry_after must be whole seconds")
    action = doc.get("action")
    if action is not None and (not isinstance(action, str) or not action):
        raise ValueError("action must be the name of a server or volume action, e.g. os-stop")
    if kind == IGNORE and action is None:
        raise ValueError("an accept-and-ignore rule needs an action, e.g. action: os-stop")
    return Rule(
        kind=kind,
        rate=rate,
        service=service,
        methods=frozenset(m.upper() for m in methods),
        path=_regex(doc.get("path"), "path"),
        agent=_regex(doc.get("agent"), "agent"),
        action=action,
        retry_after=int(retry_after),
        delay=delay,
    )


def _number(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{what} must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def _regex(value: Any, what: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a regular expression")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValueError(f"{what} is not a valid regular expression: {exc}") from None


def parse_rules(doc: Any) -> tuple[tuple[Rule, ...], int | None]:
    """The rules and seed of a document `{seed: int, rules: [...]}`.

    Raises:
        ValueError: naming the rule (by its position, from 1) that is wrong.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("rules", []), list):
        raise ValueError("expected a mapping with a list under `rules`")
    unknown = sorted(set(doc) - {"seed", "rules"})
    if unknown:
        raise ValueError(f"unknown keys {', '.join(unknown)} (known: rules, seed)")
    seed = doc.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError("seed must be an integer")
    rules = []
    for number, item in enumerate(doc.get("rules", []), start=1):
        try:
            rules.append(parse_rule(item))
        except ValueError as exc:
            raise ValueError(f"rule {number}: {exc}") from None
    return tuple(rules), seed


def load(path: Path) -> tuple[tuple[Rule, ...], int | None]:
    """The rules and seed in the file at `path`.

    Raises:
        UsageError: the file cannot be read or its rules are wrong (naming the file).
    """
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the fault rules in {path}: {exc}") from None
    try:
        return parse_rules(doc)
    except ValueError as exc:
        raise UsageError(f"fault rules in {path}: {exc}") from None


class Injector:
    """The rules in force, the seeded draw and the counts; shared by request threads."""

    def __init__(self, rules: tuple[Rule, ...] = (), seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(KINDS, 0)
        self.configure(rules, seed)

    def configure(self, rules: tuple[Rule, ...], seed: int | None) -> None:
        """Put `rules` in force with a draw seeded by `seed` (random when None)."""
        with self._lock:
            self.rules = rules
            self.rules_need_body = any(r.action is not None for r in rules)
            self.seed = secrets.randbits(32) if seed is None else seed
            self._random = random.Random(self.seed)
            self._matched = [0] * len(rules)
            self._hits = [0] * len(rules)

    def decide(
        self,
        service_names: Sequence[str],
        method: str,
        path: str,
        agent: str,
        body_keys: Collection[str] = (),
    ) -> tuple[int, Rule] | None:
        """The fault this request gets (rule index, rule), or None."""
        with self._lock:
            matching = [
                (i, r)
                for i, r in enumerate(self.rules)
                if r.matches(service_names, method, path, agent, body_keys)
            ]
            if not matching:
                return None
            draw = self._random.random()
            share = 0.0
            for index, _ in matching:
                self._matched[index] += 1
            for index, rule in matching:
                share += rule.rate
                if draw < share:
                    self._hits[index] += 1
                    self._totals[rule.kind] += 1
                    return index, rule
            return None

    def report(self) -> dict[str, Any]:
        """The rules with their counts, and the faults injected since start, by kind."""
        with self._lock:
            rules = [
                {**rule.to_dict(), "matched": self._matched[i], "injected": self._hits[i]}
                for i, rule in enumerate(self.rules)
            ]
            return {"seed": self.seed, "rules": rules, "injected": dict(self._totals)}


def install(app: Flask, services: Sequence[Service], injector: Injector) -> None:
    """Adds the fault hook (app-wide: call it after the body limit, before the
    blueprints' gates are added) and the admin endpoint under /localcloud."""
    prefixes = sorted(((s.prefix, (s.name, *s.types)) for s in services), key=lambda p: -len(p[0]))

    def service_names(path: str) -> tuple[str, ...]:
        for prefix, names in prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return names
        return ()

    def inject() -> Response | None:
        decided = injector.decide(
            service_names(request.path),
            request.method,
            request.path,
            request.headers.get("User-Agent", ""),
            _body_keys() if injector.rules_need_body else (),
        )
        if decided is None:
            return None
        index, rule = decided
        number = index + 1  # rules are numbered from 1, as in parse errors
        log.info(
            "fault injected: %s on %s %s (rule %d)", rule.kind, request.method, request.path, number
        )
        if rule.kind == "slow":
            time.sleep(rule.delay)
            return None
        why = f"injected by localcloud fault rule {number}"
        if rule.kind == IGNORE:
            # A real API checks the token before it accepts anything.
            auth.validate_token(current_store(), request.headers.get("X-Auth-Token"))
            return Response(status=202)
        if rule.kind == "500":
            raise faults.Fault(
                "Unexpected API Error: the server has either erred or is incapable of "
                f"performing the requested operation ({why}).",
                code=500,
            )
        if rule.kind == "429":
            raise faults.Fault(
                f"Rate limit exceeded ({why}); retry after {rule.retry_after} s.",
                code=429,
                headers={"Retry-After": str(rule.retry_after)},
            )
        raise faults.ServiceUnavailable(f"The service is unavailable ({why}).")

    def _body_keys() -> frozenset[str]:
        data = request.get_json(force=True, silent=True) if request.method == "POST" else None
        return frozenset(data) if isinstance(data, dict) else frozenset()

    app.extensions[_EXTENSION] = injector
    app.before_request(inject)
    app.register_blueprint(_admin, url_prefix="/localcloud")


_admin = Blueprint("localcloud_faults", __name__)


def _require_admin() -> Injector:
    caller = auth.validate_token(current_store(), request.headers.get("X-Auth-Token"))
    if not caller.is_admin:
        raise faults.Forbidden("Only an admin may see or change the fault rules.")
    injector: Injector = current_app.extensions[_EXTENSION]
    return injector


@_admin.get("/faults")
def show_faults() -> Response:
    return jsonify({"faults": _require_admin().report()})


@_admin.put("/faults")
def replace_faults() -> Response:
    injector = _require_admin()
    try:
        rules, seed = parse_rules(faults.json_body())
    except ValueError as exc:
        raise faults.BadRequest(f"Invalid fault rules: {exc}") from None
    injector.configure(rules, seed)
    log.info("fault rules replaced: %d rules, seed %s", len(rules), injector.seed)
    return jsonify({"faults": injector.report()})
