"""Scheduled teardowns as cron entries: the line, and the crontab edits, as pure text.

The machine this was built on has no systemd (and many bastions run cron anyway), so a
job is one crontab line that runs `cloudhp schedule fire <id>` at a minute, with only
`CLOUDHP_HOME` in its environment: the teardown it fires authenticates with the
cluster's application credential (a file in the cluster directory), so no password or
secret is in the line, the job file or the environment. The line carries a marker
comment, so that list and cancel find it and the fired job removes its own line.
"""

from __future__ import annotations

import datetime
import re
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from cloudhp.errors import UsageError
from cloudhp.expiry import parse_ttl

MARKER = "# cloudhp-schedule"


@dataclass(frozen=True)
class Job:
    id: str
    cluster: str
    at: str  # UTC, ISO 8601
    action: str = "teardown"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def when(self) -> datetime.datetime:
        return datetime.datetime.fromisoformat(self.at)


def when_from(at: str | None, after: str | None, now: datetime.datetime) -> datetime.datetime:
    """`--at 2026-12-02T18:30` (local time, or with an offset) or `--after 2h`, rounded
    up to cron's next whole minute; never in the past."""
    if (at is None) == (after is None):
        raise UsageError("give one of --at TIME or --after DURATION")
    if after is not None:
        when = now + parse_ttl(after)
    else:
        assert at is not None
        try:
            when = datetime.datetime.fromisoformat(at)
        except ValueError:
            raise UsageError(
                f"--at {at!r} is not a time", hint="e.g. 2026-12-02T18:30 (this machine's time)"
            ) from None
        if when.tzinfo is None:
            when = when.astimezone()  # this machine's local time, as cron reads it
        if when <= now:
            raise UsageError(f"--at {at} is in the past")
    if when.second or when.microsecond:
        when = when.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    return when.astimezone(datetime.UTC)


def cron_line(job: Job, cloudhp: str, home: Path, log: Path) -> str:
    """The crontab line firing `job` once, at its minute in this machine's local time."""
    local = job.when.astimezone()
    fields = f"{local.minute} {local.hour} {local.day} {local.month} *"
    command = shlex.join([cloudhp, "schedule", "fire", job.id])
    line = (
        f"{fields} CLOUDHP_HOME={shlex.quote(str(home))} {command} >> {shlex.quote(str(log))} 2>&1"
    )
    if "%" in line:  # cron turns % into newlines
        raise UsageError(f"the path {home} or {log} holds a '%', which cron cannot run")
    return f"{line} {MARKER} {job.id}"


def with_line(crontab: str, line: str) -> str:
    lines = [entry for entry in crontab.splitlines() if entry.strip()]
    return "\n".join([*lines, line]) + "\n"


def without_job(crontab: str, job_id: str) -> str:
    kept = [e for e in crontab.splitlines() if not e.endswith(f"{MARKER} {job_id}")]
    return "\n".join(kept) + "\n" if kept else ""


def job_ids(crontab: str) -> list[str]:
    return re.findall(rf"{re.escape(MARKER)} (\S+)$", crontab, flags=re.M)


WATCH_MARKER = "# cloudhp-watch"


def watch_cron_lines(cluster: str, cloudhp: str, home: Path, log: Path) -> list[str]:
    """The entries that keep `cloudhp watch` running where systemd is not PID 1: one at
    boot and one every minute, each starting a controller that leaves at once, quietly,
    while another holds the cluster's watch lock (so a dead one is back within a minute)."""
    command = shlex.join([cloudhp, "watch", "--name", cluster, "--if-not-running"])
    body = f"CLOUDHP_HOME={shlex.quote(str(home))} {command} >> {shlex.quote(str(log))} 2>&1"
    if "%" in body:  # cron turns % into newlines
        raise UsageError(f"the path {home} or {log} holds a '%', which cron cannot run")
    return [f"{when} {body} {WATCH_MARKER} {cluster}" for when in ("@reboot", "* * * * *")]


def without_watch(crontab: str, cluster: str) -> str:
    kept = [e for e in crontab.splitlines() if not e.endswith(f"{WATCH_MARKER} {cluster}")]
    return "\n".join(kept) + "\n" if kept else ""
