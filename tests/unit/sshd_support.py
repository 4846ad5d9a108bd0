"""A real SSH server (paramiko's, in a thread on 127.0.0.1) for tests of the SSH layer:
it counts connections and authentication attempts, and a command sent to it either
hangs (`exec_mode = "hang"`) or has its connection dropped (`"drop"`), which is how a
node that dies mid-command looks from the bastion."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from cloudhp.keys import ensure_keypair


@dataclass
class FakeSSHD:
    """What reached the server, and what it does with a command."""

    host_key: paramiko.PKey
    port: int = 0
    connections: int = 0
    auth_attempts: int = 0
    exec_mode: str = "hang"  # "hang" or "drop"
    transports: list[paramiko.Transport] = field(default_factory=list)


class _Interface(paramiko.ServerInterface):
    def __init__(self, sshd: FakeSSHD, transport: paramiko.Transport) -> None:
        self.sshd = sshd
        self.transport = transport

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_none(self, username: str) -> int:
        self.sshd.auth_attempts += 1
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.sshd.auth_attempts += 1
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if self.sshd.exec_mode == "drop":
            threading.Timer(0.5, self.transport.close).start()
        return True  # and never answer: the command "runs" until dropped or timed out


@contextmanager
def running_sshd(tmp_path: Path) -> Iterator[FakeSSHD]:
    ensure_keypair(tmp_path / "ssh_host_ed25519_key")
    server = FakeSSHD(
        paramiko.Ed25519Key.from_private_key_file(str(tmp_path / "ssh_host_ed25519_key"))
    )
    listener = socket.create_server(("127.0.0.1", 0))
    server.port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            server.connections += 1
            transport = paramiko.Transport(sock)
            transport.add_server_key(server.host_key)
            transport.start_server(server=_Interface(server, transport))
            server.transports.append(transport)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        listener.close()
        thread.join(5)
        for transport in server.transports:
            transport.close()
