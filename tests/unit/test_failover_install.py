"""Keeping the controller alive: its cron entries and systemd unit exactly, install and
uninstall against an in-memory crontab, and the watch lock that makes one controller."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloudhp.errors import UsageError
from cloudhp.flows import watch_install
from cloudhp.flows.watch import AlreadyWatched, running_controller, watch_lock
from cloudhp.schedule import watch_cron_lines, without_watch
from cloudhp.state import cluster_files


class MemoryCrontab:
    def __init__(self, text: str = "") -> None:
        self.text = text
        self.writes = 0

    def read(self) -> str:
        return self.text

    def write(self, text: str) -> None:
        self.text = text
        self.writes += 1


def test_cron_starts_it_at_boot_and_every_minute_if_not_running() -> None:
    lines = watch_cron_lines("c1", "/usr/bin/cloudhp", Path("/h/my home"), Path("/h/w.log"))
    body = (
        "CLOUDHP_HOME='/h/my home' /usr/bin/cloudhp watch --name c1 --if-not-running "
        ">> /h/w.log 2>&1 # cloudhp-watch c1"
    )
    assert lines == [f"@reboot {body}", f"* * * * * {body}"]


def test_a_percent_sign_cron_would_mangle_is_refused() -> None:
    with pytest.raises(UsageError, match="'%'"):
        watch_cron_lines("c1", "/usr/bin/cloudhp", Path("/h/100%"), Path("/h/w.log"))


def test_removing_one_clusters_entries_keeps_everything_else() -> None:
    table = "0 1 * * * backup\n@reboot x # cloudhp-watch c1\n* * * * * y # cloudhp-watch c10\n"
    assert without_watch(table, "c1") == "0 1 * * * backup\n* * * * * y # cloudhp-watch c10\n"


def test_the_systemd_unit_restarts_it_with_only_the_home_in_its_environment() -> None:
    assert watch_install.unit_text("c1", "/usr/bin/cloudhp", Path("/h")) == (
        "[Unit]\nDescription=cloudhp volume controller for cluster c1\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        "[Service]\nEnvironment=CLOUDHP_HOME=/h\nExecStart=/usr/bin/cloudhp watch --name c1\n"
        "Restart=always\nRestartSec=5\n\n[Install]\nWantedBy=default.target\n"
    )


def _with_credential(name: str) -> None:
    files = cluster_files(name).create()
    (files.path / "clouds.yaml").write_text("clouds: {}\n")


def test_install_under_cron_is_idempotent_and_uninstall_removes_it() -> None:
    _with_credential("c1")
    crontab = MemoryCrontab("0 1 * * * backup\n")
    first = watch_install.install(cluster_files("c1"), crontab, systemd=False)
    assert (first.how, first.changed) == ("cron", True)
    assert crontab.text.count("# cloudhp-watch c1") == 2
    assert crontab.text.startswith("0 1 * * * backup\n")
    again = watch_install.install(cluster_files("c1"), crontab, systemd=False)
    assert not again.changed and crontab.writes == 1
    assert watch_install.uninstall(cluster_files("c1"), crontab)
    assert crontab.text == "0 1 * * * backup\n"
    assert not watch_install.uninstall(cluster_files("c1"), crontab)


def test_install_without_the_application_credential_installs_nothing() -> None:
    cluster_files("c2").create()
    crontab = MemoryCrontab()
    with pytest.raises(UsageError, match="no application credential") as caught:
        watch_install.install(cluster_files("c2"), crontab, systemd=False)
    assert "cloudhp init --name c2" in (caught.value.hint or "")
    assert crontab.writes == 0


def test_one_controller_per_cluster_and_its_pid_is_known() -> None:
    files = cluster_files("c3")
    assert running_controller(files) is None
    with watch_lock(files):
        assert running_controller(files) == os.getpid()
        with pytest.raises(AlreadyWatched, match=f"pid {os.getpid()}"), watch_lock(files):
            pass
    assert running_controller(files) is None
    assert oct((files.path / "watch.lock").stat().st_mode & 0o777) == "0o600"
