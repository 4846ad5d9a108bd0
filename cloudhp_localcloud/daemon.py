"""Run localcloud: in the foreground, or as a detached daemon the CLI manages.

The server process (`serve`, i.e. `python -m cloudhp_localcloud`) owns its pid file
and `localcloud.json` (where it listens) in the data dir, so whoever started it, the
files are right; `start`, `stop`, `status` and `reset` only read them and signal.

`RESET_HOOKS` lets other parts of cloudhp clean up what lives outside the data dir
(node containers, Docker networks and volumes, images) when the user runs
`cloudhp localcloud reset`. A hook is `hook(config: LocalCloudConfig) -> None`; hooks
run after the daemon stopped and before `state.db` is deleted, so they can still read
the store (open `Store(config.db_path)`) to find what to remove. If a hook raises,
the state is kept so that reset can be run again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from cloudhp.errors import (
    CloudhpError,
    ConflictError,
    EnvironmentProblem,
    NotFoundError,
    WaitTimeout,
)
from cloudhp_localcloud.config import (
    ADMIN_CLOUD_NAME,
    CLOUD_NAME,
    LocalCloudConfig,
    merge_clouds_yaml,
    read_clouds_yaml,
)
from cloudhp_localcloud.store import Store, utcnow

log = logging.getLogger(__name__)

RESET_HOOKS: list[Callable[[LocalCloudConfig], None]] = []


# --- the server process --------------------------------------------------------------


def serve(config: LocalCloudConfig, on_ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C; the pid file exists exactly while we serve.

    Raises:
        ConflictError: another localcloud uses this data dir, or the port is taken.
    """

    running = read_pid(config)
    if running is not None and running != os.getpid():
        raise ConflictError(
            f"localcloud is already running for {config.data_dir} (pid {running})",
            hint="stop it with `cloudhp localcloud down`",
        )
    config, servers = make_servers(config)
    server = servers[0]
    for extra in servers[1:]:
        threading.Thread(target=extra.serve_forever, name="localcloud-public", daemon=True).start()
    _write_json(config.pid_path, os.getpid())
    _write_json(
        config.runtime_path,
        {
            "pid": os.getpid(),
            "host": config.host,
            "port": config.port,
            "url": config.base_url,
            "auth_url": config.auth_url,
            "started_at": utcnow(),
        },
    )

    def on_term(signum: int, frame: Any) -> None:
        for each in servers:
            threading.Thread(target=each.shutdown, daemon=True).start()

    previous = signal.signal(signal.SIGTERM, on_term)
    log.info("localcloud serving on %s (data in %s)", config.base_url, config.data_dir)
    try:
        if on_ready is not None:
            on_ready()
        threading.Thread(target=_seed, args=(config,), name="seed", daemon=True).start()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for each in servers:
            each.server_close()
        if read_pid(config) == os.getpid():
            config.pid_path.unlink(missing_ok=True)
        log.info("localcloud stopped")


def _seed(config: LocalCloudConfig) -> None:
    from cloudhp_localcloud.seed import seed_demo_project

    try:
        seed_demo_project(config)
    except Exception:
        log.exception("could not seed the demo project's network")
    finally:
        # `start` returns only after this, so the first client sees a complete cloud.
        runtime = json.loads(config.runtime_path.read_text())
        _write_json(config.runtime_path, {**runtime, "seeded": True})


def _seeded(config: LocalCloudConfig) -> bool:
    try:
        return bool(json.loads(config.runtime_path.read_text()).get("seeded"))
    except (OSError, ValueError):
        return False


def make_servers(config: LocalCloudConfig) -> tuple[LocalCloudConfig, list[Any]]:
    """The app's HTTP servers: one on the configured address, one on the public gateway.

    Servers are containers: they cannot reach the host's loopback, so the APIs also
    listen on the host's address on localcloud's public Docker network (172.24.4.1),
    which is what Heat signal URLs point at.
    """
    import dataclasses

    import docker

    from cloudhp_localcloud.app import create_app
    from cloudhp_localcloud.network_backend import ensure_public_network

    gateway = ensure_public_network(docker.from_env())
    config = dataclasses.replace(config, service_address=gateway)
    app = create_app(config)
    hosts = [config.host] + ([gateway] if gateway != config.host else [])
    servers = []
    try:
        for host in hosts:
            servers.append(make_server(host, config.port, app, threaded=True))
    except OSError as exc:
        for each in servers:
            each.server_close()
        raise _port_error(config, exc) from None
    return config, servers


def _port_error(config: LocalCloudConfig, exc: OSError) -> CloudhpError:
    if exc.errno == errno.EADDRINUSE:
        return ConflictError(
            f"port {config.port} on {config.host} is already in use",
            hint="choose another with --port",
        )
    return EnvironmentProblem(f"cannot listen on {config.host}:{config.port}: {exc.strerror}")


# --- managing the daemon -------------------------------------------------------------


def start(config: LocalCloudConfig, timeout: float = 30.0) -> dict[str, Any]:
    """Start a detached server unless one runs; wait until Keystone answers.

    Raises:
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
        if read_pid(config) == proc.pid and _seeded(config) and _answers(config.auth_url + "/v3"):
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
            raise _port_error(config, exc) from None


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
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _alive(pid: int) -> bool:
    """Is `pid` a live process? A zombie (our exited child, not yet reaped) is not."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def read_pid(config: LocalCloudConfig) -> int | None:
    """The pid of the live localcloud for this data dir, or None (stale files ignored)."""
    try:
        pid = int(json.loads(config.pid_path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not _alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    # A recycled pid must never be signalled: check it is a localcloud process.
    if cmdline.exists() and b"cloudhp" not in cmdline.read_bytes():
        return None
    return pid


def status(config: LocalCloudConfig) -> dict[str, Any]:
    pid = read_pid(config)
    runtime: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        runtime = json.loads(config.runtime_path.read_text())
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
    """Stop, run RESET_HOOKS, then delete all state (passwords included).

    Raises:
        CloudhpError: a hook failed; the state is kept so reset can be retried.
    """
    import cloudhp_localcloud.app  # noqa: F401  (the services register their hooks on import)

    stopped = stop(config)
    for hook in list(RESET_HOOKS):
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


# --- client configuration ------------------------------------------------------------


def client_entries(config: LocalCloudConfig) -> dict[str, dict[str, Any]]:
    """clouds.yaml entries (demo and admin) pointing at the URL the daemon serves on.

    Raises:
        NotFoundError: the credentials file is missing (never started, or deleted).
    """
    clouds = read_clouds_yaml(config.credentials_path).get("clouds") or {}
    if CLOUD_NAME not in clouds:
        raise NotFoundError(
            f"no localcloud credentials in {config.credentials_path}",
            hint="start it with `cloudhp localcloud up` (or `reset` then `up` to reseed)",
        )
    auth_url = status(config)["auth_url"]
    for entry in clouds.values():
        entry["auth"]["auth_url"] = auth_url
    return {k: v for k, v in clouds.items() if k in (CLOUD_NAME, ADMIN_CLOUD_NAME)}


def install_clouds_yaml(config: LocalCloudConfig, path: Path) -> list[str]:
    """Merge our entries into the user's clouds.yaml (mode 0600); returns their names."""
    entries = client_entries(config)
    merge_clouds_yaml(path, entries)
    return list(entries)


def openrc(config: LocalCloudConfig, user: str = "demo") -> str:
    """A Horizon-style openrc that asks for the password instead of containing it."""
    project_id = ""
    if config.db_path.exists():
        store = Store(config.db_path)
        try:
            found = store.list("project", name=user)
            project_id = found[0]["id"] if found else ""
        finally:
            store.close()
    auth_url = status(config)["auth_url"]
    return f"""#!/usr/bin/env bash
# openrc for cloudhp localcloud, user {user}; source it: . ./{user}-openrc.sh
export OS_AUTH_URL={auth_url}/v3
export OS_PROJECT_ID={project_id}
export OS_PROJECT_NAME="{user}"
export OS_USER_DOMAIN_NAME="Default"
if [ -z "$OS_USER_DOMAIN_NAME" ]; then unset OS_USER_DOMAIN_NAME; fi
export OS_PROJECT_DOMAIN_ID="default"
if [ -z "$OS_PROJECT_DOMAIN_ID" ]; then unset OS_PROJECT_DOMAIN_ID; fi
unset OS_TENANT_ID
unset OS_TENANT_NAME
export OS_USERNAME="{user}"
echo "Please enter your OpenStack Password for project $OS_PROJECT_NAME as user $OS_USERNAME: "
read -sr OS_PASSWORD_INPUT
export OS_PASSWORD=$OS_PASSWORD_INPUT
export OS_REGION_NAME="{config.region}"
if [ -z "$OS_REGION_NAME" ]; then unset OS_REGION_NAME; fi
export OS_INTERFACE=public
export OS_IDENTITY_API_VERSION=3
"""


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)
