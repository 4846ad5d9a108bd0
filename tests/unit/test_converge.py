"""When a deploy is done, and when it failed: `wait_converged` against a scripted Swarm.

The Swarm's answers are what `docker service inspect` and `docker service ls` print; the
scripts replay what a real Swarm showed for each case (an update rolled back after the
new tasks failed their health checks, a label-only change that leaves `UpdateStatus`
null, a rollback left over from an earlier deploy).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from typing import IO

import pytest

from cloudhp.errors import DeployFailed
from cloudhp.remote.runner import Result
from cloudhp.steps.services import wait_converged

EARLIER = "2026-12-01T10:00:00.000000000Z"
NOW = "2026-12-02T10:00:00.000000000Z"


def inspected(name: str, state: str | None, started: str = NOW, message: str = "") -> dict:
    doc: dict = {
        "Spec": {
            "Name": name,
            "Labels": {"cloudhp.project": "shop", "cloudhp.public-name": name.replace("_", "-")},
            "TaskTemplate": {"ContainerSpec": {"Image": "r/shop/web:1"}},
            "Mode": {"Replicated": {"Replicas": 2}},
        }
    }
    if state is not None:
        doc["UpdateStatus"] = {"State": state, "StartedAt": started, "Message": message}
    return doc


class ScriptedSwarm:
    """Answers each poll with the next (inspect, replicas) pair; the last one repeats."""

    def __init__(self, frames: list[tuple[list[dict], str]]) -> None:
        self.host = "10.0.0.5"
        self.frames = frames
        self.polls = 0

    def _frame(self) -> tuple[list[dict], str]:
        return self.frames[min(self.polls, len(self.frames) - 1)]

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        argv = list(command) if not isinstance(command, str) else shlex.split(command)
        docs, replicas = self._frame()
        if argv[:3] == ["docker", "service", "ls"] and "-q" in argv:
            out = "\n".join(d["Spec"]["Name"] for d in docs)
        elif argv[:3] == ["docker", "service", "inspect"]:
            out = json.dumps(docs)
        elif argv[:3] == ["docker", "service", "ls"]:
            out = "\n".join(f"{d['Spec']['Name']} {replicas}" for d in docs)
            self.polls += 1
        elif argv[:3] == ["docker", "service", "ps"] and "desired-state=running" in argv:
            running = int(replicas.split("/")[0])
            out = "\n".join(
                f"t{d['Spec']['Name']}{i} {d['Spec']['Name']}.{i} Running 5 seconds ago"
                for d in docs
                for i in range(1, running + 1)
            )
        elif argv[:3] == ["docker", "service", "ps"]:
            out = "shop_web.3@node-2 Failed 5 seconds ago task: non-zero exit (1)"
        elif argv[:3] == ["docker", "service", "logs"]:
            out = "shop_web.3@node-2 | Traceback: boom"
        else:
            raise AssertionError(f"unexpected command {argv}")
        return Result(self.host, shlex.join(argv), out, "", 0)

    def run_with_input(self, command: Sequence[str], chunks: Iterable[bytes]) -> Result:
        raise AssertionError("nothing is fed on stdin here")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cloudhp.polling.time.sleep", lambda _: None)


def test_an_update_is_done_when_it_completes_with_every_task_running() -> None:
    swarm = ScriptedSwarm([
        ([inspected("shop_web", "updating")], "2/2"),
        ([inspected("shop_web", "updating")], "3/2"),
        ([inspected("shop_web", "completed")], "2/2"),
    ])  # fmt: skip
    wait_converged(swarm, ["shop_web"], marks={"shop_web": EARLIER})
    assert swarm.polls == 3


def test_a_rolled_back_update_fails_naming_the_service_with_its_task_logs() -> None:
    swarm = ScriptedSwarm([
        ([inspected("shop_web", "updating")], "2/2"),
        ([inspected("shop_web", "rollback_completed", message="rollback completed")], "2/2"),
    ])  # fmt: skip
    with pytest.raises(DeployFailed) as caught:
        wait_converged(swarm, ["shop_web"], marks={"shop_web": EARLIER})
    message = caught.value.message
    assert "shop-web was rollback_completed" in message
    assert "the previous version keeps serving" in message
    assert "non-zero exit (1)" in message and "Traceback: boom" in message
    assert caught.value.exit_status == 8


def test_a_rollback_left_by_an_earlier_deploy_does_not_fail_this_one() -> None:
    swarm = ScriptedSwarm([([inspected("shop_web", "rollback_completed", EARLIER)], "2/2")])
    wait_converged(swarm, ["shop_web"], marks={"shop_web": EARLIER})
    assert swarm.polls == 1


def test_a_label_only_change_leaves_no_update_status_and_is_done() -> None:
    swarm = ScriptedSwarm([([inspected("shop_web", None)], "2/2")])
    wait_converged(swarm, ["shop_web"], marks={"shop_web": EARLIER})


def test_without_marks_only_updates_begun_during_the_wait_count() -> None:
    swarm = ScriptedSwarm([([inspected("shop_web", "paused", EARLIER)], "1/1")])
    wait_converged(swarm, ["shop_web"])  # `cloudhp scale` after an old paused update


def test_a_new_service_that_never_runs_fails_when_the_time_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter(range(0, 10_000, 100))
    monkeypatch.setattr("cloudhp.polling.time.monotonic", lambda: float(next(clock)))
    swarm = ScriptedSwarm([([inspected("shop_web", None)], "0/2")])
    with pytest.raises(DeployFailed) as caught:
        wait_converged(swarm, ["shop_web"], timeout=300, marks={})
    message = caught.value.message
    assert message.startswith("services did not converge within 300s: shop_web")
    assert "shop_web: 0/2 tasks running" in message and "Traceback: boom" in message


def test_a_service_placed_on_a_volume_s_node_names_the_volume() -> None:
    from cloudhp.steps.services import parse_service

    doc = {
        "Spec": {
            "Name": "counter_web",
            "Mode": {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {
                "Placement": {
                    "Constraints": [
                        "node.role==worker",
                        "node.labels.cloudhp.volume.counter_data==true",
                    ]
                }
            },
        }
    }
    assert parse_service(doc).volumes == ("counter_data",)
    assert parse_service({"Spec": {"Name": "plain"}}).volumes == ()


def test_tasks_of_a_node_that_went_down_do_not_count_as_running() -> None:
    """`service ls` says 3/1 while two tasks sit on Down nodes (shut down by the Swarm,
    never heard of again); only the one whose desired state is running counts."""
    from cloudhp.steps.services import parse_running_tasks, running_tasks_command, task_counts

    listed = "\n".join([
        "a1 pg_db.1 Running 3 minutes ago",
        "a1 pg_db.1 Running 3 minutes ago",  # repeated by the CLI for a second service
        "b2 web.1 Starting 2 seconds ago",
        "c3 web.2 Running 1 minute ago",
        "d4 other.1 Running 1 minute ago",
    ])  # fmt: skip
    assert parse_running_tasks(listed, ["pg_db", "web"]) == {"pg_db": 1, "web": 1}

    class Lead:
        host = "10.0.0.5"

        def run(self, command: Sequence[str], **_: object) -> Result:
            argv = list(command)
            if argv[:3] == ["docker", "service", "ls"]:
                out = "pg_db 3/1\nweb 1/2\nother 1/1"
            else:
                assert argv == running_tasks_command(["pg_db", "web"]), argv
                out = listed
            return Result(self.host, shlex.join(argv), out, "", 0)

    assert task_counts(Lead(), ["pg_db", "web"]) == {"pg_db": (1, 1), "web": (1, 2)}  # type: ignore[arg-type]
