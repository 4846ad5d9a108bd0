"""Commands on nodes over SSH (fabric), with host keys pinned per cluster.

Every connection uses the cluster's own key and its own known_hosts file, never the
user's ~/.ssh, and goes on only if the node's host key is pinned there (from its console
log, see `cloudhp.remote.hostkeys`): an unpinned key or a different one is refused before
authentication.
"""

from __future__ import annotations

import logging
import shlex
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

import paramiko
from fabric import Config, Connection
from invoke.exceptions import CommandTimedOut, UnexpectedExit
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from cloudhp.errors import (
    CloudhpError,
    HostKeyMismatch,
    HostKeyUnpinned,
    RemoteCommandError,
    RemoteUnreachable,
    WaitTimeout,
)
from cloudhp.remote.hostkeys import KnownHosts, host_entry
from cloudhp.remote.runner import Result

# paramiko's transport thread logs a node that stops answering mid-handshake as an
# ERROR with its traceback; with no handler, Python's last resort prints it on stderr,
# into a long-running controller's log, though the caller gets the same error raised
# and reports it in one line.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def from_ssh(exc: BaseException, host: str) -> CloudhpError:
    """The one mapping of SSH and socket failures to what the user is told."""
    if isinstance(exc, paramiko.AuthenticationException):
        return RemoteUnreachable(
            f"{host} refused the cluster's SSH key: {exc}",
            hint="the node may not be the cluster's, or its cloud-init has not run yet",
        )
    return RemoteUnreachable(
        f"cannot reach {host} over SSH: {type(exc).__name__}: {exc}",
        hint="check that the node runs (`cloudhp status`) and that this machine reaches it",
    )


COMMAND_TIMEOUT = 1800.0
"""Seconds a command may run when its caller sets no timeout: the longest ones (an
image streamed into `docker load`, a stack converging) take minutes, never half an hour."""
KEEPALIVE_SECONDS = 15
"""SSH keepalives on every connection, and TCP keepalives probing an idle socket after
as long, every 5 s, 3 times: a node that dies without closing its connections (power
lost, network cut) fails the command within about half a minute instead of hanging."""


def _keep_alive(transport: paramiko.Transport) -> None:
    transport.set_keepalive(KEEPALIVE_SECONDS)
    sock = transport.sock
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", KEEPALIVE_SECONDS), ("TCP_KEEPINTVL", 5)):
            if hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        if hasattr(socket, "TCP_KEEPCNT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


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
        self._known_hosts.load_into(client.get_host_keys())
        client.set_missing_host_key_policy(self._known_hosts.policy())

    def open(self) -> None:
        if self._conn.is_connected:
            return
        self._prepare()
        try:
            self._conn.open()
        except HostKeyUnpinned:
            self._conn.close()  # the handshake is done; authentication must not follow
            raise
        except paramiko.BadHostKeyException as exc:
            self._conn.close()
            raise HostKeyMismatch(
                f"the host key of {host_entry(self.host, self.port)} does not match the one "
                f"pinned in {self._known_hosts.path} from that server's console",
                hint="a replaced server is pinned afresh by `cloudhp init`; if it was not "
                "replaced, someone may be intercepting the connection: compare with its "
                "console log (`openstack console log show SERVER`) before removing the pin",
            ) from exc
        _keep_alive(self._transport())

    def _transport(self) -> paramiko.Transport:
        transport = self._conn.client.get_transport()
        assert transport is not None  # open() succeeded
        return transport

    def _lost(self, text: str) -> RemoteUnreachable:
        self._conn.close()  # the next command opens a fresh connection
        return RemoteUnreachable(
            f"{self.host} stopped answering during `{text}`",
            hint="the node may have died or lost its network: `cloudhp status` shows it",
        )

    def _timed_out(self, text: str, timeout: float) -> RemoteUnreachable:
        self._conn.close()
        return RemoteUnreachable(
            f"{self.host} did not finish `{text}` within {timeout:.0f}s",
            hint="the node may be overloaded or hung: `cloudhp status` shows it",
        )

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        """Run a command (a list is quoted with shlex); raise RemoteCommandError on failure.

        Raises:
            RemoteUnreachable: the connection was lost during the command, or it ran
                past `timeout` (default `COMMAND_TIMEOUT`); the message names the node.
        """
        text = command if isinstance(command, str) else shlex.join(command)
        limit = COMMAND_TIMEOUT if timeout is None else timeout
        self.open()
        started = time.monotonic()
        try:
            r = self._conn.run(text, in_stream=stdin if stdin is not None else False, timeout=limit)
        except CommandTimedOut:
            raise self._timed_out(text, limit) from None
        except UnexpectedExit as exc:  # only when warn is off; kept for safety
            r = exc.result
        if r.exited == -1 and time.monotonic() - started >= limit:
            # invoke kills the command at the timeout but, if its timer thread has not
            # quite returned when the command ends, reports exit -1 instead of raising.
            raise self._timed_out(text, limit)
        if r.exited == -1 and not self._transport().is_active():
            raise self._lost(text)
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
        transport = self._transport()
        channel = transport.open_session()
        channel.settimeout(COMMAND_TIMEOUT)
        try:
            channel.exec_command(text)
            for chunk in chunks:
                channel.sendall(chunk)
            channel.shutdown_write()
            stdout = channel.makefile("rb").read().decode(errors="replace")
            stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
            exited = channel.recv_exit_status()
        except TimeoutError:
            raise self._timed_out(text, COMMAND_TIMEOUT) from None
        except OSError:
            raise self._lost(text) from None
        finally:
            channel.close()
        if exited == -1 and not transport.is_active():
            raise self._lost(text)
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

UNREACHABLE = (RemoteUnreachable, *_TRANSIENT)
"""What a command on a node that is down or cut off raises: its connection may fail
before any command runs (a raw socket or SSH error) or during one (RemoteUnreachable)."""


def wait_for_ssh(runner: SSHRunner, timeout: float = 180.0) -> None:
    """Wait with exponential backoff until the node accepts our key and runs a command.

    A host key that is not pinned, or not the pinned one, is no transient fault: it
    fails at once (HostKeyUnpinned, HostKeyMismatch) instead of being retried.
    """

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
    except _TRANSIENT as exc:
        raise WaitTimeout(
            f"{runner.user}@{runner.host}:{runner.port} did not accept SSH "
            f"within {timeout:.0f}s: {exc}",
            hint="check the node's console log for cloud-init or sshd errors",
        ) from exc
