"""From command-line choices to one authenticated openstacksdk Connection.

`--cloud local` starts localcloud when it is not running and uses the clouds.yaml entry
it writes; everything else goes through `cloudhp.cloud.credentials`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from openstack.connection import Connection

from cloudhp.cloud import local
from cloudhp.cloud.connect import authenticate, connect
from cloudhp.cloud.credentials import resolve_auth
from cloudhp.errors import UsageError


def open_cloud(
    openrc: Path | None,
    os_cloud: str | None,
    cloud: str | None,
    password_prompt: Callable[[str], str],
    environ: Mapping[str, str] | None = None,
) -> Connection:
    environ = dict(os.environ if environ is None else environ)
    if cloud is not None:
        if cloud != "local":
            raise UsageError(f"unknown --cloud {cloud!r}", hint="the only value is `local`")
        if openrc or os_cloud:
            raise UsageError("--cloud local cannot be combined with --openrc or --os-cloud")
        os_cloud = start_localcloud()
    auth = resolve_auth(openrc, os_cloud, environ, password_prompt)
    conn = connect(auth)
    authenticate(conn)
    return conn


def open_clouds_file(path: Path, entry: str) -> Connection:
    """The entry of a clouds.yaml of cloudhp's own (the cluster's application
    credential): no password to ask for, no OS_* variable or user's file consulted."""

    def no_prompt(prompt: str) -> str:
        raise UsageError(f"{path} asks for a password: an application credential needs none")

    return open_cloud(None, entry, None, no_prompt, {"OS_CLIENT_CONFIG_FILE": str(path)})


def auth_choice(openrc: Path | None, os_cloud: str | None, cloud: str | None) -> dict[str, str]:
    """How this run authenticates, to do it again later: never a secret, only where to
    find one (an openrc path, a clouds.yaml entry, the local cloud, or OS_* variables)."""
    if cloud:
        return {"cloud": cloud}
    if os_cloud:
        return {"os_cloud": os_cloud}
    if openrc:
        return {"openrc": str(openrc.resolve())}
    return {"environment": "OS_*"}


def start_localcloud() -> str:
    """Start (or find) the local cloud and return the clouds.yaml entry that reaches it."""
    return str(local.control().ensure_running())
