"""The cluster lock between real processes: a second command fails with --no-wait or
waits naming the holder, and a SIGKILLed holder's lock is taken over."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator

import pytest

from cloudhp.lock import ClusterBusy, cluster_lock, lock_path

HOLD = """
import sys, time
from cloudhp.lock import cluster_lock
with cluster_lock("c1", "cloudhp init"):
    print("held", flush=True)
    time.sleep(float(sys.argv[1]))
"""


@pytest.fixture
def holder(hermetic_home: object) -> Iterator[subprocess.Popen[str]]:
    """Another process holding c1's lock for 30 s (killed at the end)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, "30"], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    yield proc
    proc.kill()
    proc.wait()


def test_no_wait_fails_at_once_naming_the_holder(holder: subprocess.Popen[str]) -> None:
    with pytest.raises(ClusterBusy) as caught, cluster_lock("c1", "cloudhp deploy", wait=False):
        pass
    assert caught.value.message.startswith(f"cluster c1 is busy: pid {holder.pid} (cloudhp init")
    assert caught.value.exit_status == 4


def test_a_second_command_waits_for_the_first(hermetic_home: object) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, "1.5"], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    heard: list[str] = []
    with cluster_lock("c1", "cloudhp teardown", say=heard.append):
        assert proc.poll() is not None  # the holder had finished
    proc.wait()
    assert heard == [heard[0]] and heard[0].startswith(
        f"cluster c1 is busy: waiting for pid {proc.pid} (cloudhp init"
    )


def test_a_sigkilled_holders_lock_is_taken_over(holder: subprocess.Popen[str]) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    heard: list[str] = []
    with cluster_lock("c1", "cloudhp deploy", wait=False, say=heard.append):
        pass
    assert len(heard) == 1
    assert heard[0].startswith(f"took over the lock of cluster c1 left by pid {holder.pid}")


def test_a_clean_release_leaves_nothing_to_take_over(hermetic_home: object) -> None:
    heard: list[str] = []
    for _ in range(2):
        with cluster_lock("c1", "cloudhp deploy", say=heard.append):
            assert stat.S_IMODE(lock_path("c1").stat().st_mode) == 0o600
    assert heard == []
    assert lock_path("c1").read_text() == ""


def test_other_clusters_do_not_wait(holder: subprocess.Popen[str]) -> None:
    with cluster_lock("c2", "cloudhp deploy", wait=False):
        pass
