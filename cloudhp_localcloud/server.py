"""The server process: `python -m cloudhp_localcloud` (or `localcloud up --foreground`).

It owns its pid file and `localcloud.json` (where it listens) in the data dir
(runtime.py), so whoever started it, the files are right. It listens on the
configured address and on the host's address on the public Docker network, and seeds
the demo project's network in the background once it answers.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import make_server

from cloudhp.errors import CloudhpError, ConflictError, EnvironmentProblem
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.runtime import read_pid, write_json
from cloudhp_localcloud.store import utcnow

log = logging.getLogger(__name__)


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
    write_json(config.pid_path, os.getpid())
    write_json(
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
        write_json(config.runtime_path, {**runtime, "seeded": True})


def make_servers(config: LocalCloudConfig) -> tuple[LocalCloudConfig, list[Any]]:
    """The app's HTTP servers: one on the configured address, one on the public gateway.

    Servers are containers: they cannot reach the host's loopback, so the APIs also
    listen on the host's address on localcloud's public Docker network (172.24.4.1),
    which is what Heat signal URLs point at.
    """
    import docker

    from cloudhp_localcloud.app import create_app
    from cloudhp_localcloud.network.bridges import ensure_public_network

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
        raise port_error(config, exc) from None
    return config, servers


def port_error(config: LocalCloudConfig, exc: OSError) -> CloudhpError:
    if exc.errno == errno.EADDRINUSE:
        return ConflictError(
            f"port {config.port} on {config.host} is already in use",
            hint="choose another with --port",
        )
    return EnvironmentProblem(f"cannot listen on {config.host}:{config.port}: {exc.strerror}")
