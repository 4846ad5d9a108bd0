"""What a service is, the token catalog, and version discovery.

A service sub-package (compute/, image/, ...) exposes one `SERVICE = Service(...)`:

    bp = Blueprint("compute", __name__)     # routes relative to the prefix
    SERVICE = Service(
        name="nova", types=("compute",), prefix="/compute",
        endpoint="/compute/v2.1", blueprint=bp, fault_style=faults.NOVA,
        startup=on_startup,                 # (store, config): seed, reconcile
        reset=remove_containers,            # (config): what `localcloud reset` removes
    )

and registry.py lists it, once: in startup order (`SERVICES`) and, when it has a
`reset`, in reset order (`RESET_ORDER`). `endpoint` is the path the catalog
advertises; "{project_id}" in it is filled with the token's project (Cinder and Heat
put the project in their URL). Every route of a registered blueprint requires a valid
token unless decorated with `auth.public` (version documents are public), and a
project-scoped one unless the service sets `unscoped_tokens` (only Keystone does).

Version discovery (what keystoneauth fetches before the first real call):

    @bp.get("/")            -> versions_response([version_entry("v2.1", "/compute/v2.1/", ...)])
    @bp.get("/v2.1")        -> version_response(version_entry(...))

Microversions (compute, volume): `negotiate_microversion("compute", "2.1", "2.79",
legacy_header="X-OpenStack-Nova-API-Version")` reads the request headers and returns
the version to honour (raising 406 outside the range); `microversion_headers(...)`
gives the headers to echo on every response (app.py can add them for you with
`Service.microversion`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.store import Store

_NS = uuid.UUID("6f1c43a2-3a7e-4f59-9a0e-4b8c7a6f0c11")
INTERFACES = ("public", "internal", "admin")
DEFAULT_UPDATED = "2024-01-01T00:00:00Z"


@dataclass(frozen=True)
class Microversion:
    """Microversion range of a service; app.py echoes the headers on its responses."""

    service_type: str  # as in "OpenStack-API-Version: compute 2.79"
    min_version: str
    max_version: str
    legacy_header: str | None = None  # "X-OpenStack-Nova-API-Version"


@dataclass(frozen=True)
class Service:
    """One OpenStack service: its blueprint, where it is mounted, how it is listed."""

    name: str  # catalog name: "keystone", "nova", "cinderv3"
    types: tuple[str, ...]  # catalog types, one entry each: ("block-storage", "volumev3")
    prefix: str  # mount point: "/compute"
    endpoint: str  # advertised path, may hold "{project_id}": "/volume/v3/{project_id}"
    blueprint: Blueprint
    fault_style: str  # one of faults.STYLES
    microversion: Microversion | None = None
    # Run by create_app once the app is built, in registry.SERVICES order.
    startup: Callable[[Store, LocalCloudConfig], None] | None = None
    # Run by `localcloud reset` after the daemon stopped, in registry.RESET_ORDER;
    # it may still read the store (Store(config.db_path)); raising keeps the state.
    reset: Callable[[LocalCloudConfig], None] | None = None
    # Keystone serves unscoped tokens (listing one's projects, rescoping); every other
    # service answers them 403, as their project policies do behind keystonemiddleware.
    unscoped_tokens: bool = False


def registered_services() -> tuple[Service, ...]:
    return current_app.extensions["cloudhp_localcloud.services"]


def build_catalog(
    services: Iterable[Service], base_url: str, region: str, project_id: str | None
) -> list[dict[str, Any]]:
    """The `catalog` of a token: every service type with public/internal/admin URLs.

    IDs are derived from names so they are stable across restarts and tokens.
    """
    catalog = []
    for service in services:
        path = service.endpoint.format(project_id=project_id or "")
        url = base_url.rstrip("/") + path.rstrip("/")
        for service_type in service.types:
            endpoints = [
                {
                    "id": _stable_id(service.name, service_type, interface),
                    "interface": interface,
                    "region": region,
                    "region_id": region,
                    "url": url,
                }
                for interface in INTERFACES
            ]
            catalog.append(
                {
                    "id": _stable_id(service.name, service_type),
                    "type": service_type,
                    "name": service.name,
                    "endpoints": endpoints,
                }
            )
    return catalog


def _stable_id(*parts: str) -> str:
    return uuid.uuid5(_NS, "/".join(parts)).hex


def version_entry(
    version_id: str,
    path: str,
    *,
    status: str = "CURRENT",
    version: str = "",
    min_version: str = "",
    updated: str = DEFAULT_UPDATED,
    **extra: Any,
) -> dict[str, Any]:
    """One version in a discovery document; `path` is the version root, e.g. "/compute/v2.1/".

    The link uses the host the client called, like a service without a configured
    public endpoint, so discovery works whatever address reached us.
    """
    entry: dict[str, Any] = {
        "id": version_id,
        "status": status,
        "updated": updated,
        "links": [{"rel": "self", "href": request.host_url.rstrip("/") + path}],
    }
    if version or min_version:
        entry["version"] = version
        entry["min_version"] = min_version
    entry.update(extra)
    return entry


def versions_response(entries: list[dict[str, Any]], status: int = 300) -> Response:
    """GET on a service root: {"versions": [...]} (Nova answers 200, most others 300)."""
    response = jsonify({"versions": entries})
    response.status_code = status
    return response


def version_response(entry: dict[str, Any]) -> Response:
    """GET on a version root: {"version": {...}}."""
    return jsonify({"version": entry})


def microversion_headers(mv: Microversion, version: str) -> dict[str, str]:
    headers = {
        "OpenStack-API-Version": f"{mv.service_type} {version}",
        "Vary": "OpenStack-API-Version",
    }
    if mv.legacy_header:
        headers[mv.legacy_header] = version
        headers["Vary"] += f", {mv.legacy_header}"
    return headers


def negotiate_microversion(mv: Microversion) -> str:
    """The microversion this request asked for ("latest" -> max, none -> min).

    Raises:
        faults.NotAcceptable: the version is outside the service's range (Nova: 406).
        faults.BadRequest: the header is malformed.
    """
    asked = None
    for part in request.headers.get("OpenStack-API-Version", "").split(","):
        words = part.split()
        if len(words) == 2 and words[0].lower() == mv.service_type:
            asked = words[1]
    if asked is None and mv.legacy_header:
        asked = request.headers.get(mv.legacy_header)
    if not asked:
        return mv.min_version
    if asked.lower() == "latest":
        return mv.max_version
    try:
        wanted = _parse(asked)
    except ValueError:
        raise faults.BadRequest(f"Invalid API version request: {asked}") from None
    if not _parse(mv.min_version) <= wanted <= _parse(mv.max_version):
        raise faults.NotAcceptable(
            f"Version {asked} is not supported by the API. Minimum is "
            f"{mv.min_version} and maximum is {mv.max_version}."
        )
    return f"{wanted[0]}.{wanted[1]}"


def _parse(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def microversion_at_least(requested: str, version: str) -> bool:
    """For service code: `if microversion_at_least(g.microversion, "2.47"): ...`."""
    return _parse(requested) >= _parse(version)
