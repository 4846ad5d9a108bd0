"""`cloudhp schedule list | cancel | fire` and `teardown --at | --after`: parse, call
`cloudhp.flows.schedule`, print."""

from __future__ import annotations

import datetime

import click

from cloudhp.cli.output import emit, output_option, reporter_for


def schedule_later(cluster: str, at: str | None, after: str | None, output: str) -> None:
    from cloudhp.flows.schedule import UserCrontab, schedule_teardown
    from cloudhp.schedule import when_from

    when = when_from(at, after, datetime.datetime.now(datetime.UTC))
    job = schedule_teardown(cluster, when, UserCrontab())
    local = job.when.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    text = f"teardown of {cluster} scheduled for {local} (job {job.id}; `cloudhp schedule list`)"
    emit(output, job.to_dict(), lambda: click.echo(text))


@click.group()
def schedule() -> None:
    """Scheduled teardowns (cron entries running on the cluster's application credential)."""


@schedule.command("list")
@output_option
def list_(output: str) -> None:
    """Every scheduled job, and whether cron has it."""
    from cloudhp.flows.schedule import UserCrontab, list_jobs

    jobs = list_jobs(UserCrontab())

    def text() -> None:
        if not jobs:
            click.echo("nothing scheduled: `cloudhp teardown --after 2h` schedules a teardown")
        for j in jobs:
            missing = "" if j["in_crontab"] else "  (not in the crontab: will not run)"
            click.echo(f"{j['id']}  {j['action']} {j['cluster']} at {j['at']}{missing}")

    emit(output, {"jobs": jobs}, text)


@schedule.command()
@click.argument("job_id")
@output_option
def cancel(job_id: str, output: str) -> None:
    """Remove a scheduled job (its crontab line and its file)."""
    from cloudhp.flows.schedule import UserCrontab
    from cloudhp.flows.schedule import cancel as cancel_job

    job = cancel_job(job_id, UserCrontab())
    emit(output, job.to_dict() | {"cancelled": True}, lambda: click.echo(f"cancelled {job.id}"))


@schedule.command(hidden=True)
@click.argument("job_id")
@output_option
def fire(job_id: str, output: str) -> None:
    """Run a job now: what its crontab line does at its minute."""
    from cloudhp.flows.schedule import UserCrontab
    from cloudhp.flows.schedule import fire as fire_job

    report = fire_job(job_id, UserCrontab(), reporter_for(output))
    emit(output, report.to_dict(), lambda: click.echo(f"job {job_id}: {report.counts}"))
