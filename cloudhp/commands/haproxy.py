"""HAProxy's configuration and the ingress service's command line, as pure functions.

The ingress finds services' tasks through Swarm DNS, so its configuration is a function
of the cluster and of the deployed services' routes alone: scaling a service changes
nothing here (its tasks fill the server-template slots), and only a route added,
removed or changed makes a new text, which `steps.ingress.apply_routes` validates and
reloads without dropping a connection. The text is deterministic (routes sorted by
name) so that "no change" is a string comparison and tests compare it exactly.

HAProxy reads the file from the ingress node's disk (`HOST_DIR`, bind-mounted read-only
at `CONFIG_DIR`), not from a Swarm config: a Swarm config cannot change in place, and
changing a service's config makes Swarm replace its task, which with a host-mode port
means stop-then-start, i.e. refused connections.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cloudhp.errors import UsageError

SERVICE = "cloudhp-ingress"
CONFIG_DIR = "/usr/local/etc/haproxy"
CONFIG_FILE = "haproxy.cfg"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_FILE}"
HOST_DIR = "/etc/cloudhp/ingress"
"""Where the configuration lives on each ingress node; a directory (not a file) is
mounted so that an atomic rename on the host is seen by the running container."""
STATS_SOCKET = "/run/haproxy/admin.sock"
"""The runtime API inside the container (never published); the reload uses it to save
server states first."""
SERVER_STATE_FILE = "/var/lib/haproxy/server-state"
"""Where `show servers state` is saved before a reload, inside the container. A new
worker otherwise starts with every templated server unresolved (`init-addr none`) and
answers 503 until its first DNS round; with the saved state (`init-addr last`) it
starts with the old worker's addresses and health (HAProxy's documented way to keep
server state across reloads: `server-state-file`, `load-server-state-from-file`)."""
STATS_PORT = 8404
"""Stats page and Prometheus metrics; not published, so only the overlay network
(the cluster) reaches it."""

CONFIG_HEADER = "X-Cloudhp-Config"
"""`/healthz` answers with the digest of the configuration the answering worker loaded,
so each ingress node reports what it really runs (not what its file says)."""
_DIGEST_SLOT = "@CONFIG_DIGEST@"

MAX_NAME = 32
MAX_SLOTS = 1000
_NAME = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_DNS_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$"
)
# A health path goes verbatim on an `option httpchk` line: no spaces, quotes, comment
# or escape characters, which HAProxy's tokenizer would interpret.
_HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")
_NAME_RULE = (
    "a route name begins with a lower-case letter, contains only a-z, 0-9 and '-', "
    f"ends with a letter or a digit and has at most {MAX_NAME} characters"
)
RESERVED_NAMES = frozenset({"healthz"})
"""First path segments HAProxy answers itself; a route there would never be reached."""

IDEMPOTENT_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
"""RFC 9110 idempotent methods (TRACE aside): only these are replayed on another task
after the request was sent; anything else is retried only when it never left HAProxy."""


@dataclass(frozen=True)
class Route:
    """One deployed service as the ingress sees it.

    Validated on construction, because every field ends up verbatim in HAProxy's
    configuration: a name that broke its syntax would break every other route too.
    """

    name: str  # public name <project>-<service>, also the path segment
    backend: str  # DNS name to resolve, e.g. "tasks.shop_api"
    port: int
    hosts: tuple[str, ...] = ()
    health_path: str | None = None  # GET check path; default /<name>
    slots: int = 10  # server-template size (scaling needs no reload up to this)

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not _NAME.fullmatch(self.name)
            or len(self.name) > MAX_NAME
        ):
            raise UsageError(
                f"route name {self.name!r} is not valid: {_NAME_RULE}",
                hint="use the service's public name <project>-<service>, e.g. shop-api",
            )
        if self.name in RESERVED_NAMES:
            raise UsageError(
                f"route name {self.name!r} is reserved: the ingress answers /{self.name} itself",
                hint="rename the service",
            )
        if (
            not isinstance(self.backend, str)
            or len(self.backend) > 253
            or not _DNS_NAME.fullmatch(self.backend)
        ):
            raise UsageError(
                f"route {self.name}: backend {self.backend!r} is not a DNS name",
                hint="use tasks.<swarm service name>, e.g. tasks.shop_api",
            )
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise UsageError(f"route {self.name}: port {self.port!r} is not an integer")
        if not 1 <= self.port <= 65535:
            raise UsageError(f"route {self.name}: port {self.port} is not within 1-65535")
        if isinstance(self.slots, bool) or not isinstance(self.slots, int):
            raise UsageError(f"route {self.name}: slots {self.slots!r} is not an integer")
        if not 1 <= self.slots <= MAX_SLOTS:
            raise UsageError(f"route {self.name}: slots {self.slots} is not within 1-{MAX_SLOTS}")
        if not isinstance(self.hosts, tuple):
            raise UsageError(f"route {self.name}: hosts must be a tuple, not {self.hosts!r}")
        for host in self.hosts:
            if not isinstance(host, str) or not _HOST.fullmatch(host):
                raise UsageError(
                    f"route {self.name}: host {host!r} is not a lower-case DNS host name",
                    hint="give host names like shop.example.com, without port or scheme",
                )
        if len(set(self.hosts)) != len(self.hosts):
            raise UsageError(f"route {self.name}: a host name is listed twice: {self.hosts}")
        if self.health_path is not None and (
            not isinstance(self.health_path, str)
            or len(self.health_path) > 1024
            or not _HEALTH_PATH.fullmatch(self.health_path)
        ):
            raise UsageError(
                f"route {self.name}: health path {self.health_path!r} is not a URL path",
                hint="a path begins with '/' and has no spaces, quotes, '#' or '\\'",
            )

    @property
    def check_path(self) -> str:
        return self.health_path if self.health_path is not None else f"/{self.name}"


def _check_routes(routes: Sequence[Route]) -> list[Route]:
    """Sorted routes; two routes claiming one name or one host would make HAProxy pick
    one of them silently, so that is refused here instead."""
    by_name: dict[str, Route] = {}
    host_owner: dict[str, str] = {}
    for route in routes:
        if route.name in by_name:
            raise UsageError(f"two routes are named {route.name!r}")
        by_name[route.name] = route
        for host in route.hosts:
            if host in host_owner:
                raise UsageError(
                    f"host {host!r} is claimed by routes {host_owner[host]!r} and {route.name!r}"
                )
            host_owner[host] = route.name
    return [by_name[n] for n in sorted(by_name)]


def _check_cluster(cluster: str) -> None:
    if not _NAME.fullmatch(cluster):
        raise UsageError(
            f"cluster name {cluster!r} cannot appear in the ingress configuration",
            hint="cluster names begin with a letter and contain only a-z, 0-9 and '-'",
        )


_GLOBAL = f"""\
global
    master-worker
    log stdout format raw local0
    maxconn 4096
    hard-stop-after 60s
    stats socket {STATS_SOCKET} mode 600 level admin
    server-state-file {SERVER_STATE_FILE}
resolvers swarm
    nameserver dns 127.0.0.11:53
    accepted_payload_size 8192
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold valid 1s
    hold obsolete 2s
    hold other 2s
    hold refused 2s
    hold nx 2s
    hold timeout 2s
defaults
    mode http
    log global
    option httplog
    option dontlognull
    option dontlog-normal
    option forwardfor
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 10s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    load-server-state-from-file global
frontend stats
    bind :{STATS_PORT}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
    stats refresh 10s
frontend http
    bind :80
    http-request disable-l7-retry if !{{ method {" ".join(IDEMPOTENT_METHODS)} }}
    http-request return status 200 content-type text/plain string "ok\\n" \
hdr {CONFIG_HEADER} {_DIGEST_SLOT} if {{ path /healthz }}
"""


def _frontend_rules(routes: Sequence[Route]) -> list[str]:
    """Host rules first (a host given to a service belongs to it, whatever the path),
    then the exact first path segment: `/x` or `/x/...`, never `/xy`."""
    lines: list[str] = []
    for r in routes:
        if r.hosts:
            lines.append(f"    acl host_{r.name} req.hdr(host),field(1,:) -i {' '.join(r.hosts)}")
        lines.append(f"    acl path_{r.name} path /{r.name}")
        lines.append(f"    acl path_{r.name} path_beg /{r.name}/")
    for r in routes:
        if r.hosts:
            lines.append(f"    use_backend be_{r.name} if host_{r.name}")
    for r in routes:
        lines.append(f"    use_backend be_{r.name} if path_{r.name}")
    lines.append("    default_backend fallback")
    return lines


def _backend(r: Route) -> list[str]:
    return [
        f"backend be_{r.name}",
        "    balance roundrobin",
        f"    option httpchk GET {r.check_path}",
        "    http-check expect status 200-399",
        f"    server-template task {r.slots} {r.backend}:{r.port} check inter 1s fastinter 500ms"
        " downinter 2s fall 2 rise 2 resolvers swarm resolve-prefer ipv4 init-addr last,none",
    ]


def _fallback(cluster: str) -> list[str]:
    """What no route claims: the cluster's page at `/`, else a 404 that names nothing
    (no list of routes: what is deployed is not the visitor's business)."""
    return [
        "backend fallback",
        "    http-request return status 200 content-type text/plain"
        f' string "cloudhp cluster {cluster}\\n" if {{ path / }}',
        '    http-request return status 404 content-type text/plain string "not found\\n"',
    ]


def ingress_config(cluster: str, routes: Sequence[Route]) -> str:
    """The whole HAProxy configuration for `cluster` serving `routes` (any order).

    The text carries its own digest (computed with a placeholder in its place), which
    `/healthz` returns in `CONFIG_HEADER`.
    """
    _check_cluster(cluster)
    ordered = _check_routes(routes)
    lines = [*_frontend_rules(ordered)]
    for r in ordered:
        lines += _backend(r)
    lines += _fallback(cluster)
    text = _GLOBAL + "\n".join(lines) + "\n"
    return text.replace(_DIGEST_SLOT, config_digest(text))


def config_digest(text: str) -> str:
    """A short content hash, for reporting which configuration a node runs."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


_EMBEDDED = re.compile(rf"\bhdr {CONFIG_HEADER} ([0-9a-f]{{12}})\b")


def embedded_digest(text: str) -> str | None:
    """The digest an `ingress_config` text reports once loaded (None: not one of ours)."""
    found = _EMBEDDED.search(text)
    return found.group(1) if found else None


def service_command(image: str, network: str) -> list[str]:
    """`docker service create` for the ingress: global on labelled nodes, port 80 in
    host mode, the configuration directory bind-mounted read-only from the node."""
    return [
        "docker", "service", "create", "--detach", "--name", SERVICE,
        "--mode", "global",
        "--constraint", "node.labels.cloudhp.ingress==true",
        "--network", network, "--endpoint-mode", "dnsrr",
        "--publish", "mode=host,target=80,published=80",
        "--mount", f"type=bind,source={HOST_DIR},target={CONFIG_DIR},readonly",
        "--label", "cloudhp.role=ingress",
        image,
    ]  # fmt: skip
