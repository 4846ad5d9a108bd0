"""The latency model's setting: an option of `localcloud up`, or the environment."""

from __future__ import annotations

import pytest

from cloudhp_localcloud.__main__ import main
from cloudhp_localcloud.config import LocalCloudConfig


def test_the_environment_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDHP_LOCALCLOUD_BUILD_LATENCY", "20")
    assert LocalCloudConfig().build_latency == 20.0
    monkeypatch.delenv("CLOUDHP_LOCALCLOUD_BUILD_LATENCY")
    assert LocalCloudConfig().build_latency == 0.0


def test_the_daemon_takes_it_as_an_argument(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    seen: list[LocalCloudConfig] = []
    monkeypatch.setattr("cloudhp_localcloud.__main__.serve", seen.append)
    main(["--data-dir", str(tmp_path), "--build-latency", "7.5"])
    assert seen[0].build_latency == 7.5
