"""Where the registry's name points: the hook a volume move calls (every node that
answers, and this machine's hosts file only where `registry login` wrote a line), and
what `registry login` / `logout` run on this machine, in order, with what on stdin."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from cloudhp.commands.registry import hosts_command, login_command, trust_command
from cloudhp.errors import ConflictError, NotFoundError, RemoteUnreachable
from cloudhp.flows.nodes import ClusterNodes, RecordedNode
from cloudhp.flows.registry import (
    RegistryAccess,
    login_bastion,
    logout_bastion,
    point_registry,
    registry_access,
)
from cloudhp.progress import RecordingReporter
from cloudhp.remote.runner import Result
from cloudhp.state import ClusterFiles

NAME = "registry.c1.cloudhp.internal"
MANAGER = RecordedNode("c1-manager-1", "manager", "10.0.0.5", True, "s1")
WORKER = RecordedNode("c1-worker-1", "worker", "10.0.0.6", False, "s2")
LOST = RecordedNode("c1-worker-2", "worker", "10.0.0.7", False, "s3")


class HostsNode:
    """A node whose /etc/hosts is a dictionary; `down` answers nothing."""

    def __init__(self, host: str, down: bool = False) -> None:
        self.host = host
        self.down = down
        self.hosts: dict[str, str] = {}
        self.commands: list[list[str]] = []

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if self.down:
            raise RemoteUnreachable(f"{self.host} does not answer")
        self.commands.append(argv)
        assert argv[:2] == ["sh", "-c"] and argv[4] == "/etc/hosts", argv
        name, line = argv[5], argv[6]
        before = dict(self.hosts)
        self.hosts.pop(name, None)
        if line:
            self.hosts[name] = line.split()[0]
        out = "unchanged" if self.hosts == before else "changed"
        return Result(self.host, shlex.join(argv), out, "", 0)

    def run_with_input(self, command: Sequence[str], chunks: Iterable[bytes]) -> Result:
        raise AssertionError("nothing goes on stdin")


@dataclass
class Nodes(ClusterNodes):
    fakes: dict[str, HostsNode] | None = None

    def runner(self, node: RecordedNode) -> Any:
        assert self.fakes is not None
        return self.fakes[node.name]


def cluster(tmp_path: Path) -> Nodes:
    fakes = {
        MANAGER.name: HostsNode(MANAGER.private_ip),
        WORKER.name: HostsNode(WORKER.private_ip),
        LOST.name: HostsNode(LOST.private_ip, down=True),
    }
    return Nodes(ClusterFiles("c1", tmp_path), [MANAGER, WORKER, LOST], "debian", fakes=fakes)


def test_point_registry_rewrites_every_node_that_answers_and_names_the_others(
    tmp_path: Path,
) -> None:
    nodes = cluster(tmp_path)
    bastion = tmp_path / "hosts"
    bastion.write_text("127.0.0.1 localhost\n")
    reporter = RecordingReporter()

    def no_local(argv: Sequence[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
        raise AssertionError(f"this machine has no registry line: nothing to run ({argv})")

    missed = point_registry(nodes, WORKER, reporter, bastion_hosts=bastion, run=no_local)
    assert missed == [LOST.name]
    assert nodes.fakes is not None
    for node in (MANAGER, WORKER):
        assert nodes.fakes[node.name].hosts == {NAME: WORKER.private_ip}
        assert nodes.fakes[node.name].commands == [hosts_command(NAME, WORKER.private_ip)]
    assert reporter.steps == [
        f"registry {NAME} now at {WORKER.name} ({WORKER.private_ip}); not reached: {LOST.name}"
    ]
    assert bastion.read_text() == "127.0.0.1 localhost\n"


def test_point_registry_rewrites_this_machine_s_line_where_login_wrote_one(
    tmp_path: Path,
) -> None:
    nodes = cluster(tmp_path)
    bastion = tmp_path / "hosts"
    bastion.write_text(f"127.0.0.1 localhost\n10.0.0.6 {NAME} # cloudhp registry\n")
    ran: list[list[str]] = []

    def run(argv: Sequence[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
        ran.append(list(argv))
        return subprocess.run(list(argv), input=data, capture_output=True, check=False)

    point_registry(nodes, MANAGER, RecordingReporter(), bastion_hosts=bastion, run=run)
    assert ran == [hosts_command(NAME, MANAGER.private_ip, str(bastion))]
    assert bastion.read_text() == f"127.0.0.1 localhost\n10.0.0.5 {NAME} # cloudhp registry\n"


@pytest.fixture
def access(tmp_path: Path) -> RegistryAccess:
    (tmp_path / "password").write_bytes(b"s3cret")
    (tmp_path / "ca.crt").write_bytes(b"CA")
    return RegistryAccess(
        address=f"{NAME}:5000",
        repository_prefix=f"{NAME}:5000/",
        username="cloudhp",
        password_file=str(tmp_path / "password"),
        ca_file=str(tmp_path / "ca.crt"),
        node=WORKER.name,
        node_ip=WORKER.private_ip,
    )


def test_login_points_the_name_trusts_the_ca_then_logs_in(access: RegistryAccess) -> None:
    ran: list[tuple[list[str], bytes]] = []

    def run(argv: Sequence[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
        ran.append((list(argv), data))
        out = b"Login Succeeded" if argv[:2] == ["docker", "login"] else b"changed"
        return subprocess.CompletedProcess(list(argv), 0, out, b"")

    done = login_bastion(access, run)
    assert ran == [
        (hosts_command(NAME, WORKER.private_ip), b""),
        (trust_command(f"{NAME}:5000"), b"CA"),
        (login_command(f"{NAME}:5000", "cloudhp"), b"s3cret"),
    ]
    assert done["hosts_line"] == f"{WORKER.private_ip} {NAME} # cloudhp registry"
    assert done["changed"] is True


def test_logout_removes_the_line(access: RegistryAccess) -> None:
    ran: list[list[str]] = []

    def run(argv: Sequence[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
        ran.append(list(argv))
        return subprocess.CompletedProcess(list(argv), 0, b"unchanged", b"")

    done = logout_bastion(access, run)
    assert ran[:2] == [["docker", "logout", f"{NAME}:5000"], hosts_command(NAME, None)]
    assert done["changed"] is False  # no line and no CA here: nothing to remove


class Lead(HostsNode):
    """The lead's answers to `docker service ls` and `docker node ls`."""

    def __init__(self, service: str, labelled: str) -> None:
        super().__init__(MANAGER.private_ip)
        self.answers = {"service": service, "node": labelled}

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        argv = list(command) if not isinstance(command, str) else shlex.split(command)
        assert argv[0] == "docker" and argv[2] == "ls", argv
        return Result(self.host, shlex.join(argv), self.answers[argv[1]], "", 0)


def access_of(tmp_path: Path, service: str, labelled: str) -> RegistryAccess:
    folder = tmp_path / "registry"
    folder.mkdir(exist_ok=True)
    for name in ("password", "ca.crt"):
        (folder / name).write_bytes(b"x")
    nodes = cluster(tmp_path)
    assert nodes.fakes is not None
    nodes.fakes[MANAGER.name] = Lead(service, labelled)
    return registry_access(nodes)


def test_registry_access_names_the_holder_or_says_why_there_is_none(tmp_path: Path) -> None:
    found = access_of(tmp_path, "abc123\n", f"{WORKER.name}\n")
    assert (found.address, found.node, found.node_ip) == (
        f"{NAME}:5000",
        WORKER.name,
        WORKER.private_ip,
    )
    with pytest.raises(NotFoundError, match="has no registry yet"):
        access_of(tmp_path, "", "")
    with pytest.raises(ConflictError, match="being moved"):
        access_of(tmp_path, "abc123\n", "")
