"""Scheduled teardowns: when a job fires, its crontab line exactly, and the crontab
edits that add and remove it, against an in-memory crontab."""

from __future__ import annotations

import datetime
import json
import stat
from pathlib import Path

import pytest

from cloudhp.errors import NotFoundError, UsageError
from cloudhp.flows import schedule as flows
from cloudhp.schedule import Job, cron_line, job_ids, when_from, with_line, without_job

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 2, 10, 15, 30, tzinfo=UTC)


class MemoryCrontab:
    def __init__(self, text: str = "") -> None:
        self.text = text

    def read(self) -> str:
        return self.text

    def write(self, text: str) -> None:
        self.text = text


def test_after_rounds_up_to_crons_next_minute() -> None:
    assert when_from(None, "2h", NOW) == datetime.datetime(2026, 12, 2, 12, 16, tzinfo=UTC)


def test_at_takes_an_offset_or_this_machines_time() -> None:
    assert when_from("2026-12-02T12:00+01:00", None, NOW) == datetime.datetime(
        2026, 12, 2, 11, 0, tzinfo=UTC
    )
    local = datetime.datetime(2027, 1, 1, 9, 30).astimezone()
    assert when_from("2027-01-01T09:30", None, NOW) == local.astimezone(UTC)


@pytest.mark.parametrize(
    ("at", "after", "message"),
    [
        (None, None, "give one of --at TIME or --after DURATION"),
        ("2027-01-01T00:00", "2h", "give one of --at TIME or --after DURATION"),
        ("tonight", None, "--at 'tonight' is not a time"),
        ("2026-12-01T00:00+00:00", None, "--at 2026-12-01T00:00+00:00 is in the past"),
        (None, "2 hours", "--ttl '2 hours' is not a duration"),
    ],
)
def test_a_bad_time_is_refused(at: str | None, after: str | None, message: str) -> None:
    with pytest.raises(UsageError) as err:
        when_from(at, after, NOW)
    assert err.value.message == message


def test_the_cron_line_fires_once_at_its_local_minute_and_holds_no_secret() -> None:
    job = Job("abc123", "c1", "2026-12-02T12:16:00+00:00")
    local = job.when.astimezone()
    line = cron_line(job, "/usr/local/bin/cloudhp", Path("/home/u/.cloudhp"), Path("/l/abc.log"))
    assert line == (
        f"{local.minute} {local.hour} {local.day} {local.month} * "
        "CLOUDHP_HOME=/home/u/.cloudhp /usr/local/bin/cloudhp schedule fire abc123 "
        ">> /l/abc.log 2>&1 # cloudhp-schedule abc123"
    )


def test_crontab_edits_keep_every_other_line() -> None:
    mine = "0 3 * * * backup # mine"
    table = with_line(mine + "\n", "1 2 3 4 * job-a # cloudhp-schedule a")
    table = with_line(table, "1 2 3 4 * job-b # cloudhp-schedule b")
    assert job_ids(table) == ["a", "b"]
    assert without_job(table, "a") == f"{mine}\n1 2 3 4 * job-b # cloudhp-schedule b\n"
    assert without_job(without_job(table, "a"), "b") == f"{mine}\n"


def test_schedule_list_and_cancel(hermetic_home: Path) -> None:
    files = flows.cluster_files("c1").create()
    (files.path / "clouds.yaml").write_text("clouds: {}\n")
    crontab = MemoryCrontab("0 3 * * * backup\n")
    job = flows.schedule_teardown("c1", NOW + datetime.timedelta(hours=1), crontab)
    path = flows.jobs_dir() / f"{job.id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["cluster"] == "c1"
    assert job_ids(crontab.text) == [job.id] and crontab.text.startswith("0 3 * * * backup\n")
    assert flows.list_jobs(crontab) == [job.to_dict() | {"in_crontab": True}]
    flows.cancel(job.id, crontab)
    assert crontab.text == "0 3 * * * backup\n" and not path.exists()
    with pytest.raises(NotFoundError):
        flows.cancel(job.id, crontab)


def test_a_cluster_without_its_credential_cannot_be_scheduled(hermetic_home: Path) -> None:
    crontab = MemoryCrontab()
    with pytest.raises(UsageError, match="has no application credential"):
        flows.schedule_teardown("c2", NOW + datetime.timedelta(hours=1), crontab)
    assert crontab.text == ""
