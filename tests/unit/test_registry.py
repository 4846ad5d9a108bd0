"""The cluster registry: its config and command lines exactly, its files, and the steps
driven through a fake Runner (a small in-memory Swarm) to pin what runs when, and that
the password only ever travels on stdin."""

from __future__ import annotations

import datetime
import itertools
import json
import shlex
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cloudhp.commands.registry import (
    ca_path,
    hosts_command,
    login_command,
    manifest_command,
    probe_command,
    registry_config,
    service_command,
    trust_command,
)
from cloudhp.errors import RemoteCommandError, WaitTimeout
from cloudhp.remote.runner import Result
from cloudhp.steps import registry as steps
from cloudhp.steps.registry import (
    FILES,
    RegistryInfo,
    ensure_registry,
    ensure_registry_files,
    point_hosts,
    push_image,
    trust_on_nodes,
)

NAME = "registry.dep.cloudhp.internal"

# --- pure functions, compared exactly -------------------------------------------------


def test_registry_config_is_tls_htpasswd_and_filesystem_storage() -> None:
    assert (
        registry_config()
        == """\
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
  tls:
    certificate: /run/secrets/registry.crt
    key: /run/secrets/registry.key
auth:
  htpasswd:
    realm: cloudhp
    path: /run/secrets/registry.htpasswd
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""
    )


def test_service_command_publishes_another_port_on_the_host() -> None:
    secrets = {"registry.crt": "c", "registry.htpasswd": "h", "registry.key": "k"}
    assert service_command("cloudhp/registry:1", secrets, "cfg", port=5443) == [
        "docker", "service", "create", "--detach", "--name", "cloudhp-registry",
        "--constraint", "node.labels.cloudhp.volume.cloudhp_registry==true",
        "--publish", "mode=host,target=5000,published=5443",
        "--endpoint-mode", "dnsrr",
        "--mount", "type=bind,source=/var/lib/cloudhp/volumes/cloudhp_registry/data,"
        "target=/var/lib/docker-registry",
        "--config", "source=cfg,target=/etc/docker/registry/config.yml",
        "--label", "cloudhp.role=registry",
        "--secret", "source=c,target=registry.crt",
        "--secret", "source=h,target=registry.htpasswd",
        "--secret", "source=k,target=registry.key",
        "cloudhp/registry:1",
    ]  # fmt: skip


def test_login_probe_and_manifest_commands() -> None:
    assert login_command("10.0.0.5:5000", "cloudhp") == [
        "docker", "login", "--username", "cloudhp", "--password-stdin", "10.0.0.5:5000",
    ]  # fmt: skip
    assert ca_path("10.0.0.5:5000") == "/etc/docker/certs.d/10.0.0.5:5000/ca.crt"
    assert probe_command("10.0.0.5:5000") == [
        "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
        "--cacert", "/etc/docker/certs.d/10.0.0.5:5000/ca.crt", "https://10.0.0.5:5000/v2/",
    ]  # fmt: skip
    assert manifest_command("10.0.0.5:5000/shop/web:abc") == [
        "docker", "manifest", "inspect", "10.0.0.5:5000/shop/web:abc",
    ]  # fmt: skip


def test_trust_script_writes_once_and_then_leaves_the_file_alone(tmp_path: Path) -> None:
    argv = trust_command("10.0.0.5:5000")
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["sh", ca_path("10.0.0.5:5000")]
    target = tmp_path / "certs.d" / "10.0.0.5:5000" / "ca.crt"
    local = [*argv[:4], str(target)]  # the same script, aimed at a scratch directory

    def run(data: bytes) -> str:
        return subprocess.run(local, input=data, capture_output=True, check=True).stdout.decode()

    assert run(b"CA one\n").split() == ["changed"]
    assert target.read_bytes() == b"CA one\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert run(b"CA one\n").split() == ["unchanged"]
    assert run(b"CA two\n").split() == ["changed"]
    assert target.read_bytes() == b"CA two\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["ca.crt"]


# --- files ----------------------------------------------------------------------------


def folder_bytes(workdir: Path) -> dict[str, bytes]:
    return {name: (workdir / "registry" / name).read_bytes() for name in FILES}


def test_files_are_0600_and_the_certificates_are_a_proper_ca_and_server(tmp_path: Path) -> None:
    assert ensure_registry_files(tmp_path, NAME) is True
    for name in FILES:
        assert stat.S_IMODE((tmp_path / "registry" / name).stat().st_mode) == 0o600, name
    files = folder_bytes(tmp_path)
    ca = x509.load_pem_x509_certificate(files["ca.crt"])
    server = x509.load_pem_x509_certificate(files["server.crt"])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    server.verify_directly_issued_by(ca)
    assert server.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(
        days=365
    )
    assert b"PRIVATE KEY" in files["ca.key"] and b"PRIVATE KEY" in files["server.key"]
    assert len(files["password"]) >= 32 and files["password"] not in files["htpasswd"]
    assert not list((tmp_path / "registry").glob(".*")), "no temporary files left"


def test_a_tls_client_trusting_only_the_ca_accepts_the_server_for_its_name(
    tmp_path: Path,
) -> None:
    """OpenSSL's own verification, as a client of the registry does it (by name, SAN),
    connected to whichever address the name stands for."""
    ensure_registry_files(tmp_path, NAME)
    folder = tmp_path / "registry"
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(folder / "server.crt", folder / "server.key")
    client_ctx = ssl.create_default_context(cafile=str(folder / "ca.crt"))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hi")

        thread = threading.Thread(target=serve)
        thread.start()
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client_ctx.wrap_socket(raw, server_hostname=NAME) as tls,
        ):
            assert tls.recv(2) == b"hi"
        thread.join(5)


def test_a_half_written_pair_is_made_again_and_the_rest_is_kept(tmp_path: Path) -> None:
    ensure_registry_files(tmp_path, NAME)
    before = folder_bytes(tmp_path)
    (tmp_path / "registry" / "server.key").unlink()
    assert ensure_registry_files(tmp_path, NAME) is True
    after = folder_bytes(tmp_path)
    assert after["server.crt"] != before["server.crt"]
    assert {n: after[n] for n in ("ca.crt", "ca.key", "htpasswd", "password")} == {
        n: before[n] for n in ("ca.crt", "ca.key", "htpasswd", "password")
    }
    (tmp_path / "registry" / "htpasswd").write_text("cloudhp:$2b$10$notthehashofthepassword\n")
    assert ensure_registry_files(tmp_path, NAME) is True
    again = folder_bytes(tmp_path)
    assert again["password"] != after["password"]
    assert again["ca.crt"] == before["ca.crt"] and again["server.crt"] == after["server.crt"]
    assert ensure_registry_files(tmp_path, NAME) is False


def test_a_new_ca_reissues_the_server_certificate(tmp_path: Path) -> None:
    ensure_registry_files(tmp_path, NAME)
    before = folder_bytes(tmp_path)
    (tmp_path / "registry" / "ca.key").write_bytes(before["server.key"])  # not the CA's key
    assert ensure_registry_files(tmp_path, NAME) is True
    after = folder_bytes(tmp_path)
    assert after["ca.crt"] != before["ca.crt"] and after["server.crt"] != before["server.crt"]
    server = x509.load_pem_x509_certificate(after["server.crt"])
    server.verify_directly_issued_by(x509.load_pem_x509_certificate(after["ca.crt"]))
    assert after["password"] == before["password"]


def test_a_certificate_close_to_expiry_is_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_registry_files(tmp_path, NAME)
    before = folder_bytes(tmp_path)
    monkeypatch.setattr(steps, "RENEW_BEFORE", datetime.timedelta(days=10 * 365))
    assert ensure_registry_files(tmp_path, NAME) is True
    assert folder_bytes(tmp_path)["server.crt"] != before["server.crt"]
    assert folder_bytes(tmp_path)["ca.crt"] == before["ca.crt"]


# --- steps, against a fake Runner -----------------------------------------------------


@dataclass
class Call:
    argv: list[str]
    stdin: bytes


@dataclass
class FakeSwarm:
    """The lead's engine as far as the registry steps see it."""

    secrets: dict[str, bytes] = field(default_factory=dict)
    configs: dict[str, bytes] = field(default_factory=dict)
    service: dict[str, object] | None = None
    probe_answers: list[str] = field(default_factory=lambda: ["000", "401"])
    images: set[str] = field(default_factory=set)
    pushed: set[str] = field(default_factory=set)
    logins: list[bytes] = field(default_factory=list)
    ca: bytes = b""
    hosts: dict[str, str] = field(default_factory=dict)  # /etc/hosts: name -> address


class FakeRunner:
    def __init__(self, swarm: FakeSwarm, host: str = "10.0.0.5") -> None:
        self.host = host
        self.swarm = swarm
        self.calls: list[Call] = []

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        return self._answer(argv, stdin.read() if stdin else b"", check)

    def run_with_input(self, command: Sequence[str], chunks: Iterable[bytes]) -> Result:
        return self._answer(list(command), b"".join(chunks), True)

    def _answer(self, argv: list[str], data: bytes, check: bool) -> Result:
        self.calls.append(Call(argv, data))
        out, code = self._handle(argv, data)
        result = Result(self.host, shlex.join(argv), out, "", code)
        if check and code:
            raise RemoteCommandError(self.host, result.command, code, out)
        return result

    def _handle(self, argv: list[str], data: bytes) -> tuple[str, int]:
        s = self.swarm
        match argv:
            case ["sh", "-c", _, "sh", "/etc/hosts", name, line]:
                before = dict(s.hosts)
                s.hosts.pop(name, None)
                if line:
                    s.hosts[name] = line.split()[0]
                return ("unchanged" if s.hosts == before else "changed"), 0
            case ["sh", "-c", _, "sh", _]:
                same = s.ca == data
                s.ca = data
                return ("unchanged" if same else "changed"), 0
            case ["docker", ("secret" | "config") as kind, "ls", *_]:
                return "\n".join(getattr(s, f"{kind}s")), 0
            case ["docker", ("secret" | "config") as kind, "create", name, "-"]:
                getattr(s, f"{kind}s")[name] = data
                return name, 0
            case ["docker", ("secret" | "config") as kind, "rm", *names]:
                for name in names:
                    getattr(s, f"{kind}s").pop(name, None)
                return "", 0
            case ["docker", "service", "inspect", *_]:
                return (json.dumps(s.service), 0) if s.service else ("no such service", 1)
            case ["docker", "service", "rm", _]:
                s.service = None
                return "", 0
            case ["docker", "service", "create", *args]:
                s.service = spec_from(args)
                return "", 0
            case ["curl", *_]:
                return (
                    s.probe_answers.pop(0) if len(s.probe_answers) > 1 else s.probe_answers[0]
                ), 0
            case ["docker", "service", "ps", *_]:
                return "node1 Rejected 3 seconds ago bind: address already in use", 0
            case ["docker", "login", *_]:
                s.logins.append(data)
                return "Login Succeeded", 0
            case ["docker", "manifest", "inspect", ref]:
                return ("{}", 0) if ref in s.pushed else ("no such manifest", 1)
            case ["docker", "image", "inspect", "--format", "{{.Id}}", ref]:
                return (ref, 0) if ref in s.images else ("No such image", 1)
            case ["docker", "load", "-q"]:
                assert data == b"layers of sha256:feed"
                s.images.add("sha256:feed")
                return "Loaded image ID: sha256:feed", 0
            case ["docker", "tag", source, target]:
                assert source in s.images
                s.images.add(target)
                return "", 0
            case ["docker", "push", "--quiet", ref]:
                assert ref in s.images
                s.pushed.add(ref)
                return ref, 0
        raise AssertionError(f"unexpected command {argv}")

    def commands(self) -> list[str]:
        return [shlex.join(c.argv) for c in self.calls]


def spec_from(args: list[str]) -> dict[str, object]:
    """The part of `docker service inspect`'s Spec that the steps read, from the argv."""
    opts: dict[str, list[str]] = {}
    for flag, value in itertools.pairwise(args):
        if flag.startswith("--"):
            opts.setdefault(flag, []).append(value)
    kv = [dict(p.split("=", 1) for p in s.split(",")) for s in opts["--secret"]]
    config = dict(p.split("=", 1) for p in opts["--config"][0].split(","))
    publish = dict(p.split("=", 1) for p in opts["--publish"][0].split(","))
    mounts = [dict(p.split("=", 1) for p in m.split(",")) for m in opts["--mount"]]
    return {
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": f"{args[-1]}@sha256:0",
                "Secrets": [{"File": {"Name": s["target"]}, "SecretName": s["source"]} for s in kv],
                "Configs": [{"ConfigName": config["source"]}],
                "Mounts": [
                    {"Type": m["type"], "Source": m["source"], "Target": m["target"]}
                    for m in mounts
                ],
            },
            "Placement": {"Constraints": opts["--constraint"]},
        },
        "EndpointSpec": {
            "Ports": [
                {"TargetPort": int(publish["target"]), "PublishedPort": int(publish["published"])}
            ]
        },
    }


@pytest.fixture
def lead() -> FakeRunner:
    return FakeRunner(FakeSwarm())


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cloudhp.polling.time.sleep", lambda _s: None)


def password_of(workdir: Path) -> bytes:
    return (workdir / "registry" / "password").read_bytes()


def assert_password_only_on_login_stdin(runner: FakeRunner, password: bytes) -> None:
    for call in runner.calls:
        assert password.decode() not in shlex.join(call.argv)
        if call.stdin and password in call.stdin:
            assert call.argv[:2] == ["docker", "login"] and call.stdin == password


def test_ensure_registry_creates_once_then_changes_nothing(
    lead: FakeRunner, tmp_path: Path
) -> None:
    info, changed = ensure_registry(lead, tmp_path, "cloudhp/registry:1", NAME)
    assert (info, changed) == (RegistryInfo(f"{NAME}:5000", "cloudhp"), True)
    swarm = lead.swarm
    assert swarm.ca == (tmp_path / "registry" / "ca.crt").read_bytes()
    assert sorted(n.split("-")[2] for n in swarm.secrets) == ["crt", "htpasswd", "key"]
    assert (
        swarm.secrets[next(n for n in swarm.secrets if "-key-" in n)]
        == (tmp_path / "registry" / "server.key").read_bytes()
    )
    assert list(swarm.configs.values()) == [registry_config().encode()]
    assert swarm.logins == [password_of(tmp_path)]
    creates = [c for c in lead.commands() if c.startswith("docker service create")]
    assert len(creates) == 1
    assert_password_only_on_login_stdin(lead, password_of(tmp_path))

    lead.calls.clear()
    info, changed = ensure_registry(lead, tmp_path, "cloudhp/registry:1", NAME)
    assert changed is False
    assert not [c for c in lead.commands() if " create " in c or " rm " in c]
    assert swarm.logins == [password_of(tmp_path)] * 2


def test_a_new_image_replaces_the_service_and_drops_nothing_in_use(
    lead: FakeRunner, tmp_path: Path
) -> None:
    ensure_registry(lead, tmp_path, "cloudhp/registry:1", NAME)
    secrets_before = dict(lead.swarm.secrets)
    lead.calls.clear()
    _, changed = ensure_registry(lead, tmp_path, "cloudhp/registry:2", NAME)
    assert changed is True
    assert [c.split()[:3] for c in lead.commands() if c.startswith("docker service ")] == [
        ["docker", "service", "inspect"],
        ["docker", "service", "rm"],
        ["docker", "service", "create"],
    ]
    assert lead.swarm.secrets == secrets_before  # same files: same secrets, still used


def test_a_new_name_rotates_the_certificate_secret_and_removes_the_old(
    lead: FakeRunner, tmp_path: Path
) -> None:
    ensure_registry(lead, tmp_path, "cloudhp/registry:1", NAME)
    old = set(lead.swarm.secrets)
    other = "registry.b.cloudhp.internal"
    _, changed = ensure_registry(lead, tmp_path, "cloudhp/registry:1", other)
    assert changed is True
    new = set(lead.swarm.secrets)
    assert len(new) == 3 and len(old & new) == 1  # the htpasswd stayed, crt and key rotated
    spec = lead.swarm.service
    assert spec is not None
    assert spec["TaskTemplate"]["Placement"] == {  # type: ignore[index]
        "Constraints": ["node.labels.cloudhp.volume.cloudhp_registry==true"]
    }


def test_a_registry_on_a_named_volume_is_replaced_by_one_on_the_cinder_volume(
    lead: FakeRunner, tmp_path: Path
) -> None:
    """A cluster deployed before the registry had its volume: same image, secrets and
    config, but a named volume as its storage."""
    ensure_registry(lead, tmp_path, "cloudhp/registry:1", NAME)
    spec = lead.swarm.service
    assert spec is not None
    spec["TaskTemplate"]["ContainerSpec"]["Mounts"] = [  # type: ignore[index]
        {"Type": "volume", "Source": "cloudhp-registry-data", "Target": "/var/lib/docker-registry"}
    ]
    lead.calls.clear()
    _, changed = ensure_registry(lead, tmp_path, "cloudhp/registry:1", NAME)
    assert changed is True
    assert [c.split()[:3] for c in lead.commands() if c.startswith("docker service ")] == [
        ["docker", "service", "inspect"],
        ["docker", "service", "rm"],
        ["docker", "service", "create"],
    ]


def test_a_registry_that_never_answers_names_its_tasks(
    lead: FakeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(steps, "READY_TIMEOUT", 0.0)
    lead.swarm.probe_answers = ["000"]
    with pytest.raises(WaitTimeout, match="address already in use") as caught:
        ensure_registry(lead, tmp_path, "cloudhp/registry:1", NAME)
    assert password_of(tmp_path).decode() not in str(caught.value)
    assert lead.swarm.logins == []


def test_trust_on_nodes_reports_a_change_only_where_one_happened(tmp_path: Path) -> None:
    ensure_registry_files(tmp_path, NAME)
    nodes = [FakeRunner(FakeSwarm(), host=f"10.0.0.{i}") for i in (5, 6, 7)]
    assert trust_on_nodes(nodes, tmp_path, f"{NAME}:5000") is True
    assert trust_on_nodes(nodes, tmp_path, f"{NAME}:5000") is False
    nodes.append(FakeRunner(FakeSwarm(), host="10.0.0.8"))
    assert trust_on_nodes(nodes, tmp_path, f"{NAME}:5000") is True
    for node in nodes:
        assert node.calls[-1].argv == trust_command(f"{NAME}:5000")


def test_point_hosts_reports_a_change_only_where_one_happened() -> None:
    nodes = [FakeRunner(FakeSwarm(), host=f"10.0.0.{i}") for i in (5, 6)]
    assert point_hosts(nodes, NAME, "10.0.0.6") is True
    assert point_hosts(nodes, NAME, "10.0.0.6") is False
    assert point_hosts(nodes, NAME, "10.0.0.5") is True
    assert [n.swarm.hosts for n in nodes] == [{NAME: "10.0.0.5"}] * 2
    for node in nodes:
        assert node.calls[-1].argv == hosts_command(NAME, "10.0.0.5")


@dataclass
class FakeImage:
    id: str = "sha256:feed"

    def save(self, chunk_size: int, named: bool) -> Iterator[bytes]:
        assert named is False
        yield b"layers of "
        yield self.id.encode()


@dataclass
class FakeImages:
    image: FakeImage
    got: list[str] = field(default_factory=list)

    def get(self, ref: str) -> FakeImage:
        self.got.append(ref)
        return self.image


@dataclass
class FakeEngine:
    images: FakeImages = field(default_factory=lambda: FakeImages(FakeImage()))


def run_push(engine: FakeEngine, lead: FakeRunner, target: str) -> bool:
    return push_image(engine, lead, "cloudhp-build/shop-web:latest", target)  # type: ignore[arg-type]


def test_push_streams_tags_and_pushes_then_finds_it_in_the_registry(lead: FakeRunner) -> None:
    engine = FakeEngine()
    target = "10.0.0.5:5000/shop/web:feed"
    assert run_push(engine, lead, target) is True
    assert lead.commands() == [
        f"docker manifest inspect {target}",
        "docker image inspect --format '{{.Id}}' sha256:feed",
        "docker load -q",
        f"docker tag sha256:feed {target}",
        f"docker push --quiet {target}",
    ]
    lead.calls.clear()
    assert run_push(engine, lead, target) is False
    assert lead.commands() == [f"docker manifest inspect {target}"]


def test_a_push_cut_off_before_the_registry_had_it_is_redone_without_loading(
    lead: FakeRunner,
) -> None:
    lead.swarm.images = {"sha256:feed", "10.0.0.5:5000/shop/web:feed"}  # loaded, not pushed
    assert run_push(FakeEngine(), lead, "10.0.0.5:5000/shop/web:feed") is True
    assert "docker load -q" not in lead.commands()
    assert lead.swarm.pushed == {"10.0.0.5:5000/shop/web:feed"}
