"""The cluster's own registry: a per-cluster CA, TLS, htpasswd, a Swarm service.

Nothing can be pulled from outside here, and a real cluster should not depend on a
public registry for the user's own images either. The CA, the server certificate and
the htpasswd password are generated on the bastion and kept 0600 in the cluster
directory; every node trusts the CA through /etc/docker/certs.d/<address>/ (engines
read it per connection, so no restart) and finds the registry's name through a
managed /etc/hosts line (`cloudhp.commands.registry`), and the lead manager logs in (password on
stdin) so that `docker stack deploy --with-registry-auth` hands the nodes what they
need to pull. The password is in no argv, log line, error text or container
environment: it travels only on stdin, and the registry sees only its bcrypt hash.
"""

from __future__ import annotations

import datetime
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import docker
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudhp.commands.registry import (
    CERT_SECRET,
    HTPASSWD_SECRET,
    KEY_SECRET,
    PORT,
    SERVICE,
    VOLUME,
    hosts_command,
    login_command,
    manifest_command,
    object_name,
    owner_command,
    probe_command,
    registry_config,
    service_command,
    storage_mount,
    tasks_command,
    trust_command,
)
from cloudhp.commands.volumes import placement_constraint
from cloudhp.errors import WaitTimeout
from cloudhp.keys import write_private
from cloudhp.polling import poll_until
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.runner import Runner

USERNAME = "cloudhp"
FILES = ("ca.crt", "ca.key", "server.crt", "server.key", "htpasswd", "password")
CA_DAYS = 3650
SERVER_DAYS = 1825
RENEW_BEFORE = datetime.timedelta(days=30)
READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class RegistryInfo:
    address: str  # "registry.<cluster>.cloudhp.internal:5000": its name and published port
    username: str


def registry_dir(workdir: Path) -> Path:
    return workdir / "registry"


# --- files on the bastion ---------------------------------------------------------


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public(key: object) -> bytes:
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_pair(
    cert_path: Path, key_path: Path
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """A certificate and its key, or None when either is missing, unreadable or they
    do not belong together (a run killed between writing the two)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if _public(key.public_key()) != _public(cert.public_key()):
        return None
    return cert, key


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    """A CA signs certificates; the server only signs its TLS handshakes (EC keys)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey, subject: str) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    name: str,
) -> x509.Certificate:
    """For the registry at `name`: clients connect by that name (wherever it points),
    so the SAN is that DNS entry and nothing else; a move needs no new certificate."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name)]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )


def subject_names(cert: x509.Certificate) -> set[str]:
    """The certificate's SAN entries as text (DNS names and IP addresses alike)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.value.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.value.get_values_for_type(x509.IPAddress)
    }


def _serves(cert: x509.Certificate, ca: x509.Certificate, name: str) -> bool:
    """Whether `cert` still does: signed by this CA, for exactly this name (an earlier
    certificate for the lead's IP is reissued), not about to expire."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    expires = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    return subject_names(cert) == {name} and expires > RENEW_BEFORE


def _password_matches(password_path: Path, htpasswd_path: Path) -> bool:
    try:
        password = password_path.read_bytes()
        user, hashed = htpasswd_path.read_text().strip().split(":", 1)
        return user == USERNAME and bcrypt.checkpw(password, hashed.encode())
    except (OSError, ValueError):
        return False


def ensure_registry_files(workdir: Path, name: str) -> bool:
    """CA, server certificate for the name `name`, htpasswd in workdir/registry, 0600.

    Each file is written atomically (`write_private`); a pair half-written by a killed
    run is detected (key and certificate disagree, or password and hash do) and made
    again. The CA is kept as long as it is whole, so nodes keep trusting it; a new
    name gets a new server certificate from the same CA. False when nothing changed.
    """
    path = {name: registry_dir(workdir) / name for name in FILES}
    changed = False
    ca_pair = _load_pair(path["ca.crt"], path["ca.key"])
    if ca_pair is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _ca_certificate(ca_key, f"cloudhp registry CA {workdir.name}")
        write_private(path["ca.key"], _pem_key(ca_key))
        write_private(path["ca.crt"], ca.public_bytes(serialization.Encoding.PEM))
        ca_pair = ca, ca_key
        changed = True
    ca, ca_key = ca_pair
    server = _load_pair(path["server.crt"], path["server.key"])
    if server is None or not _serves(server[0], ca, name):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_certificate(key, ca, ca_key, name)
        write_private(path["server.key"], _pem_key(key))
        write_private(path["server.crt"], cert.public_bytes(serialization.Encoding.PEM))
        changed = True
    if not _password_matches(path["password"], path["htpasswd"]):
        password = secrets.token_urlsafe(24)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
        write_private(path["password"], password.encode())
        write_private(path["htpasswd"], f"{USERNAME}:{hashed}\n".encode())
        changed = True
    return changed


# --- nodes ------------------------------------------------------------------------


def trust_on_nodes(runners: Sequence[Runner], workdir: Path, address: str) -> bool:
    """Each node's engine trusts the cluster CA for `address`; False when all already did.

    The CA goes on stdin to a script that compares before writing (sudo only when the
    SSH user is not root), so an unchanged node costs one round trip and no write.
    """
    ca = (registry_dir(workdir) / "ca.crt").read_bytes()

    def trust(runner: Runner) -> bool:
        out = runner.run_with_input(trust_command(address), [ca]).stdout.split()
        return out[-1:] == ["changed"]

    return any(in_parallel(trust, runners))


def point_host(runner: Runner, name: str, ip: str | None) -> bool:
    """The node's /etc/hosts line for `name` says `ip` (none when None); False when it did."""
    return runner.run(hosts_command(name, ip)).stdout.split()[-1:] == ["changed"]


def point_hosts(runners: Sequence[Runner], name: str, ip: str) -> bool:
    """Every node resolves `name` to `ip`; False when all already did."""
    return any(in_parallel(lambda r: point_host(r, name, ip), runners))


def own_storage(holder: Runner, image: str) -> bool:
    """The registry's data directory on its holder belongs to the registry's user."""
    return holder.run(owner_command(image)).stdout.split()[-1:] == ["changed"]


def _ensure_object(lead: Runner, command: str, kind: str, content: bytes) -> str:
    """A Swarm secret or config with this content (created once, named by its hash).

    The content goes on stdin: `docker secret create NAME -` keeps it out of argv.
    """
    name = object_name(kind, content)
    names = lead.run(["docker", command, "ls", "--format", "{{.Name}}"]).stdout.split()
    if name not in names:
        lead.run_with_input(["docker", command, "create", name, "-"], [content])
    return name


def _remove_unused(lead: Runner, command: str, keep: set[str]) -> None:
    """Secrets and configs of an earlier registry service, now referenced by nothing."""
    names = lead.run(["docker", command, "ls", "--format", "{{.Name}}"]).stdout.split()
    stale = [n for n in names if n.startswith(f"{SERVICE}-") and n not in keep]
    if stale:
        # Swarm refuses to remove one still in use; that one is left for the next run.
        lead.run(["docker", command, "rm", *stale], check=False)


def _mounts(task: dict[str, object]) -> list[str]:
    """The task's mounts in `--mount` syntax, to compare with `storage_mount()`."""
    found = task.get("Mounts") or []
    assert isinstance(found, list)
    return [f"type={m['Type']},source={m['Source']},target={m['Target']}" for m in found]


def _service_matches(
    lead: Runner, image: str, secret_names: dict[str, str], config: str
) -> bool | None:
    """None when there is no registry service; else whether it is exactly this one."""
    found = lead.run(
        ["docker", "service", "inspect", "--format", "{{json .Spec}}", SERVICE], check=False
    )
    if found.exited != 0:
        return None
    spec = json.loads(found.stdout)
    task = spec["TaskTemplate"]["ContainerSpec"]
    placement = spec["TaskTemplate"].get("Placement") or {}
    have_secrets = {s["File"]["Name"]: s["SecretName"] for s in task.get("Secrets") or []}
    have_configs = [c["ConfigName"] for c in task.get("Configs") or []]
    ports = [
        (p.get("TargetPort"), p.get("PublishedPort"))
        for p in (spec.get("EndpointSpec") or {}).get("Ports") or []
    ]
    return (
        task["Image"].split("@")[0] == image
        and have_secrets == secret_names
        and have_configs == [config]
        and placement.get("Constraints") == [placement_constraint(VOLUME)]
        and _mounts(task) == [storage_mount()]
        and ports == [(PORT, PORT)]
    )


def _wait_ready(lead: Runner, address: str) -> None:
    def answers() -> bool:
        return lead.run(probe_command(address), check=False).stdout.strip() == "401"

    try:
        poll_until(
            answers,
            timeout=READY_TIMEOUT,
            interval=1.0,
            what=f"the cluster registry at https://{address}/v2/ answering 401",
        )
    except WaitTimeout as exc:
        tasks = lead.run(tasks_command(), check=False).stdout.strip() or "no tasks"
        raise WaitTimeout(
            f"{exc.message}; its tasks:\n{tasks}",
            hint=f"`docker service logs {SERVICE}` on the lead manager shows why",
        ) from exc


def ensure_registry(
    lead: Runner, workdir: Path, image: str, name: str
) -> tuple[RegistryInfo, bool]:
    """The registry service on its volume's holder, answering at `name`, the lead
    logged in.

    Self-contained, so that any order of steps works: it makes the files if missing and
    trusts the CA on the lead (its own probe and login verify TLS). The volume must be
    ready and placed, and the lead's /etc/hosts point `name` at its holder. The service
    is left alone when it runs this image with these secrets, config, constraint and
    mount; otherwise it is replaced (the volume keeps the images). `image` must be on
    the holder's engine already. It then waits until an anonymous `GET /v2/` gets 401
    (up, TLS good, auth enforced) and logs the lead in, so `--with-registry-auth` has
    credentials.
    """
    folder = registry_dir(workdir)
    address = f"{name}:{PORT}"
    changed = ensure_registry_files(workdir, name)
    changed = trust_on_nodes([lead], workdir, address) or changed
    secret_files = {
        CERT_SECRET: folder / "server.crt",
        KEY_SECRET: folder / "server.key",
        HTPASSWD_SECRET: folder / "htpasswd",
    }
    wanted = {
        target: _ensure_object(lead, "secret", target.split(".")[1], path.read_bytes())
        for target, path in secret_files.items()
    }
    config = _ensure_object(lead, "config", "config", registry_config().encode())
    matches = _service_matches(lead, image, wanted, config)
    if not matches:
        if matches is False:
            lead.run(["docker", "service", "rm", SERVICE])
        # A replaced task may still hold port 5000 for a moment; Swarm restarts the new
        # one until it binds, and the wait below covers that.
        lead.run(service_command(image, wanted, config))
        _remove_unused(lead, "secret", set(wanted.values()))
        _remove_unused(lead, "config", {config})
        changed = True
    _wait_ready(lead, address)
    password = (folder / "password").read_bytes()
    lead.run_with_input(login_command(address, USERNAME), [password])
    return RegistryInfo(address, USERNAME), changed


def push_image(engine: docker.DockerClient, lead: Runner, local_ref: str, target_ref: str) -> bool:
    """The bastion's image `local_ref` in the registry as `target_ref`; False when it was.

    The registry itself is asked (with the lead's login), not the lead's engine: a push
    cut off midway leaves the image on the lead but not in the registry. Callers tag
    by content, so the registry holding `target_ref` means it holds this image. The
    image is streamed to the lead over SSH (`docker save` into `docker load`) only
    when the lead lacks it, then tagged and pushed from there.
    """
    if lead.run(manifest_command(target_ref), check=False).exited == 0:
        return False
    image = engine.images.get(local_ref)
    image_id = str(image.id)
    if lead.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image_id], check=False
    ).exited:
        lead.run_with_input(["docker", "load", "-q"], image.save(chunk_size=1 << 20, named=False))
    lead.run(["docker", "tag", image_id, target_ref])
    lead.run(["docker", "push", "--quiet", target_ref])
    return True
