"""A scheduled teardown fired by the real cron daemon: `teardown --after 1m` installs a
crontab line, cron runs it at its minute, and the cluster goes on its application
credential alone; no password or secret is in the line, the job file or its log."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud import connect

pytestmark = pytest.mark.docker

CLUSTER = "sch"
TAG = f"cloudhp-cluster={CLUSTER}"


@pytest.fixture(scope="module")
def cron() -> Iterator[None]:
    """The cron daemon, started for the test when it is not running (and then stopped)."""
    daemon = shutil.which("cron")
    assert daemon, "cron is not installed: scripts/install.sh installs it"
    running = subprocess.run(["pgrep", "-x", "cron"], capture_output=True).returncode == 0
    if not running:
        subprocess.run([daemon], check=True)
    yield
    if not running:
        subprocess.run(["pkill", "-x", "cron"], check=False)


def crontab() -> str:
    return subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout


def test_cron_fires_the_teardown_on_the_clusters_credential_alone(cli, cron):
    cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", "0")
    credential = Path(cli.env["CLOUDHP_HOME"]) / "clusters" / CLUSTER / "clouds.yaml"
    secret = credential.read_text().split("application_credential_secret:")[1].split()[0]
    conn = connect(cli)
    job = cli.json("teardown", "--name", CLUSTER, "--after", "1m", "--yes")
    try:
        line = next(entry for entry in crontab().splitlines() if job["id"] in entry)
        job_file = Path(cli.env["CLOUDHP_HOME"]) / "schedule" / f"{job['id']}.json"
        assert secret not in line + job_file.read_text()
        assert "password" not in line.lower()
        listed = cli.json("schedule", "list")["jobs"]
        assert [(j["id"], j["cluster"], j["in_crontab"]) for j in listed] == [
            (job["id"], CLUSTER, True)
        ]
        deadline = time.monotonic() + 300  # cron fires at the next minute or the one after
        while list(conn.compute.servers(tags=TAG)) and time.monotonic() < deadline:
            time.sleep(5)
        while job_file.exists() and time.monotonic() < deadline:
            time.sleep(2)
        assert list(conn.compute.servers(tags=TAG)) == []
        assert list(conn.network.security_groups(tags=TAG)) == []
        assert not job_file.exists() and job["id"] not in crontab()
        assert not credential.exists()  # deleted last, with the credential itself
        log = (job_file.parent / f"{job['id']}.log").read_text()
        assert secret not in log
        assert cli.json("schedule", "list")["jobs"] == []
    finally:
        if job["id"] in crontab():
            cli.run("schedule", "cancel", job["id"])
            cli.run("teardown", "--cloud", "local", "--name", CLUSTER, "--yes")
