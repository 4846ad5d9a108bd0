"""One error tree for everything a user can cause or meet.

Core code raises these and never prints or exits; the CLI renders them in one place
(`cloudhp.cli.errors`), so every message has the same shape: what went wrong, and a
hint naming what would be right.
"""

from __future__ import annotations

from enum import IntEnum

from cloudhp.redact import redact


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    ENVIRONMENT = 5
    REMOTE = 6
    TIMEOUT = 7
    DEPLOY_FAILED = 8
    INTERNAL = 70  # a bug in cloudhp (EX_SOFTWARE); the traceback is saved
    INTERRUPTED = 130


class CloudhpError(Exception):
    """An expected failure: shown to the user as a message and a hint, no traceback."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        # Redacted here, once, so no error text anywhere carries a secret.
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else redact(hint)

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "exit_status": int(self.exit_status),
        }


class UsageError(CloudhpError):
    """The user asked for something malformed (a bad name, an even manager count, ...)."""

    exit_status = ExitStatus.USAGE


class NotFoundError(CloudhpError):
    exit_status = ExitStatus.NOT_FOUND


class ConflictError(CloudhpError):
    exit_status = ExitStatus.CONFLICT


class EnvironmentProblem(CloudhpError):
    """This machine lacks something cloudhp needs (Docker, debootstrap, a kernel feature)."""

    exit_status = ExitStatus.ENVIRONMENT


class RemoteCommandError(CloudhpError):
    """A command on a node failed; carries the command, exit code and the tail of output."""

    exit_status = ExitStatus.REMOTE

    def __init__(self, host: str, command: str, exited: int, output: str) -> None:
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(
            f"command on {host} exited with {exited}: {command}\n{tail}".rstrip(),
            hint="run it by hand with `cloudhp ssh` to see more",
        )
        self.host = host
        self.command = redact(command)
        self.exited = exited
        self.output = redact(output)


class Transient:
    """Marks a failure that may pass on its own (a cloud still answering 503 after the
    request policy's retries, a node not reachable for a moment): `cloudhp.polling`
    keeps trying through it until its deadline instead of failing the wait at once."""


class CloudUnavailable(Transient, CloudhpError):
    """The cloud answered "not now" (429, 5xx) or dropped the connection, retries spent."""


class RemoteUnreachable(Transient, CloudhpError):
    """A node did not answer over SSH, or refused the cluster's key."""

    exit_status = ExitStatus.REMOTE


class HostKeyMismatch(CloudhpError):
    exit_status = ExitStatus.REMOTE


class HostKeyUnpinned(CloudhpError):
    """No key is pinned for a node's address, or the pins came from another server:
    cloudhp does not connect, as it could not tell the node from an impostor."""

    exit_status = ExitStatus.REMOTE


class WaitTimeout(CloudhpError):
    exit_status = ExitStatus.TIMEOUT


class DeployFailed(CloudhpError):
    """A service's new tasks never became healthy: Swarm rolled the update back (the
    previous version keeps serving) or, for a new service, the wait ran out."""

    exit_status = ExitStatus.DEPLOY_FAILED


class QuotaTooSmall(CloudhpError):
    """The project's quota cannot hold the cluster; nothing was created.

    A general error (1): the request is valid and this machine is fine; the cloud
    project's administrator (or asking for less) can fix it.
    """


class GoldenBuildFailed(CloudhpError):
    """The builder server or its stack failed; the stack is deleted, nothing is left.

    A general error (1): a failure in the cloud, not the user's request, this
    machine, or a command run over SSH.
    """
