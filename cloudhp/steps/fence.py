"""Fencing a lost node through Nova: stop it, and believe it is off only when Nova says
SHUTOFF (or the server is gone).

A node Swarm cannot hear may still be writing to its disk (a network partition, a
paused VM that resumes); moving the disk while it runs would let two kernels mount the
same ext4 and wreck it. Nova's stop is the one switch cloudhp may pull that the node
itself cannot veto. When Nova refuses or never confirms, the caller moves nothing.
"""

from __future__ import annotations

from typing import Any

from openstack import exceptions as os_exc

from cloudhp.cloud.calls import cloud_call
from cloudhp.errors import CloudhpError, ConflictError
from cloudhp.polling import poll

OFF = "SHUTOFF"


class FenceUnconfirmed(ConflictError):
    """Nova did not stop the server, or did not say it was off in time: nothing moves."""


def is_fenced(server: Any | None) -> bool:
    """Off for certain: gone, or SHUTOFF with no power action still under way."""
    return server is None or (server.status == OFF and not server.task_state)


def server_or_none(conn: Any, server_id: str) -> Any | None:
    with cloud_call(f"reading server {server_id}"):
        try:
            return conn.compute.get_server(server_id)
        except os_exc.NotFoundException:
            return None


def fence(conn: Any, server_id: str, name: str, *, timeout: float, interval: float = 1.0) -> str:
    """Stop server `server_id` (node `name`) and wait until Nova shows it off.

    Returns:
        What happened, for the audit log ("already off", "stopped in 3s", ...).

    Raises:
        FenceUnconfirmed: the stop was refused or failed, or the server was not off
            within `timeout` seconds.
    """
    server = server_or_none(conn, server_id)
    if server is None:
        return "gone"
    if is_fenced(server):
        return "already SHUTOFF"
    try:
        if server.task_state != "powering-off":
            with cloud_call(f"stopping server {name}"):
                conn.compute.stop_server(server_id)
        poll(
            lambda: server_or_none(conn, server_id),
            is_fenced,
            timeout=timeout,
            interval=interval,
            what=f"stopping server {name}",
        )
    except CloudhpError as exc:
        raise FenceUnconfirmed(
            f"could not confirm that node {name} is off: {exc.message}",
            hint=f"make sure {name} is off, then `cloudhp volume confirm-fence VOLUME`",
        ) from None
    return "stopped through Nova"
