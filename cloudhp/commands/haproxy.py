"""HAProxy's configuration and the ingress service's command line, as pure functions.

The ingress finds services' tasks through Swarm DNS, so its configuration is a function
of the cluster alone (and, with deployed services, of their routes) and is compared
exactly in tests.
"""

from __future__ import annotations

import hashlib

SERVICE = "cloudhp-ingress"
CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"


def haproxy_config(cluster: str) -> str:
    """The default ingress: a health endpoint and a page naming the cluster."""
    return f"""\
global
    log stdout format raw local0
    maxconn 4096
resolvers swarm
    nameserver dns 127.0.0.11:53
    hold valid 2s
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend http
    bind :80
    http-request return status 200 content-type text/plain string "ok\\n" if {{ path /healthz }}
    http-request return status 200 content-type text/plain string "cloudhp cluster {cluster}\\n"
"""


def config_name(text: str) -> str:
    return f"cloudhp-haproxy-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def service_command(image: str, config: str, network: str) -> list[str]:
    return [
        "docker", "service", "create", "--detach", "--name", SERVICE,
        "--mode", "global",
        "--constraint", "node.labels.cloudhp.ingress==true",
        "--network", network, "--endpoint-mode", "dnsrr",
        "--publish", "mode=host,target=80,published=80",
        "--config", f"source={config},target={CONFIG_PATH}",
        "--label", "cloudhp.role=ingress",
        image,
    ]  # fmt: skip
