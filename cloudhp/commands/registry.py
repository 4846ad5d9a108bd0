"""The cluster registry's configuration and command lines, as pure functions.

Debian's docker-registry (distribution 2.8) with TLS and htpasswd: the certificate, its
key and the htpasswd file reach the task as Swarm secrets (never in argv, environment
or an image), the configuration as a Swarm config; each is named with a hash of its
content, so a rerun with the same files changes nothing.
"""

from __future__ import annotations

import hashlib

SERVICE = "cloudhp-registry"
PORT = 5000
CONFIG_TARGET = "/etc/docker/registry/config.yml"
STORAGE = "/var/lib/docker-registry"
VOLUME = "cloudhp-registry-data"


def registry_config() -> str:
    return f"""\
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {STORAGE}
  delete:
    enabled: true
http:
  addr: :{PORT}
  tls:
    certificate: /run/secrets/registry.crt
    key: /run/secrets/registry.key
auth:
  htpasswd:
    realm: cloudhp
    path: /run/secrets/registry.htpasswd
"""


def object_name(kind: str, content: bytes) -> str:
    """A Swarm secret or config name that changes with its content (they are immutable)."""
    return f"{SERVICE}-{kind}-{hashlib.sha256(content).hexdigest()[:12]}"


def service_command(
    image: str, node_hostname: str, secrets: dict[str, str], config: str
) -> list[str]:
    """`secrets` maps the file name in /run/secrets (registry.crt, ...) to the secret."""
    argv = [
        "docker", "service", "create", "--detach", "--name", SERVICE,
        "--constraint", f"node.hostname=={node_hostname}",
        "--publish", f"mode=host,target={PORT},published={PORT}",
        "--endpoint-mode", "dnsrr",
        "--mount", f"type=volume,source={VOLUME},target={STORAGE}",
        "--config", f"source={config},target={CONFIG_TARGET}",
        "--label", "cloudhp.role=registry",
    ]  # fmt: skip
    for target, name in sorted(secrets.items()):
        argv += ["--secret", f"source={name},target={target}"]
    return [*argv, image]


def login_command(address: str, username: str) -> list[str]:
    """The password comes on stdin, never in argv."""
    return ["docker", "login", "--username", username, "--password-stdin", address]
