"""The test's own view of its localcloud through openstacksdk, from the clouds.yaml the
`cli` fixture's localcloud wrote: what a user's `openstack` client would see."""

from __future__ import annotations

import openstack
import yaml


def connect(cli, cloud: str = "cloudhp-local") -> openstack.connection.Connection:
    """`cloudhp-local` is the project's member; `cloudhp-local-admin` the cloud's admin."""
    entry = yaml.safe_load((cli.home / "clouds.yaml").read_text())["clouds"][cloud]
    return openstack.connect(
        load_yaml_config=False, load_envvars=False, identity_api_version="3",
        region_name=entry.get("region_name", "RegionOne"), **entry["auth"],
    )  # fmt: skip
