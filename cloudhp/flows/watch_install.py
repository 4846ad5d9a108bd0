"""Keeping `cloudhp watch` running on the bastion: a systemd unit where systemd is PID 1,
else cron entries (the bastions cloudhp was built on run cron and no systemd).

Either way the controller is started with `CLOUDHP_HOME` alone in its environment:
it authenticates with the cluster's application credential file, so the unit, the
crontab and the log hold no secret.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cloudhp.errors import EnvironmentProblem
from cloudhp.flows.schedule import Crontab
from cloudhp.flows.watch import app_credential_cloud, running_controller
from cloudhp.schedule import watch_cron_lines, with_line, without_watch
from cloudhp.state import ClusterFiles, cloudhp_home
from cloudhp.steps.appcred import credential_path

SYSTEMD_RUNNING = Path("/run/systemd/system")
LOG = "watch.log"


@dataclass(frozen=True)
class Installed:
    cluster: str
    how: str  # "systemd" or "cron"
    where: str  # the unit file, or "crontab"
    log: str
    changed: bool

    def to_dict(self) -> dict[str, str | bool]:
        return {
            "cluster": self.cluster,
            "how": self.how,
            "where": self.where,
            "log": self.log,
            "changed": self.changed,
        }


def unit_name(cluster: str) -> str:
    return f"cloudhp-watch-{cluster}.service"


def unit_text(cluster: str, cloudhp: str, home: Path) -> str:
    """A systemd unit restarting the controller whenever it exits."""
    command = shlex.join([cloudhp, "watch", "--name", cluster])
    return (
        "[Unit]\n"
        f"Description=cloudhp volume controller for cluster {cluster}\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        "[Service]\n"
        f"Environment=CLOUDHP_HOME={shlex.quote(str(home))}\n"
        f"ExecStart={command}\n"
        "Restart=always\nRestartSec=5\n\n"
        "[Install]\nWantedBy=default.target\n"
    )


def _cloudhp() -> str:
    return shutil.which("cloudhp") or str(Path(sys.argv[0]).resolve())


def _unit_path(cluster: str) -> Path:
    return Path.home() / ".config/systemd/user" / unit_name(cluster)


def _systemctl(*args: str) -> None:
    done = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvironmentProblem(
            f"systemctl --user {' '.join(args)} failed: {done.stderr.strip()}",
            hint="`loginctl enable-linger $USER` lets a user's units run while nobody is logged in",
        )


def install(files: ClusterFiles, crontab: Crontab, systemd: bool | None = None) -> Installed:
    """Install the controller for the cluster; unchanged when it already was.

    Raises:
        UsageError: the cluster has no application credential here (nothing installed).
    """
    if not credential_path(files.path).is_file():
        app_credential_cloud(files)  # raises the error that says what to do
    log = files.path / LOG
    if SYSTEMD_RUNNING.is_dir() if systemd is None else systemd:
        path = _unit_path(files.name)
        text = unit_text(files.name, _cloudhp(), cloudhp_home())
        changed = not path.is_file() or path.read_text() != text
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            _systemctl("daemon-reload")
        _systemctl("enable", "--now", unit_name(files.name))
        return Installed(files.name, "systemd", str(path), "journalctl --user", changed)
    current = crontab.read()
    wanted = without_watch(current, files.name)
    for line in watch_cron_lines(files.name, _cloudhp(), cloudhp_home(), log):
        wanted = with_line(wanted, line)
    if wanted != current:
        crontab.write(wanted)
    return Installed(files.name, "cron", "crontab", str(log), wanted != current)


def uninstall(files: ClusterFiles, crontab: Crontab) -> bool:
    """Remove the unit or the cron entries, and stop the controller that runs (SIGTERM:
    a move it was making stays recorded, and the next controller completes it)."""
    path = _unit_path(files.name)
    changed = False
    if path.is_file():
        _systemctl("disable", "--now", unit_name(files.name))
        path.unlink()
        changed = True
    current = crontab.read()
    if without_watch(current, files.name) != current:
        crontab.write(without_watch(current, files.name))
        changed = True
    pid = running_controller(files)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        changed = True
    return changed
