"""A node that hangs or dies in the middle of a command fails that command, naming the
node, instead of hanging the run: against a real SSH server that never answers the
command, or drops the connection while it runs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd_support import FakeSSHD, running_sshd

from cloudhp.errors import RemoteUnreachable
from cloudhp.keys import ensure_keypair
from cloudhp.remote import ssh
from cloudhp.remote.hostkeys import KnownHosts
from cloudhp.remote.ssh import SSHRunner


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[FakeSSHD]:
    with running_sshd(tmp_path) as server:
        yield server


@pytest.fixture
def runner(tmp_path: Path, sshd: FakeSSHD) -> Iterator[SSHRunner]:
    known = KnownHosts(tmp_path / "known_hosts")
    known.pin("127.0.0.1", sshd.port, [f"{sshd.host_key.get_name()} {sshd.host_key.get_base64()}"],
              server_id="s1")  # fmt: skip
    key = ensure_keypair(tmp_path / "id_ed25519")
    found = SSHRunner("127.0.0.1", "debian", key.private_path, known, port=sshd.port)
    yield found
    found.close()


def test_a_command_that_never_ends_fails_at_its_timeout_naming_the_node(
    runner: SSHRunner,
) -> None:
    with pytest.raises(RemoteUnreachable) as caught:
        runner.run(["docker", "info"], timeout=1)
    assert caught.value.message == "127.0.0.1 did not finish `docker info` within 1s"
    assert caught.value.exit_status == 6


def test_without_a_timeout_the_default_one_applies(
    runner: SSHRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssh, "COMMAND_TIMEOUT", 1.0)
    with pytest.raises(RemoteUnreachable, match="within 1s"):
        runner.run(["docker", "info"])


def test_a_connection_lost_mid_command_fails_it_naming_the_node(
    runner: SSHRunner, sshd: FakeSSHD
) -> None:
    sshd.exec_mode = "drop"
    with pytest.raises(RemoteUnreachable) as caught:
        runner.run(["docker", "swarm", "join"], timeout=30)
    assert caught.value.message == "127.0.0.1 stopped answering during `docker swarm join`"


def test_a_stream_into_a_node_lost_mid_command_fails_naming_the_node(
    runner: SSHRunner, sshd: FakeSSHD
) -> None:
    sshd.exec_mode = "drop"
    with pytest.raises(RemoteUnreachable, match="stopped answering during `docker load -q`"):
        runner.run_with_input(["docker", "load", "-q"], [b"x" * 1024])


def test_connections_probe_a_silent_peer(runner: SSHRunner) -> None:
    """A node that dies without closing its connection is found by TCP keepalives."""
    runner.open()
    sock = runner._transport().sock
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == ssh.KEEPALIVE_SECONDS
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
