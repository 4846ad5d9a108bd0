"""`cloudhp teardown --at | --after`, `cloudhp schedule list | cancel | fire`.

A job is a 0600 file `$CLOUDHP_HOME/schedule/<id>.json` (what, which cluster, when) and
one crontab line (`cloudhp.schedule`); `fire`, which cron runs, tears the cluster down
with its application credential alone and then removes both, whatever the outcome (a
failed teardown is in the job's log, and a line left behind would fire again a year
later). The crontab is reached through `Crontab`, so tests and other programs can give
their own.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Protocol

from cloudhp.cloud.access import open_clouds_file
from cloudhp.errors import EnvironmentProblem, NotFoundError, UsageError
from cloudhp.flows.teardown import TeardownReport, teardown
from cloudhp.keys import write_private
from cloudhp.lock import cluster_lock
from cloudhp.progress import Reporter
from cloudhp.schedule import Job, cron_line, job_ids, with_line, without_job
from cloudhp.state import cloudhp_home, cluster_files
from cloudhp.steps.appcred import credential_name, credential_path


class Crontab(Protocol):
    def read(self) -> str: ...

    def write(self, text: str) -> None: ...


class UserCrontab:
    """This user's crontab, through the `crontab` command."""

    def _crontab(self) -> str:
        found = shutil.which("crontab")
        if found is None:
            raise EnvironmentProblem(
                "scheduling needs cron, and `crontab` is not installed",
                hint="`apt-get install -y cron` (scripts/install.sh does), and make sure "
                "the cron daemon runs",
            )
        return found

    def read(self) -> str:
        done = subprocess.run([self._crontab(), "-l"], capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""  # 1: no crontab yet

    def write(self, text: str) -> None:
        done = subprocess.run([self._crontab(), "-"], input=text, capture_output=True, text=True)
        if done.returncode != 0:
            raise EnvironmentProblem(f"crontab refused the new table: {done.stderr.strip()}")


def jobs_dir() -> Path:
    return cloudhp_home() / "schedule"


def _job_path(job_id: str) -> Path:
    return jobs_dir() / f"{job_id}.json"


def load_job(job_id: str) -> Job:
    try:
        return Job(**json.loads(_job_path(job_id).read_text()))
    except (OSError, ValueError, TypeError):
        raise NotFoundError(
            f"no scheduled job {job_id!r}", hint="`cloudhp schedule list` shows them"
        ) from None


def list_jobs(crontab: Crontab) -> list[dict[str, object]]:
    """Every job, and whether its crontab line is there (a job without one never runs)."""
    lines = set(job_ids(crontab.read()))
    jobs = [load_job(p.stem) for p in sorted(jobs_dir().glob("*.json"))]
    return [j.to_dict() | {"in_crontab": j.id in lines} for j in sorted(jobs, key=lambda j: j.at)]


def schedule_teardown(cluster: str, when: datetime.datetime, crontab: Crontab) -> Job:
    """Install the job; the cluster must have the credential the job will use."""
    files = cluster_files(cluster)
    if not credential_path(files.path).is_file():
        raise UsageError(
            f"cluster {cluster} has no application credential on this machine, and a "
            "scheduled teardown runs on nothing else",
            hint=f"run `cloudhp init --name {cluster}` here once (it makes one)",
        )
    job = Job(uuid.uuid4().hex[:12], cluster, when.astimezone(datetime.UTC).isoformat())
    jobs_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(_job_path(job.id), json.dumps(job.to_dict()).encode())
    cloudhp = shutil.which("cloudhp") or str(Path(sys.argv[0]).resolve())
    line = cron_line(job, cloudhp, cloudhp_home(), jobs_dir() / f"{job.id}.log")
    crontab.write(with_line(crontab.read(), line))
    return job


def cancel(job_id: str, crontab: Crontab) -> Job:
    job = load_job(job_id)
    crontab.write(without_job(crontab.read(), job.id))
    _job_path(job.id).unlink(missing_ok=True)
    return job


def fire(job_id: str, crontab: Crontab, reporter: Reporter) -> TeardownReport:
    """Run the job now (what cron does at its minute), then forget it."""
    job = load_job(job_id)
    try:
        files = cluster_files(job.cluster)
        conn = open_clouds_file(credential_path(files.path), credential_name(job.cluster))
        with cluster_lock(job.cluster, f"cloudhp schedule fire {job.id}", say=reporter.step):
            return teardown(
                conn, job.cluster, reporter, key_path=files.key_path, cluster_dir=files.path
            )
    finally:
        cancel(job.id, crontab)
