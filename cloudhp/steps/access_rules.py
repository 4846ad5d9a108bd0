"""The access rules of the cluster's application credential: the calls of the commands
that run on it unattended (scheduled teardown, sweep, the volume controller), and no
others.

Keystone (identity API v3.13+, the Train release) lets an application credential carry
access rules, {service, method, path} each; keystonemiddleware in front of every
service, and Keystone's own auth context, then refuse (401) any request of its tokens
that no rule names. Rules and `unrestricted` are independent: `unrestricted` is what
lets teardown delete the credential at all (Keystone refuses to let an application
credential manage credentials otherwise), and the rules still bound what it can do, so
the credential is made with both. An older Keystone gets a credential without rules.

A rule's path is the whole request path, endpoint prefix included ("/compute/v2.1/..."
on a DevStack-style cloud, "/v2.1/..." on another), so the rules are built from the
endpoints openstacksdk actually sends to: `Endpoint` is read from the connection,
`access_rules` (pure) does the rest. `*` matches one path segment, `**` anything.
A service is named by every type the catalog lists it under (Cinder: block-storage and
volumev3), because the middleware checks the one type its service was configured with,
which a client cannot see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from cloudhp.steps.inventory import MISSING_SERVICE

FIRST_VERSION = (3, 13)
"""The identity API version that brought access rules."""

ALIASES = {"block-storage": ("volumev3", "volumev2", "volume", "block-store")}
"""Other catalog types a service is known by (the OpenStack service-types authority);
the other services cloudhp calls have none."""

CALLS: dict[str, tuple[tuple[str, str], ...]] = {
    "compute": (
        ("GET", "/servers/*"),  # one server, and /servers/detail: every listing
        ("GET", "/servers/*/tags"),  # tags of a server listed below microversion 2.26
        ("DELETE", "/servers/*"),
        ("POST", "/servers/*/action"),  # os-stop: fencing a lost node before its volume moves
        ("POST", "/servers/*/os-volume_attachments"),  # a moved volume on its new node
        ("DELETE", "/servers/*/os-volume_attachments/*"),  # ... and off the lost one
        ("GET", "/os-keypairs/*"),
        ("DELETE", "/os-keypairs/*"),
    ),
    "network": (
        ("GET", "/floatingips"),
        ("DELETE", "/floatingips/*"),
        ("GET", "/ports"),
        ("DELETE", "/ports/*"),
        ("GET", "/security-groups"),
        ("DELETE", "/security-groups/*"),
    ),
    "block-storage": (
        ("GET", "/volumes"),  # teardown's look at what is left
        ("GET", "/volumes/*"),  # one volume, and /volumes/detail
        ("DELETE", "/volumes/*"),
        ("POST", "/volumes/*/metadata"),  # the volume controller records each step of a move
    ),
    "orchestration": (
        ("GET", "/stacks"),
        ("DELETE", "/stacks/*"),
        ("DELETE", "/stacks/*/*"),  # Heat's own form of a stack's URL: /stacks/<name>/<id>
    ),
    "image": (
        ("GET", "/images"),
        ("DELETE", "/images/*"),
        ("PUT", "/images/*/tags/*"),  # a golden image other clusters boot from is handed over
        ("DELETE", "/images/*/tags/*"),
    ),
    "identity": (
        ("GET", "/users/{user_id}/application_credentials"),
        ("DELETE", "/users/{user_id}/application_credentials/*"),  # itself, or a swept one
    ),
}
"""Per service, the calls (method, path below its endpoint) cloudhp makes on the
credential; `{user_id}` is the user the credential belongs to."""

PROXIES = {
    "compute": "compute",
    "network": "network",
    "block-storage": "block_storage",
    "image": "image",
    "orchestration": "orchestration",
    "identity": "identity",
}
"""The openstacksdk proxy of each service in CALLS."""


@dataclass(frozen=True)
class Endpoint:
    """Where one service's requests go, and the catalog types it is listed as."""

    path: str  # "/volume/v3/<project>": the endpoint's URL path, without a trailing "/"
    types: tuple[str, ...]  # ("block-storage", "volumev3")


def supports_access_rules(version: tuple[int, ...] | None) -> bool:
    return version is not None and tuple(version[:2]) >= FIRST_VERSION


def access_rules(endpoints: Mapping[str, Endpoint], user_id: str) -> list[dict[str, str]]:
    """The rules, in CALLS order; a service without an endpoint gets none (no call of
    cloudhp's can reach it)."""
    return [
        {
            "service": service_type,
            "method": method,
            "path": endpoint.path + rel.format(user_id=user_id),
        }
        for service, calls in CALLS.items()
        if (endpoint := endpoints.get(service)) is not None
        for service_type in endpoint.types
        for method, rel in calls
    ]


def catalog_types(service: str, listed: Iterable[str]) -> tuple[str, ...]:
    """The types `service` is listed under in a catalog that lists `listed`."""
    names = set(listed)
    return tuple(t for t in (service, *ALIASES.get(service, ())) if t in names)


def same_rules(have: Iterable[Mapping[str, Any]] | None, want: Iterable[Mapping[str, str]]) -> bool:
    """Whether a credential's rules (Keystone adds an id to each) are the wanted ones."""

    def key(rules: Iterable[Mapping[str, Any]] | None) -> set[tuple[str, str, str]]:
        return {(r["service"], r["method"], r["path"]) for r in rules or []}

    return key(have) == key(want)


def read_endpoints(conn: Any) -> dict[str, Endpoint]:
    """Each service's endpoint as openstacksdk resolved it (version discovery done)."""
    access = conn.session.auth.get_access(conn.session)
    listed = [entry["type"] for entry in access.service_catalog.catalog]
    found = {}
    for service, proxy in PROXIES.items():
        try:
            data = getattr(conn, proxy).get_endpoint_data()
        except MISSING_SERVICE:
            continue
        if data is None:
            continue
        found[service] = Endpoint(
            urlparse(data.url).path.rstrip("/"), catalog_types(service, listed)
        )
    return found


def identity_version(conn: Any) -> tuple[int, ...] | None:
    data = conn.identity.get_endpoint_data()
    return tuple(data.api_version) if data is not None and data.api_version else None


def wanted_rules(conn: Any) -> list[dict[str, str]] | None:
    """The credential's rules on this cloud, or None when its Keystone has none."""
    if not supports_access_rules(identity_version(conn)):
        return None
    return access_rules(read_endpoints(conn), conn.current_user_id)
