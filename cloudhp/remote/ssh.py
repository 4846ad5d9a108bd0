"""Commands on nodes over SSH (fabric), with host keys pinned per cluster.

Every connection uses the cluster's own key and its own known_hosts file, never the
user's ~/.ssh: a key seen for a node is written there on first contact (or beforehand,
from the node's console log) and any later mismatch is refused.
"""

from __future__ import annotations

import shlex
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import paramiko
from fabric import Config, Connection
from invoke.exceptions import UnexpectedExit
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from cloudhp.errors import HostKeyMismatch, RemoteCommandError, WaitTimeout

_known_hosts_lock = threading.Lock()


def host_entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class KnownHosts:
    """A cluster's known_hosts file: pinned keys, trust on first use, 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        if self.path.exists():
            keys.load(str(self.path))
        return keys

    def pin(self, host: str, port: int, public_keys: Sequence[str]) -> None:
        """Record keys obtained out of band (the console log) before any connection."""
        with _known_hosts_lock:
            keys = self._load()
            for line in public_keys:
                kind, data = line.split()[:2]
                try:
                    key = paramiko.PKey.from_type_string(kind, _b64(data))
                except paramiko.UnknownKeyType:
                    continue  # e.g. ssh-dss, which paramiko no longer speaks
                keys.add(host_entry(host, port), kind, key)
            self._save(keys)

    def knows(self, host: str, port: int = 22) -> bool:
        return host_entry(host, port) in self._load()

    def forget(self, host: str, port: int = 22) -> None:
        with _known_hosts_lock:
            keys = self._load()
            entry = host_entry(host, port)
            if entry in keys:
                del keys[entry]
                self._save(keys)

    def _save(self, keys: paramiko.HostKeys) -> None:
        from cloudhp.keys import write_private

        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        keys.save(str(tmp))
        write_private(self.path, tmp.read_bytes())
        tmp.unlink()

    def policy(self) -> paramiko.MissingHostKeyPolicy:
        known = self

        class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
            def missing_host_key(self, client, hostname, key):  # type: ignore[no-untyped-def]
                with _known_hosts_lock:
                    keys = known._load()
                    keys.add(hostname, key.get_name(), key)
                    known._save(keys)

        return TrustOnFirstUse()


def console_host_keys(console: str) -> list[str]:
    """Host public keys printed on a server's console, to pin them before first contact.

    Understands cloud-init's `BEGIN SSH HOST KEY KEYS` block (real clouds) and the
    `node-init: host key` lines of cloudhp's node image.
    """
    keys: list[str] = []
    inside = False
    for raw in console.splitlines():
        line = raw.strip()
        if "-----BEGIN SSH HOST KEY KEYS-----" in line:
            inside = True
        elif "-----END SSH HOST KEY KEYS-----" in line:
            inside = False
        elif inside and line.startswith(("ssh-", "ecdsa-")):
            keys.append(" ".join(line.split()[:2]))
        elif line.startswith("node-init: host key "):
            keys.append(" ".join(line.split()[3:5]))
    return list(dict.fromkeys(keys))


def _b64(data: str) -> bytes:
    import base64

    return base64.b64decode(data)


@dataclass
class Result:
    host: str
    command: str
    stdout: str
    stderr: str
    exited: int


class SSHRunner:
    """Runs commands on one node; opens its connection on first use and reuses it."""

    def __init__(
        self,
        host: str,
        user: str,
        key_path: Path,
        known_hosts: KnownHosts,
        port: int = 22,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._known_hosts = known_hosts
        config = Config(overrides={"load_ssh_configs": False, "run": {"hide": True, "warn": True}})
        self._conn = Connection(
            host,
            user=user,
            port=port,
            config=config,
            connect_timeout=int(connect_timeout),
            connect_kwargs={
                "key_filename": str(key_path),
                "look_for_keys": False,
                "allow_agent": False,
                "banner_timeout": connect_timeout,
                "auth_timeout": connect_timeout,
            },
        )

    def _prepare(self) -> None:
        client = self._conn.client
        if self._known_hosts.path.exists():
            client.load_host_keys(str(self._known_hosts.path))
        client.set_missing_host_key_policy(self._known_hosts.policy())

    def open(self) -> None:
        if self._conn.is_connected:
            return
        self._prepare()
        try:
            self._conn.open()
        except paramiko.BadHostKeyException as exc:
            raise HostKeyMismatch(
                f"the host key of {host_entry(self.host, self.port)} does not match the one "
                f"pinned in {self._known_hosts.path}",
                hint="if the node was replaced, remove its line from that file; otherwise "
                "someone may be intercepting the connection",
            ) from exc

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        """Run a command (a list is quoted with shlex); raise RemoteCommandError on failure."""
        text = command if isinstance(command, str) else shlex.join(command)
        self.open()
        try:
            r = self._conn.run(
                text, in_stream=stdin if stdin is not None else False, timeout=timeout
            )
        except UnexpectedExit as exc:  # only when warn is off; kept for safety
            r = exc.result
        result = Result(self.host, text, r.stdout, r.stderr, r.exited)
        if check and r.exited != 0:
            raise RemoteCommandError(self.host, text, r.exited, r.stdout + r.stderr)
        return result

    def run_with_input(self, command: Sequence[str], chunks: Iterable[bytes]) -> Result:
        """Run a command fed with a binary stream (e.g. `docker load` of an image).

        invoke's stdin forwarding is text and byte-at-a-time, so this writes to the
        paramiko channel directly.
        """
        text = shlex.join(command)
        self.open()
        transport = self._conn.client.get_transport()
        assert transport is not None
        channel = transport.open_session()
        try:
            channel.exec_command(text)
            for chunk in chunks:
                channel.sendall(chunk)
            channel.shutdown_write()
            stdout = channel.makefile("rb").read().decode(errors="replace")
            stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
            exited = channel.recv_exit_status()
        finally:
            channel.close()
        if exited != 0:
            raise RemoteCommandError(self.host, text, exited, stdout + stderr)
        return Result(self.host, text, stdout, stderr, exited)

    def close(self) -> None:
        self._conn.close()


_TRANSIENT = (
    paramiko.ssh_exception.NoValidConnectionsError,
    paramiko.ssh_exception.SSHException,
    socket.timeout,
    ConnectionError,
    EOFError,
    OSError,
)


def wait_for_ssh(runner: SSHRunner, timeout: float = 180.0) -> None:
    """Wait with exponential backoff until the node accepts our key and runs a command."""

    @retry(
        retry=retry_if_exception_type(_TRANSIENT),
        wait=wait_exponential(multiplier=0.2, max=3),
        stop=stop_after_delay(timeout),
        reraise=True,
    )
    def attempt() -> None:
        try:
            runner.run("true")
        except _TRANSIENT:
            runner.close()
            raise

    try:
        attempt()
    except HostKeyMismatch:
        raise
    except _TRANSIENT as exc:
        raise WaitTimeout(
            f"{runner.user}@{runner.host}:{runner.port} did not accept SSH "
            f"within {timeout:.0f}s: {exc}",
            hint="check the node's console log for cloud-init or sshd errors",
        ) from exc
