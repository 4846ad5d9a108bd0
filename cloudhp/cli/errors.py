"""The one error renderer: every failure leaves the CLI as a short message and an exit
status; with `--output json` as one JSON document.

Expected failures are CloudhpError. openstacksdk and paramiko errors that escaped a
step are mapped by the same functions the steps use (`cloudhp.cloud.calls.from_sdk`,
`cloudhp.remote.ssh.from_ssh`). Anything else is a bug: its traceback goes to a 0600
file under the cloudhp home, named in the message, and `--traceback` prints it.
"""

from __future__ import annotations

import json
import time
import traceback

import click
import openstack.exceptions as os_exc
import paramiko

from cloudhp.cloud.calls import from_sdk
from cloudhp.errors import CloudhpError, ExitStatus
from cloudhp.keys import write_private
from cloudhp.redact import redact
from cloudhp.remote.ssh import from_ssh
from cloudhp.state import cloudhp_home


class InternalError(CloudhpError):
    """A bug in cloudhp: not the user's doing; the traceback file has the details."""

    exit_status = ExitStatus.INTERNAL


def as_cloudhp_error(exc: BaseException) -> CloudhpError:
    if isinstance(exc, CloudhpError):
        return exc
    if isinstance(exc, os_exc.SDKException):
        return from_sdk(exc, "a cloud request")
    if isinstance(exc, paramiko.SSHException | OSError | EOFError):
        return from_ssh(exc, "a node")
    return InternalError(
        f"internal error: {type(exc).__name__}: {redact(str(exc))}",
        hint="this is a bug in cloudhp; please report it with the traceback file",
    )


def write_traceback(exc: BaseException) -> str:
    """Saves the redacted traceback; returns where."""
    path = cloudhp_home() / "logs" / f"traceback-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    text = "".join(traceback.format_exception(exc))
    write_private(path, redact(text).encode())
    return str(path)


def output_of(ctx: click.Context) -> str:
    node: click.Context | None = ctx
    while node is not None:
        if "cloudhp.output" in node.meta:
            return str(node.meta["cloudhp.output"])
        node = node.parent
    return "text"


def render(ctx: click.Context, exc: BaseException, show_traceback: bool) -> int:
    """Prints `exc` the one way; returns the exit status."""
    error = as_cloudhp_error(exc)
    data: dict[str, object] = dict(error.to_dict())
    if not isinstance(exc, CloudhpError):
        try:
            data["traceback_file"] = write_traceback(exc)
        except OSError:
            data["traceback_file"] = None
    data["message"] = redact(str(data["message"]))
    if output_of(ctx) == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.secho(f"error: {data['message']}", fg="red", err=True)
        if error.hint:
            click.echo(f"hint: {redact(error.hint)}", err=True)
        if data.get("traceback_file"):
            click.echo(f"traceback written to {data['traceback_file']}", err=True)
    if show_traceback:
        click.echo(redact("".join(traceback.format_exception(exc))), err=True)
    return int(error.exit_status)
