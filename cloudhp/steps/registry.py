"""The cluster's own registry: a per-cluster CA, TLS, htpasswd, a Swarm service.

Nothing can be pulled from outside here, and a real cluster should not depend on a
public registry for the user's own images either. The CA, the server certificate and
the htpasswd password are generated on the bastion and kept 0600 in the cluster
directory; every node trusts the CA through /etc/docker/certs.d/<address>/, and the
lead manager logs in (password on stdin) so that `docker stack deploy
--with-registry-auth` hands the nodes what they need to pull.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import docker
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloudhp.commands.registry import (
    PORT,
    SERVICE,
    login_command,
    object_name,
    registry_config,
    service_command,
)
from cloudhp.keys import write_private
from cloudhp.polling import poll_until
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.runner import Runner

USERNAME = "cloudhp"
FILES = ("ca.crt", "ca.key", "server.crt", "server.key", "htpasswd", "password")


@dataclass(frozen=True)
class RegistryInfo:
    address: str  # "10.0.0.5:5000"
    username: str


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    ip: str | None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _cert_ip(path: Path) -> str | None:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    ips = san.value.get_values_for_type(x509.IPAddress)
    return str(ips[0]) if ips else None


def ensure_registry_files(workdir: Path, address_ip: str) -> bool:
    """CA, server certificate for `address_ip`, htpasswd; False when all were there."""
    folder = workdir / "registry"
    path = {name: folder / name for name in FILES}
    changed = False
    if not (path["ca.crt"].exists() and path["ca.key"].exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("cloudhp cluster CA", ca_key, None, ca_key, None)
        write_private(path["ca.key"], _pem_key(ca_key))
        write_private(path["ca.crt"], ca.public_bytes(serialization.Encoding.PEM))
        path["server.crt"].unlink(missing_ok=True)
        changed = True
    if not path["server.crt"].exists() or _cert_ip(path["server.crt"]) != address_ip:
        ca = x509.load_pem_x509_certificate(path["ca.crt"].read_bytes())
        loaded = serialization.load_pem_private_key(path["ca.key"].read_bytes(), None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(address_ip, key, ca, loaded, address_ip)
        write_private(path["server.key"], _pem_key(key))
        write_private(path["server.crt"], cert.public_bytes(serialization.Encoding.PEM))
        changed = True
    if not (path["password"].exists() and path["htpasswd"].exists()):
        password = secrets.token_urlsafe(24)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
        write_private(path["password"], password.encode())
        write_private(path["htpasswd"], f"{USERNAME}:{hashed}\n".encode())
        changed = True
    return changed


def ca_path(workdir: Path, address: str) -> str:
    return f"/etc/docker/certs.d/{address}/ca.crt"


def trust_on_nodes(runners: Sequence[Runner], workdir: Path, address: str) -> bool:
    """Each node's Docker engine trusts the cluster CA for `address` (read per pull)."""
    ca = (workdir / "registry" / "ca.crt").read_bytes()
    target = ca_path(workdir, address)

    def trust(runner: Runner) -> bool:
        current = runner.run(["sudo", "cat", target], check=False)
        if current.exited == 0 and current.stdout.encode() == ca:
            return False
        folder = shlex.quote(str(Path(target).parent))
        script = f"mkdir -p {folder} && cat > {shlex.quote(target)}"
        runner.run_with_input(["sudo", "sh", "-c", script], [ca])
        return True

    return any(in_parallel(trust, runners))


def _ensure_object(lead: Runner, kind: str, command: str, content: bytes) -> str:
    """A Swarm secret or config with this content (created once, named by its hash)."""
    name = object_name(kind, content)
    names = lead.run(["docker", command, "ls", "--format", "{{.Name}}"]).stdout.split()
    if name not in names:
        lead.run_with_input(["docker", command, "create", name, "-"], [content])
    return name


def ensure_registry(
    lead: Runner, workdir: Path, image: str, node_hostname: str, address_ip: str
) -> tuple[RegistryInfo, bool]:
    """The registry service on `node_hostname`, answering, with the lead logged in."""
    folder = workdir / "registry"
    address = f"{address_ip}:{PORT}"
    secret_files = {
        "registry.crt": folder / "server.crt",
        "registry.key": folder / "server.key",
        "registry.htpasswd": folder / "htpasswd",
    }
    wanted = {
        target: _ensure_object(lead, target.split(".")[1], "secret", path.read_bytes())
        for target, path in secret_files.items()
    }
    config = _ensure_object(lead, "config", "config", registry_config().encode())
    found = lead.run(
        ["docker", "service", "inspect", "--format", "{{json .Spec}}", SERVICE], check=False
    )
    changed = True
    if found.exited == 0:
        task = json.loads(found.stdout)["TaskTemplate"]["ContainerSpec"]
        have = sorted(s["SecretName"] for s in task.get("Secrets") or [])
        configs = [c["ConfigName"] for c in task.get("Configs") or []]
        if (
            task["Image"].split("@")[0] == image
            and have == sorted(wanted.values())
            and (configs == [config])
        ):
            changed = False
        else:
            lead.run(["docker", "service", "rm", SERVICE])
    if changed:
        lead.run(service_command(image, node_hostname, wanted, config))
    ca = ca_path(workdir, address)
    probe = [
        "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca,
        f"https://{address}/v2/",
    ]  # fmt: skip
    poll_until(
        lambda: lead.run(probe, check=False).stdout.strip() == "401",
        timeout=120,
        interval=1.0,
        what=f"the cluster registry at {address} answering",
    )
    password = (folder / "password").read_bytes()
    lead.run_with_input(login_command(address, USERNAME), [password])
    return RegistryInfo(address, USERNAME), changed


def push_image(engine: docker.DockerClient, lead: Runner, local_ref: str, target_ref: str) -> bool:
    """Streams the bastion's image to the lead and pushes it; False when already pushed.

    Pushed tags are content hashes, so the lead holding `target_ref` means the registry
    got it from this very lead.
    """
    if lead.run(["docker", "image", "inspect", target_ref], check=False).exited == 0:
        return False
    image = engine.images.get(local_ref)
    lead.run_with_input(["docker", "load", "-q"], image.save(chunk_size=1 << 20, named=False))
    lead.run(["docker", "tag", str(image.id), target_ref])
    lead.run(["docker", "push", "--quiet", target_ref])
    return True
