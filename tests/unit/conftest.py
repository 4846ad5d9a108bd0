"""Unit tests are hermetic: no test reads the real home directory or OpenStack config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def hermetic_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("CLOUDHP_HOME", str(home / "cloudhp"))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(home / "no-clouds.yaml"))
    monkeypatch.setenv("CLOUDHP_CLOUDS_YAML", str(home / "no-clouds.yaml"))
    # openstacksdk computes its clouds.yaml search path when it is imported, from the
    # real home: point it at the temporary one too.
    from openstack.config import loader

    monkeypatch.setattr(loader, "CONFIG_FILES", [str(home / ".config/openstack/clouds.yaml")])
    monkeypatch.setattr(loader, "SECURE_FILES", [str(home / ".config/openstack/secure.yaml")])
    for name in list(os.environ):
        if name.startswith("OS_") and name != "OS_CLIENT_CONFIG_FILE":
            monkeypatch.delenv(name)
    return home
