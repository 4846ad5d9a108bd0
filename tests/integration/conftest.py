"""One real localcloud per test session, on a free loopback port, for every service's tests.

Fixtures:
    localcloud   LocalCloud: url, auth_url, data_dir, config, clouds_yaml, demo/admin
                 auth dicts, cli_env (for subprocess `openstack ...`), connect(), store()
    conn         openstacksdk Connection as user "demo" in project "demo" (member)
    admin_conn   openstacksdk Connection as user "admin" in project "admin" (admin)

The server runs in a thread of the test process (werkzeug, threaded), with the app
built by the same `create_app` the daemon uses, so whatever is in app.SERVICES is
served. `localcloud.store()` opens the same state.db for white-box setup (an expired
token, a resource in an odd state) that the API cannot produce.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openstack
import pytest
from openstack.connection import Connection

from cloudhp_localcloud import clients, registry
from cloudhp_localcloud.config import LocalCloudConfig, read_clouds_yaml
from cloudhp_localcloud.server import make_servers
from cloudhp_localcloud.store import Store


@dataclass
class LocalCloud:
    url: str
    auth_url: str
    data_dir: Path
    config: LocalCloudConfig
    clouds_yaml: Path
    demo: dict[str, Any]  # openstack.connect(**demo) keyword auth, password included
    admin: dict[str, Any]
    _stores: list[Store] = field(default_factory=list, repr=False)

    @property
    def cli_env(self) -> dict[str, str]:
        """Environment for `openstack` subprocesses: OS_CLOUD=cloudhp-local, nothing else."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(OS_CLOUD="cloudhp-local", OS_CLIENT_CONFIG_FILE=str(self.clouds_yaml))
        return env

    def connect(self, **auth: Any) -> Connection:
        """A Connection that ignores the user's clouds.yaml and OS_* variables."""
        return openstack.connect(
            load_yaml_config=False,
            load_envvars=False,
            region_name=self.config.region,
            identity_api_version="3",
            **auth,
        )

    def store(self) -> Store:
        store = Store(self.config.db_path)
        self._stores.append(store)
        return store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _auth(entry: dict[str, Any]) -> dict[str, Any]:
    auth = dict(entry["auth"])
    return {**auth, "auth_url": auth["auth_url"]}


@pytest.fixture(scope="session")
def localcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    data_dir = tmp_path_factory.mktemp("localcloud")
    config = LocalCloudConfig(data_dir=data_dir, port=_free_port(), token_lifetime=3600)
    config, servers = make_servers(config)
    for server in servers:
        threading.Thread(target=server.serve_forever, name="localcloud", daemon=True).start()
    clouds_yaml = data_dir / "client" / "clouds.yaml"
    clients.install_clouds_yaml(config, clouds_yaml)
    clouds = read_clouds_yaml(clouds_yaml)["clouds"]
    cloud = LocalCloud(
        url=config.base_url,
        auth_url=config.auth_url,
        data_dir=data_dir,
        config=config,
        clouds_yaml=clouds_yaml,
        demo=_auth(clouds["cloudhp-local"]),
        admin=_auth(clouds["cloudhp-local-admin"]),
    )
    try:
        yield cloud
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for store in cloud._stores:
            store.close()
        # What a failed test left on the engine goes, as `localcloud reset` would do it:
        # this instance's containers, volumes, loop devices and networks only.
        for hook in registry.reset_hooks():
            hook(config)


@pytest.fixture(scope="session")
def conn(localcloud: LocalCloud) -> Connection:
    return localcloud.connect(**localcloud.demo)


@pytest.fixture(scope="session")
def admin_conn(localcloud: LocalCloud) -> Connection:
    return localcloud.connect(**localcloud.admin)
