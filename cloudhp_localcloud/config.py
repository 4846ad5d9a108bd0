"""Where localcloud lives and how clients find it.

One frozen `LocalCloudConfig` is built by the CLI (or a test fixture) and handed to
`create_app`; service code reads it with `current_config()`. It also owns the
client side: the clouds.yaml entries that let openstacksdk and the `openstack` CLI
reach the cloud with `OS_CLOUD=cloudhp-local`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_HOST = "127.0.0.1"
# CLOUDHP_LOCALCLOUD_PORT lets tests and benchmarks run their own localcloud beside yours.
DEFAULT_PORT = int(os.environ.get("CLOUDHP_LOCALCLOUD_PORT") or 8788)
DEFAULT_TOKEN_LIFETIME = 12 * 3600
REGION = "RegionOne"
CLOUD_NAME = "cloudhp-local"
ADMIN_CLOUD_NAME = "cloudhp-local-admin"


def default_data_dir() -> Path:
    """XDG data home, so state survives reboots but never lands in the working tree."""
    if env := os.environ.get("CLOUDHP_LOCALCLOUD_DIR"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cloudhp" / "localcloud"


def default_faults_path() -> Path | None:
    """The fault rules to serve with (fault_injection.py); tests set the variable."""
    env = os.environ.get("CLOUDHP_LOCALCLOUD_FAULTS")
    return Path(env) if env else None


def default_build_latency() -> float:
    """Seconds a new server stays in BUILD before it boots (the latency model)."""
    return float(os.environ.get("CLOUDHP_LOCALCLOUD_BUILD_LATENCY") or 0)


def clouds_yaml_path() -> Path:
    """The clouds.yaml that `up` merges into; env overrides keep tests out of $HOME."""
    for var in ("CLOUDHP_CLOUDS_YAML", "OS_CLIENT_CONFIG_FILE"):
        if env := os.environ.get(var):
            return Path(env)
    return Path.home() / ".config" / "openstack" / "clouds.yaml"


@dataclass(frozen=True)
class LocalCloudConfig:
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # URL that clients (and, later, servers inside containers) use; defaults to the
    # bind address, with a wildcard bind replaced by loopback.
    public_url: str | None = None
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    region: str = REGION
    # The host's address on localcloud's public Docker network, where the APIs also
    # listen so that servers (containers) can reach them, e.g. for Heat signals.
    service_address: str | None = None
    # Rules of injected faults (503, 429, slow answers) for tests; None: no faults.
    faults_path: Path | None = field(default_factory=default_faults_path)
    # The latency model: a new server waits this long in BUILD, as a real hypervisor
    # scheduling, fetching the image and spawning would make it, with no CPU spent.
    build_latency: float = field(default_factory=default_build_latency)

    @property
    def signal_base_url(self) -> str | None:
        if not self.service_address:
            return None
        return f"http://{self.service_address}:{self.port}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/identity"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "localcloud.pid"

    @property
    def runtime_path(self) -> Path:
        """Where the running daemon records its URL (kept after stop for `openrc`)."""
        return self.data_dir / "localcloud.json"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "localcloud.log"

    @property
    def credentials_path(self) -> Path:
        """The only file holding the seeded passwords in clear (mode 0600)."""
        return self.data_dir / "clouds.yaml"


def current_config() -> LocalCloudConfig:
    """The config of the app serving this request."""
    from flask import current_app

    return current_app.config["LOCALCLOUD"]


def cloud_entry(auth_url: str, username: str, password: str, project: str, region: str) -> dict:
    """A clouds.yaml entry as openstacksdk reads it."""
    return {
        "auth": {
            "auth_url": auth_url,
            "username": username,
            "password": password,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_id": "default",
        },
        "region_name": region,
        "interface": "public",
        "identity_api_version": 3,
    }


def read_clouds_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    loaded = yaml.safe_load(path.read_text()) or {}
    return loaded if isinstance(loaded, dict) else {}


def merge_clouds_yaml(path: Path, entries: dict[str, dict]) -> None:
    """Add or replace `entries` under `clouds:` keeping every other cloud.

    Written to a 0600 temp file then renamed, so a crash never leaves a half file and
    the passwords are never readable by others, even for a moment.
    """
    doc = read_clouds_yaml(path)
    found = doc.get("clouds")
    clouds: dict[str, Any] = found if isinstance(found, dict) else {}
    clouds.update(entries)
    doc["clouds"] = clouds
    write_private_yaml(path, doc)


def write_private_yaml(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(doc, fh, default_flow_style=False, sort_keys=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
