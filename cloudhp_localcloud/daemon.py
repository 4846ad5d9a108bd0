"""Manage localcloud as a detached daemon: start, stop, status, reset.

`start` spawns the server process (`python -m cloudhp_localcloud`, server.py), which
owns its pid file and `localcloud.json` in the data dir; `start`, `stop`, `status` and
`reset` only read them (runtime.py) and signal.

`reset` removes what lives outside the data dir (server containers, loop devices,
Docker networks and volumes, snapshot images) with each service's `reset`, in the
order registry.py declares, after the daemon stopped and before `state.db` is
deleted, so they can still read the store (`Store(config.db_path)`) to find what to
remove. If one raises, the state is kept so that reset can be run again.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from cloudhp.errors import CloudhpError, EnvironmentProblem, WaitTimeout
from cloudhp_localcloud import fault_injection
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.runtime import alive, read_pid, read_runtime, seeded
from cloudhp_localcloud.server import port_error
from cloudhp_localcloud.store import Store

__all__ = ["reset", "start", "status", "stop"]

log = logging.getLogger(__name__)


def _reset_hooks() -> list[Callable[[LocalCloudConfig], None]]:
    from cloudhp_localcloud import registry

    return registry.reset_hooks()


def start(config: LocalCloudConfig, timeout: float = 30.0) -> dict[str, Any]:
    """Start a detached server unless one runs; wait until Keystone answers.

    The fault rules (`config.faults_path`) are read at start; a running daemon keeps
    its own (change them with PUT /localcloud/faults).

    Raises:
        UsageError: the fault rules file is unreadable or wrong.
        ConflictError: the port is taken by something else.
        EnvironmentProblem: the server exited during start (the log's tail is shown).
        WaitTimeout: it did not answer within `timeout` seconds.
    """
    current = status(config)
    if current["running"]:
        return {**current, "changed": False}
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _check_port_free(config)
    env = dict(os.environ)
    argv = [
        sys.executable,
        "-m",
        "cloudhp_localcloud",
        "--host",
        config.host,
        "--port",
        str(config.port),
        "--data-dir",
        str(config.data_dir),
        "--token-lifetime",
        str(config.token_lifetime),
    ]
    if config.public_url:
        argv += ["--public-url", config.public_url]
    if config.build_latency:
        argv += ["--build-latency", str(config.build_latency)]
    if config.faults_path is not None:
        fault_injection.load(config.faults_path)  # a bad file fails here, not in the log
        argv += ["--faults", str(config.faults_path.resolve())]
    with open(config.log_path, "ab") as logfile:
        os.chmod(config.log_path, 0o600)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise EnvironmentProblem(
                f"localcloud exited during start with code {code}:\n{_log_tail(config)}",
                hint=f"the full log is {config.log_path}",
            )
        if read_pid(config) == proc.pid and seeded(config) and _answers(config.auth_url + "/v3"):
            return {**status(config), "changed": True}
        time.sleep(0.1)
    proc.terminate()
    raise WaitTimeout(
        f"localcloud did not answer on {config.auth_url} within {timeout:.0f}s",
        hint=f"see {config.log_path}",
    )


def _check_port_free(config: LocalCloudConfig) -> None:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((config.host, config.port))
        except OSError as exc:
            raise port_error(config, exc) from None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(config: LocalCloudConfig, lines: int = 15) -> str:
    try:
        return "\n".join(config.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(config: LocalCloudConfig, timeout: float = 10.0) -> dict[str, Any]:
    """SIGTERM the daemon and wait for it to exit (SIGKILL after `timeout`)."""
    pid = read_pid(config)
    if pid is None:
        config.pid_path.unlink(missing_ok=True)  # stale: its process is gone
        return {**status(config), "changed": False}
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        log.warning("localcloud (pid %d) ignored SIGTERM; killing it", pid)
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
    config.pid_path.unlink(missing_ok=True)
    return {**status(config), "changed": True, "stopped_pid": pid}


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def status(config: LocalCloudConfig) -> dict[str, Any]:
    pid = read_pid(config)
    runtime = read_runtime(config)
    counts: dict[str, int] = {}
    if config.db_path.exists():
        store = Store(config.db_path)
        try:
            counts = store.counts()
        finally:
            store.close()
    return {
        "running": pid is not None,
        "pid": pid,
        "url": runtime.get("url", config.base_url),
        "auth_url": runtime.get("auth_url", config.auth_url),
        "data_dir": str(config.data_dir),
        "log": str(config.log_path),
        "resources": counts,
    }


def reset(config: LocalCloudConfig) -> dict[str, Any]:
    """Stop, run every service's reset (registry.RESET_ORDER), then delete all state
    (passwords included).

    Raises:
        CloudhpError: a service's reset failed; the state is kept so reset can be retried.
    """
    stopped = stop(config)
    for hook in _reset_hooks():
        try:
            hook(config)
        except Exception as exc:
            raise CloudhpError(
                f"reset hook {getattr(hook, '__name__', hook)} failed: {exc}",
                hint="fix the cause and run `cloudhp localcloud reset` again; state was kept",
            ) from exc
    removed = []
    for path in (
        config.db_path,
        config.db_path.with_name("state.db-wal"),
        config.db_path.with_name("state.db-shm"),
        config.credentials_path,
        config.runtime_path,
        config.pid_path,
    ):
        if path.exists():
            path.unlink()
            removed.append(str(path))
    return {
        "stopped": stopped.get("changed", False),
        "removed": removed,
        "data_dir": str(config.data_dir),
    }
