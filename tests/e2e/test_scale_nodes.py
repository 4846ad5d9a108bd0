"""`cloudhp scale-nodes` (and `init` with smaller counts) on one localcloud cluster of
1 manager + 1 worker: a worker and two managers added, then removed again (managers
3 -> 1 one demotion at a time) under steady traffic through the ingress, with no failed
request and the Raft majority watched throughout, a service with a Cinder volume on a
leaving manager brought back with its data on the worker that stays; a scale-in that
would strand the services' memory reservations refused with nothing changed; last, the
worker now holding the volume killed, and repair refusing to replace it."""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.load import Load, get

pytestmark = pytest.mark.docker

CLUSTER = "scl"
API = Path(__file__).resolve().parents[2] / "examples" / "shop" / "api.yaml"
MIB = 1024 * 1024
VOLUME = f"{CLUSTER}_data"


@pytest.fixture(scope="module")
def cluster(cli):
    doc = cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", "1")
    yield doc
    cli.run("teardown", "--name", CLUSTER, "--yes", "--volumes", timeout=600)


@pytest.fixture(scope="module")
def web(cli, cluster, images) -> str:
    """A routed service of two replicas (one on each node); returns its URL."""
    created = cli.json(
        "service", "create", "web", "--project", CLUSTER, "--definition", str(API),
        "--container-tag", images["sampleapp"].tag, "--name", CLUSTER,
    )  # fmt: skip
    return created["services"][0]["url"]


def on_lead(cli, *argv: str) -> str:
    return on_node(cli, "manager-1", *argv)


def on_node(cli, node: str, *argv: str) -> str:
    result = cli.run("ssh", "--name", CLUSTER, node, "--", *argv, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def in_keep(cli, node: str, script: str) -> str:
    """`script` run inside the keep service's container on `node`."""
    inner = f"docker exec $(docker ps -q -f name={CLUSTER}_keep) sh -c {shlex.quote(script)}"
    return on_node(cli, node, "sh", "-c", shlex.quote(inner))


@pytest.fixture(scope="module")
def keep_definition(tmp_path_factory, images) -> Path:
    """One task with a 1 GiB Cinder volume mounted at /data."""
    path = tmp_path_factory.mktemp("keep") / "keep.json"
    path.write_text(json.dumps({
        "container-tag": images["sampleapp"].tag, "memory-reservation": 32,
        "memory-limit": 64, "container-port": 8080, "replicas": 1,
        "environment": [{"name": "PORT", "value": "8080"}],
        "volumes": [{"name": "data", "size": 1, "target": "/data"}],
    }))  # fmt: skip
    return path


def node_ls(cli) -> list[dict]:
    out = on_lead(cli, "docker", "node", "ls", "--format", "'{{json .}}'")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def servers(cli) -> list[str]:
    return sorted(n["name"] for n in cli.json("status", "--name", CLUSTER)["nodes"])


def tasks_on(cli, hostname: str) -> list[str]:
    out = on_lead(
        cli, "docker", "node", "ps", "--filter", "desired-state=running",
        "--format", "'{{.Name}}'", hostname,
    )  # fmt: skip
    return out.split()


class RaftWatch:
    """`docker node ls` on the lead, over and over while a block runs: each sample is
    the managers' ManagerStatus column."""

    def __init__(self, cli) -> None:
        self.cli = cli
        self.samples: list[list[str]] = []
        self.errors: list[str] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                rows = node_ls(self.cli)
            except AssertionError as exc:
                self.errors.append(str(exc))
                continue
            self.samples.append(sorted(r["ManagerStatus"] for r in rows if r["ManagerStatus"]))

    def __enter__(self) -> RaftWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def test_nodes_added_then_removed_under_load_drop_no_request_and_keep_a_raft_majority(
    cli, web, keep_definition
):
    with Load(web) as load:
        out = cli.json("scale-nodes", "--name", CLUSTER, "--workers", "2", "--managers", "3")
        assert out["removed"] == []
        assert [n["name"] for n in out["nodes"]] == [
            f"{CLUSTER}-{node}" for node in
            ("manager-1", "manager-2", "manager-3", "worker-1", "worker-2")
        ]  # fmt: skip
        assert sorted(r["ManagerStatus"] for r in node_ls(cli) if r["ManagerStatus"]) == [
            "Leader", "Reachable", "Reachable",
        ]  # fmt: skip
        # Swarm spreads a service's new tasks onto the nodes with fewest of its tasks.
        cli.json("scale", "--name", CLUSTER, f"{CLUSTER}-web=5")
        assert any(t.startswith(f"{CLUSTER}_web.") for t in tasks_on(cli, f"{CLUSTER}-worker-2"))
        # A volume on a manager that goes (both non-lead managers do): it must follow.
        cli.json("service", "create", "keep", "--project", CLUSTER,
                 "--definition", str(keep_definition), "--name", CLUSTER)  # fmt: skip
        cli.json("volume", "move", VOLUME, "--to", f"{CLUSTER}-manager-2", "--name", CLUSTER)
        in_keep(cli, "manager-2", "echo written-before > /data/marker")
        with RaftWatch(cli) as watch:
            back = cli.json("scale-nodes", "--name", CLUSTER, "--workers", "1", "--managers", "1")
    assert sorted(back["removed"]) == [
        f"{CLUSTER}-manager-2", f"{CLUSTER}-manager-3", f"{CLUSTER}-worker-2",
    ]  # fmt: skip
    assert load.failures == [], load.failures[:5]
    assert len(load.answers) > 100
    counts = [len(s) for s in watch.samples]
    assert len(counts) > 3 and watch.errors == [], watch.errors
    assert counts == sorted(counts, reverse=True) and counts[-1] == 1, watch.samples
    for sample in watch.samples:  # one leader, every other manager reachable, always
        assert sample.count("Leader") == 1 and set(sample) <= {"Leader", "Reachable"}, sample
    assert servers(cli) == [f"{CLUSTER}-manager-1", f"{CLUSTER}-worker-1"]
    rows = node_ls(cli)
    assert sorted(r["Hostname"] for r in rows) == servers(cli)
    assert {r["Status"] for r in rows} == {"Ready"}
    assert [r["ManagerStatus"] for r in rows if r["ManagerStatus"]] == ["Leader"]
    web_row = next(s for s in cli.json("services", "--name", CLUSTER)["services"]
                   if s["name"] == f"{CLUSTER}-web")  # fmt: skip
    assert (web_row["running"], web_row["desired"]) == (5, 5)
    assert get(web)[0] == 200
    (moved,) = [m for m in back["moved_volumes"] if m["volume"] == VOLUME]
    assert (moved["from_node"], moved["to_node"]) == (
        f"{CLUSTER}-manager-2", f"{CLUSTER}-worker-1",
    )  # fmt: skip
    assert moved["steps"][-1] == "done"
    (row,) = [r for r in cli.json("volumes", "--name", CLUSTER)["volumes"] if r["name"] == VOLUME]
    assert (row["node"], row["state"]) == (f"{CLUSTER}-worker-1", "mounted")
    assert in_keep(cli, "worker-1", "cat /data/marker").strip() == "written-before"


def test_a_scale_in_without_room_for_the_reservations_is_refused_and_changes_nothing(
    cli, web, images
):
    inspect = on_lead(cli, "docker", "node", "inspect", f"{CLUSTER}-worker-1")
    memory = json.loads(inspect)[0]["Description"]["Resources"]["MemoryBytes"]
    reserve = str(int(memory * 0.6) // MIB)  # one task fits a node; two need both nodes
    cli.json(
        "service", "create", "big", "--project", CLUSTER, "--definition", str(API),
        "--container-tag", images["sampleapp"].tag, "--memory-reservation", reserve,
        "--memory-limit", reserve, "--name", CLUSTER,
    )  # fmt: skip
    before = (servers(cli), node_ls(cli))
    refused = cli.run("init", "--cloud", "local", "--name", CLUSTER, "--workers", "0",
                      "--output", "json")  # fmt: skip
    assert refused.returncode == 4, refused.stdout + refused.stderr
    doc = json.loads(refused.stdout)
    assert doc["error"] == "CapacityShortfall"
    assert f"removing {CLUSTER}-worker-1 would leave" in doc["message"]
    assert f"{CLUSTER}_big 2 x {reserve} MiB" in doc["message"]
    assert (servers(cli), node_ls(cli)) == before  # still Active: nothing was drained
    record = json.loads((cli.home / "home" / "clusters" / CLUSTER / "cluster.json").read_text())
    assert (record["spec"]["managers"], record["spec"]["workers"]) == (1, 1)
    assert cli.json("rm", "--name", CLUSTER, f"{CLUSTER}-big")["removed"] == [f"{CLUSTER}-big"]


def test_repair_leaves_a_lost_node_holding_a_volume_to_the_volume_controller(cli):
    """The worker holding the keep service's volume killed as a power loss would: repair
    (its dry run, then the real one) refuses to replace it, naming `cloudhp watch --once`,
    and the volume stays attached to it."""
    record = json.loads((cli.home / "home" / "clusters" / CLUSTER / "cluster.json").read_text())
    worker = next(n for n in record["nodes"] if n["name"] == f"{CLUSTER}-worker-1")
    label = f"label=cloudhp.localcloud.server={worker['server_id']}"
    found = subprocess.run(
        ["docker", "ps", "-q", "--filter", label], check=True, capture_output=True, text=True
    )
    [container] = found.stdout.split()
    subprocess.run(["docker", "kill", container], check=True, capture_output=True)
    deadline = time.monotonic() + 300  # until the Swarm shows it Down for 5 s, or Nova SHUTOFF
    while True:
        look = cli.run("repair", "--name", CLUSTER, "--down-after", "5", "--dry-run",
                       "--output", "json")  # fmt: skip
        if look.returncode != 0:
            break
        assert time.monotonic() < deadline, look.stdout
        time.sleep(3)
    for refused in (look, cli.run("repair", "--name", CLUSTER, "--down-after", "5",
                                  "--output", "json")):  # fmt: skip
        assert refused.returncode == 4, refused.stdout + refused.stderr
        doc = json.loads(refused.stdout)
        assert doc["message"].startswith("lost node(s) still hold a volume ("), doc
        assert f"volume {VOLUME} on {CLUSTER}-worker-1" in doc["message"], doc
        assert "`cloudhp watch --once` fences the lost node" in doc["hint"]
    (row,) = [r for r in cli.json("volumes", "--name", CLUSTER)["volumes"] if r["name"] == VOLUME]
    # Attached to the dead worker (found through the attachment, which answers no SSH).
    assert (row["node"], row["state"]) == (f"{CLUSTER}-worker-1", "unreachable"), row
