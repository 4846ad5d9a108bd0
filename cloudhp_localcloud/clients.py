"""What clients need to reach the local cloud: clouds.yaml entries and an openrc.

The passwords live in the 0600 `clouds.yaml` of the data dir (identity's bootstrap
writes it); these read it and point the entries at the URL the server announced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudhp.errors import NotFoundError
from cloudhp_localcloud import runtime
from cloudhp_localcloud.config import (
    ADMIN_CLOUD_NAME,
    CLOUD_NAME,
    LocalCloudConfig,
    merge_clouds_yaml,
    read_clouds_yaml,
)
from cloudhp_localcloud.store import Store


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
    auth_url = runtime.auth_url(config)
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
    auth_url = runtime.auth_url(config)
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
