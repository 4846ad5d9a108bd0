"""The cluster registry's configuration and command lines, as pure functions.

Debian's docker-registry (distribution 2.8) with TLS and htpasswd: the certificate, its
key and the htpasswd file reach the task as Swarm secrets (never in argv, environment
or an image), the configuration as a Swarm config; each is named with a hash of its
content, so a rerun with the same files changes nothing. The steps that decide when to
run these are `cloudhp.steps.registry`.

Its storage is a cloudhp block volume like a service's (`cloudhp.commands.volumes`),
so the images survive the loss of the node holding it: the service is constrained to
the volume's placement label and bind-mounts its `data/`. Nodes reach it by a name,
`registry.<cluster>.cloudhp.internal`, that a cloudhp-managed line of each node's
/etc/hosts points at the holder's private IP (no routing mesh here: an address must
be a node's); the certificate, /etc/docker/certs.d and every image reference use the
name, so a move changes one line per node and nothing else.
"""

from __future__ import annotations

import hashlib

from cloudhp.commands.volumes import data_dir, placement_constraint

SERVICE = "cloudhp-registry"
PORT = 5000
CONFIG_TARGET = "/etc/docker/registry/config.yml"
STORAGE = "/var/lib/docker-registry"
VOLUME_PROJECT = "cloudhp"
VOLUME_NAME = "registry"
VOLUME = f"{VOLUME_PROJECT}_{VOLUME_NAME}"  # its logical name: labels, paths, `cloudhp volumes`
VOLUME_SIZE_GB = 1
HOSTS_FILE = "/etc/hosts"
HOSTS_MARK = "# cloudhp registry"
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


def hostname(cluster: str) -> str:
    """The registry's name on every node and the bastion; per cluster, so that a
    bastion serving several clusters keeps one hosts line and one CA for each."""
    return f"registry.{cluster}.cloudhp.internal"


def address(cluster: str) -> str:
    """What engines connect to and image references begin with: `<hostname>:5000`."""
    return f"{hostname(cluster)}:{PORT}"


def hosts_line(name: str, ip: str) -> str:
    """The managed /etc/hosts line: the registry's name at its holder's address."""
    return f"{ip} {name} {HOSTS_MARK}"


def hosts_command(name: str, ip: str | None, path: str = HOSTS_FILE) -> list[str]:
    """Point `name` at `ip` in the hosts file (remove it when `ip` is None); prints
    `unchanged` or `changed`.

    Every line naming `name` (outside comments) is dropped and the managed line
    appended; the file is written only when that differs. It is rewritten in place
    (`cat > file`, keeping its inode), never renamed over: in a container /etc/hosts
    is a bind mount, which a rename (`sed -i`, `mv`) cannot replace. `sudo -n` only
    when not root.
    """
    script = (
        'set -eu; f="$1"; n="$2"; line="$3"; new="$(mktemp)"; trap \'rm -f "$new"\' EXIT; '
        'awk -v n="$n" \'/^[[:space:]]*#/ {print; next} '
        '{for (i = 2; i <= NF && substr($i, 1, 1) != "#"; i++) if ($i == n) next; print}\' '
        '"$f" > "$new"; '
        '[ -z "$line" ] || printf "%s\\n" "$line" >> "$new"; '
        'if cmp -s "$new" "$f"; then echo unchanged; exit 0; fi; '
        's=""; [ "$(id -u)" = 0 ] || s="sudo -n"; '
        '$s sh -c \'cat "$1" > "$2"\' sh "$new" "$f"; echo changed'
    )
    line = hosts_line(name, ip) if ip is not None else ""
    return ["sh", "-c", script, "sh", path, name, line]


def owner_command(image: str) -> list[str]:
    """Give the registry's data directory to the image's user (it runs as Debian's
    docker-registry, not root); prints `unchanged` or `changed`.

    mkfs leaves `data/` to root, so a root-owned one is one cloudhp just made: only
    then is the user asked of the image (`id` in a throw-away container of it). The
    ownership lives on the volume's filesystem, so it follows the volume.
    """
    script = (
        'set -eu; dir="$1"; image="$2"; '
        'if [ "$(stat -c %u "$dir")" != 0 ]; then echo unchanged; exit 0; fi; '
        'owner="$(docker run --rm --entrypoint sh "$image" -c \'echo "$(id -u):$(id -g)"\')"; '
        'chown "$owner" "$dir"; echo changed'
    )
    return ["sudo", "-n", "sh", "-c", script, "sh", data_dir(VOLUME), image]


def object_name(kind: str, content: bytes) -> str:
    """A Swarm secret or config name that changes with its content (they are immutable)."""
    return f"{SERVICE}-{kind}-{hashlib.sha256(content).hexdigest()[:12]}"


def storage_mount() -> str:
    """The volume's `data/` on its holder as the registry's storage directory."""
    return f"type=bind,source={data_dir(VOLUME)},target={STORAGE}"


def service_command(
    image: str, secrets: dict[str, str], config: str, port: int = PORT
) -> list[str]:
    """The registry service, on the node that holds its volume (the placement label).

    `secrets` maps the file name in /run/secrets (registry.crt, ...) to the Swarm secret;
    `config` is the Swarm config holding `registry_config()`. Host-mode publishing: the
    nodes reach the registry at the holder's own address, with no routing mesh (this
    machine's kernels have no IPVS, and a service on one node needs none).
    """
    argv = [
        "docker", "service", "create", "--detach", "--name", SERVICE,
        "--constraint", placement_constraint(VOLUME),
        "--publish", f"mode=host,target={PORT},published={port}",
        "--endpoint-mode", "dnsrr",
        "--mount", storage_mount(),
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
