"""The localcloud WSGI app: every service on one port, under DevStack-style prefixes.

To add a service, write its sub-package (see catalog.py for what `SERVICE` holds) and
list it in registry.py. `create_app` then, for each service, in registry order:

- mounts its blueprint at `Service.prefix`;
- runs `auth.require_project_token` (Keystone: `auth.require_token`, which admits
  unscoped tokens) before each of its views not marked `@auth.public`;
- negotiates its microversion (`g.microversion`) and echoes the headers when
  `Service.microversion` is set;
- renders `faults.Fault`, routing errors and crashes in its `fault_style`;
- lists it in the catalog of every token;
- runs its `Service.startup(store, config)` once the app is built.

Before any of that, `bodies.limit_body` refuses bodies too large (413) or nested too
deeply (400) on every URL, then `fault_injection` may answer 503, 429 or slowly, as
the rules in `config.faults_path` say (none by default; admin endpoint /localcloud/faults).

Service code reaches shared state through `current_store()` (store.py),
`current_config()` (config.py) and `flask.g` (auth.py).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from cloudhp_localcloud import auth, bodies, dockerlabels, fault_injection, faults, registry
from cloudhp_localcloud.catalog import Service, microversion_headers, negotiate_microversion
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.store import Store

log = logging.getLogger(__name__)


def create_app(config: LocalCloudConfig, services: list[Service] | None = None) -> Flask:
    """A ready app over `config.data_dir` (created, seeded on first use).

    `services` replaces registry.SERVICES (tests serve a few made-up ones).
    """
    services = list(registry.SERVICES if services is None else services)
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    dockerlabels.bind(config.data_dir)
    store = Store(config.db_path)

    app = Flask("cloudhp_localcloud")
    app.config["LOCALCLOUD"] = config
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["cloudhp_localcloud.store"] = store
    app.extensions["cloudhp_localcloud.services"] = tuple(services)

    app.before_request(bodies.limit_body)  # app-wide hooks run before blueprints'
    rules, seed = fault_injection.load(config.faults_path) if config.faults_path else ((), None)
    fault_injection.install(app, services, fault_injection.Injector(rules, seed))
    styles: dict[str, str] = {}
    for service in services:
        bp = service.blueprint
        styles[bp.name] = service.fault_style
        app.register_blueprint(bp, url_prefix=service.prefix)
        gate = auth.require_token if service.unscoped_tokens else auth.require_project_token
        app.before_request_funcs.setdefault(bp.name, []).append(gate)
        if service.microversion is not None:
            _add_microversion(app, service)
    prefixes = sorted(((s.prefix, s.fault_style) for s in services), key=lambda p: -len(p[0]))

    def style_of_request() -> str:
        if request.blueprint in styles:
            return styles[request.blueprint]
        for prefix, style in prefixes:
            if request.path == prefix or request.path.startswith(prefix + "/"):
                return style
        return faults.KEYSTONE

    @app.errorhandler(faults.Fault)
    def on_fault(exc: faults.Fault) -> Response:
        return faults.render(exc, style_of_request())

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException) -> Response:
        return faults.render(faults.from_http_exception(exc), style_of_request())

    @app.errorhandler(Exception)
    def on_crash(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        fault = faults.Fault(
            "An unexpected error prevented the server from fulfilling your request."
        )
        return faults.render(fault, style_of_request())

    @app.after_request
    def request_id(response: Response) -> Response:
        response.headers.setdefault("X-Openstack-Request-Id", f"req-{_request_id()}")
        return response

    for service in services:
        if service.startup is not None:
            service.startup(store, config)
    return app


def _add_microversion(app: Flask, service: Service) -> None:
    mv = service.microversion
    assert mv is not None

    def negotiate() -> None:
        g.microversion = mv.min_version
        g.microversion = negotiate_microversion(mv)

    def echo(response: Response) -> Response:
        for key, value in microversion_headers(mv, g.get("microversion", mv.min_version)).items():
            response.headers[key] = value
        return response

    app.before_request_funcs.setdefault(service.blueprint.name, []).append(negotiate)
    app.after_request_funcs.setdefault(service.blueprint.name, []).append(echo)


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())
