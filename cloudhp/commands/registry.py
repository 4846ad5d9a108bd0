"""The cluster registry's configuration and command lines, as pure functions.

Debian's docker-registry (distribution 2.8) with TLS and htpasswd: the certificate, its
key and the htpasswd file reach the task as Swarm secrets (never in argv, environment
or an image), the configuration as a Swarm config; each is named with a hash of its
content, so a rerun with the same files changes nothing. The steps that decide when to
run these are `cloudhp.steps.registry`.
"""

from __future__ import annotations

import hashlib

SERVICE = "cloudhp-registry"
PORT = 5000
CONFIG_TARGET = "/etc/docker/registry/config.yml"
STORAGE = "/var/lib/docker-registry"
VOLUME = "cloudhp-registry-data"
REALM = "cloudhp"
SECRETS_DIR = "/run/secrets"
CERT_SECRET = "registry.crt"
KEY_SECRET = "registry.key"
HTPASSWD_SECRET = "registry.htpasswd"
CERTS_D = "/etc/docker/certs.d"


def registry_config() -> str:
    """The registry's config.yml.

    Written here rather than taking Debian's: its htpasswd path is a directory, which
    fails every request. The registry always listens on 5000 inside its task; the port
    the cluster sees is the published one (`service_command`).
    """
    return f"""\
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {STORAGE}
  delete:
    enabled: true
http:
  addr: :{PORT}
  headers:
    X-Content-Type-Options: [nosniff]
  tls:
    certificate: {SECRETS_DIR}/{CERT_SECRET}
    key: {SECRETS_DIR}/{KEY_SECRET}
auth:
  htpasswd:
    realm: {REALM}
    path: {SECRETS_DIR}/{HTPASSWD_SECRET}
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


def object_name(kind: str, content: bytes) -> str:
    """A Swarm secret or config name that changes with its content (they are immutable)."""
    return f"{SERVICE}-{kind}-{hashlib.sha256(content).hexdigest()[:12]}"


def service_command(
    image: str, node_hostname: str, secrets: dict[str, str], config: str, port: int = PORT
) -> list[str]:
    """The registry service, pinned to one node because its storage is that node's volume.

    `secrets` maps the file name in /run/secrets (registry.crt, ...) to the Swarm secret;
    `config` is the Swarm config holding `registry_config()`. Host-mode publishing: the
    nodes reach the registry at the node's own address, with no routing mesh (this
    machine's kernels have no IPVS, and a pinned service needs none).
    """
    argv = [
        "docker", "service", "create", "--detach", "--name", SERVICE,
        "--constraint", f"node.hostname=={node_hostname}",
        "--publish", f"mode=host,target={PORT},published={port}",
        "--endpoint-mode", "dnsrr",
        "--mount", f"type=volume,source={VOLUME},target={STORAGE}",
        "--config", f"source={config},target={CONFIG_TARGET}",
        "--label", "cloudhp.role=registry",
    ]  # fmt: skip
    for target, name in sorted(secrets.items()):
        argv += ["--secret", f"source={name},target={target}"]
    return [*argv, image]


def login_command(address: str, username: str) -> list[str]:
    """The password comes on stdin, never in argv (argv is visible in `ps` to every user)."""
    return ["docker", "login", "--username", username, "--password-stdin", address]


def ca_path(address: str) -> str:
    """Where an engine looks for the CA of `address`; read per connection, no restart."""
    return f"{CERTS_D}/{address}/ca.crt"


def trust_command(address: str) -> list[str]:
    """Install the CA read from stdin as `address`'s CA; prints `unchanged` or `changed`.

    One round trip per node: compare, then write through a temporary file renamed into
    place (an engine pulling meanwhile never reads half a certificate). `sudo -n` only
    when not root, so a missing sudo rule fails at once instead of asking for a password.
    """
    script = (
        'set -eu; t="$1"; new="$(mktemp)"; trap \'rm -f "$new"\' EXIT; cat > "$new"; '
        'if cmp -s "$new" "$t"; then echo unchanged; exit 0; fi; '
        's=""; [ "$(id -u)" = 0 ] || s="sudo -n"; '
        '$s mkdir -p "$(dirname "$t")"; '
        '$s install -m 0644 "$new" "$t.new"; $s mv -f "$t.new" "$t"; echo changed'
    )
    return ["sh", "-c", script, "sh", ca_path(address)]


def probe_command(address: str) -> list[str]:
    """The HTTP status of an anonymous `GET /v2/`, verified against the cluster CA.

    A registry that is up and enforcing auth answers 401; anything else (000 while the
    task starts, a TLS failure, a 200 from a registry without auth) is not ready.
    """
    return [
        "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
        "--cacert", ca_path(address), f"https://{address}/v2/",
    ]  # fmt: skip


def manifest_command(ref: str) -> list[str]:
    """Exits 0 when the registry holds `ref`, with the credentials of `docker login`."""
    return ["docker", "manifest", "inspect", ref]


def tasks_command() -> list[str]:
    """The registry's tasks and their errors, for the message when it never answers."""
    return [
        "docker", "service", "ps", "--no-trunc",
        "--format", "{{.Node}} {{.CurrentState}} {{.Error}}", SERVICE,
    ]  # fmt: skip
