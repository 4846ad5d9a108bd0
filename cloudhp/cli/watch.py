"""`cloudhp watch` (the volume controller, its installation) and `cloudhp volume
confirm-fence`: parse, call `cloudhp.flows.watch`, print."""

from __future__ import annotations

import datetime
import signal
from types import FrameType
from typing import TYPE_CHECKING

import click

from cloudhp.cli.options import NAME_HELP, files_of
from cloudhp.cli.output import emit, output_option
from cloudhp.errors import UsageError
from cloudhp.progress import RecordingReporter
from cloudhp.state import ClusterFiles

if TYPE_CHECKING:
    from cloudhp.flows.watch import WatchSettings


class _LogReporter(RecordingReporter):
    """One timestamped line per step on stderr, kept nowhere (the controller runs for
    weeks): what its log file under cron, or the journal under systemd, shows."""

    def step(self, message: str) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"{now} {message}", err=True)


def _check_choices(once: bool, install: bool, uninstall: bool, output: str) -> None:
    if install and uninstall:
        raise UsageError("--install and --uninstall cannot be combined", hint="give one")
    if (install or uninstall) and once:
        raise UsageError(
            "--once runs one pass here and now; it cannot be installed",
            hint="`cloudhp watch --install` installs the long-running controller",
        )
    if output == "json" and not (once or install or uninstall):
        raise UsageError(
            "--output json needs --once (or --install, --uninstall): the controller itself "
            "runs until stopped",
            hint="`cloudhp watch --once --output json` prints one pass's volume states",
        )


@click.command()
@click.option("--cluster", "--name", "cluster", help=NAME_HELP)
@click.option("--once", is_flag=True, help="one pass over the volumes, then exit")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="seconds between passes",
)
@click.option(
    "--down-after",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="seconds Swarm must show a node Down before it may be declared lost",
)
@click.option(
    "--fence-timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="seconds Nova has to show a lost node SHUTOFF; then the volume is FENCE_PENDING",
)
@click.option("--install", is_flag=True, help="keep it running on this machine (systemd or cron)")
@click.option("--uninstall", is_flag=True, help="remove what --install did and stop it")
@click.option(
    "--if-not-running",
    is_flag=True,
    hidden=True,
    help="exit 0 at once when a controller already runs (what the cron entries use)",
)
@output_option
def watch(
    cluster: str | None,
    once: bool,
    interval: float,
    down_after: float,
    fence_timeout: float,
    install: bool,
    uninstall: bool,
    if_not_running: bool,
    output: str,
) -> None:
    """Move each Cinder volume off a node that is lost, fencing it first.

    A node is lost when Swarm has shown it Down for --down-after seconds and its server
    is not ACTIVE or does not answer SSH. Then: Nova stop (wait for SHUTOFF), detach,
    attach to the healthy node with the fewest tasks, e2fsck, mount, move the placement.
    Authenticates with the cluster's application credential only.

    \b
    Exit status: 0 done (or, with --if-not-running, another controller runs),
    2 bad options or no application credential, 3 no such cluster, 4 another
    controller runs, 5 no cron or systemd, 6 no manager answers (--once).
    """
    from cloudhp.flows.schedule import UserCrontab
    from cloudhp.flows.watch_install import install as install_watch
    from cloudhp.flows.watch_install import uninstall as uninstall_watch

    _check_choices(once, install, uninstall, output)
    files = files_of(cluster)
    if install:
        done = install_watch(files, UserCrontab())
        text = f"controller of {files.name} installed ({done.how}: {done.where}; log {done.log})"
        emit(
            output,
            done.to_dict(),
            lambda: click.echo(text if done.changed else text + ": no changes"),
        )
        return
    if uninstall:
        changed = uninstall_watch(files, UserCrontab())
        message = f"controller of {files.name} " + ("removed" if changed else "was not installed")
        emit(output, {"cluster": files.name, "changed": changed}, lambda: click.echo(message))
        return
    from cloudhp.flows.failover import Timeouts
    from cloudhp.flows.watch import WatchSettings

    settings = WatchSettings(down_after, interval, Timeouts(fence=fence_timeout))
    states = _run(files, once, settings, if_not_running)
    if states is None:
        return

    def show() -> None:
        for s in states:
            extra = f" {s['from']} -> {s['to']}" if "to" in s else ""
            detail = f" ({s['detail']})" if s.get("detail") else ""
            click.echo(f"{s['volume']:32} {s['node'] or '-':20} {s['state']}{extra}{detail}")

    emit(output, {"cluster": files.name, "volumes": states}, show)


def _run(
    files: ClusterFiles,
    once: bool,
    settings: WatchSettings,
    if_not_running: bool,
) -> list[dict[str, str]] | None:
    from cloudhp.flows.watch import run_controller

    reporter = _LogReporter()
    stopping: list[bool] = []
    if not once:

        def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
            stopping.append(True)  # finish the pass under way (a move completes), then stop

        signal.signal(signal.SIGTERM, on_sigterm)
        reporter.step(f"watching cluster {files.name} (lost after {settings.down_after:.0f}s Down)")
    return run_controller(
        files,
        settings,
        reporter,
        once=once,
        stop=lambda: bool(stopping),
        if_not_running=if_not_running,
    )


@click.command("confirm-fence")
@click.argument("name")
@click.option("--cluster", "--name", "cluster", help=NAME_HELP)
@click.option("--to", "to_node", help="the node to move it to [default: the least loaded]")
@output_option
def confirm_fence(name: str, cluster: str | None, to_node: str | None, output: str) -> None:
    """Say that the node holding volume NAME is off for certain (FENCE_PENDING), and
    complete its move: detach, attach, check, mount, placement (or, while `cloudhp
    watch` runs, record it for the controller to complete).

    \b
    Exit status: 0 done, 2 bad --to, 3 no such volume or node, 4 the volume is not
    FENCE_PENDING, 6 no manager answers."""
    from cloudhp.flows.watch import confirm_and_move

    files = files_of(cluster)
    result = confirm_and_move(files, name, to_node, _LogReporter())

    def show() -> None:
        if result["state"] == "moved":
            click.echo(f"volume {name} moved from {result['from']} to {result['to']}")
        else:
            click.echo(
                f"volume {name}: fence confirmed; the running controller moves it from "
                f"{result['from']} to {result['to']}"
            )

    emit(output, result, show)
