"""How long a database is gone when the node holding its volume dies, in one run.

Deploys `examples/pg` (PostgreSQL on a 1 GiB Cinder volume) on a fresh localcloud
cluster (1 manager, 2 workers), starts `cloudhp watch` as `--install` would (its
defaults: --down-after 30, --interval 5, unless given here), and three times kills the
node container that holds the volume (`docker kill`: a power loss), then queries the
database (psql in its task, over SSH) until a node other than the dead one answers.
For each run it prints the time from the kill to that first answer, split with the
controller's audit log into:

- detect: kill -> the controller's "detect" (Swarm's own Down detection, ~12 s here,
  plus --down-after);
- fence: "fence" -> "fenced" (Nova stop and SHUTOFF; a dead node is already SHUTOFF);
- detach, attach: each step's start to the next step's start;
- check+mount: "check" -> "placement" (e2fsck, then mount with the UUID check);
- reschedule: "placement" -> first answer (the label moves, Swarm starts the task,
  PostgreSQL recovers its WAL and accepts connections, the client finds it);

then the median of each over the three runs, and the median total against the issue's
120 s. Between runs the old node is started again (os-start) and rejoins the Swarm.
Exits 0 whatever the figures: no timed asserts.

Run: python benchmarks/failover.py [--down-after S] [--interval S]
     (needs Docker; about 8 minutes on this machine with the defaults)
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cluster import Cluster, running_cluster

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.pgclient import Pg, cluster_files, wait_for_answer  # noqa: E402

PORT = 8823  # this benchmark's own localcloud
NAME = "fob"
VOLUME = "pg_pgdata"
RUNS = 3
TARGET = 120.0  # seconds, issue 11: "within 120 s the service answers from another node"
PHASES = ("detect", "fence", "detach", "attach", "check+mount", "reschedule")


def connection(cluster: Cluster) -> Any:
    import openstack
    import openstack.config

    config = openstack.config.OpenStackConfig(
        config_files=[cluster.env["OS_CLIENT_CONFIG_FILE"]], load_envvars=False
    )
    return openstack.connection.Connection(config=config.get_one("cloudhp-local"))


def holder(cluster: Cluster) -> str:
    rows = cluster.run("volumes", "--name", NAME)["volumes"]
    (row,) = [r for r in rows if r["name"] == VOLUME]
    return str(row["node"])


def container_of(conn: Any, node: str) -> str:
    (server,) = [s for s in conn.compute.servers() if s.name == node]
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=cloudhp.localcloud.server={server.id}"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return found.stdout.split()[0]


def audit(cluster: Cluster) -> list[dict[str, str]]:
    path = cluster.home / "home" / "clusters" / NAME / "volumes-audit.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in lines if e["volume"] == VOLUME]


def when(entry: dict[str, str]) -> float:
    return datetime.datetime.fromisoformat(entry["time"]).timestamp()


def split(killed: float, answered: float, entries: list[dict[str, str]]) -> dict[str, float]:
    """The phases of one failover, from the first entry of each step."""
    first: dict[str, float] = {}
    for entry in entries:
        first.setdefault(entry["step"], when(entry))
    return {
        "detect": first["detect"] - killed,
        "fence": first["fenced"] - first["fence"],
        "detach": first["attach"] - first["detach"],
        "attach": first["check"] - first["attach"],
        "check+mount": first["placement"] - first["check"],
        "reschedule": answered - first["placement"],
    }


def restart(cluster: Cluster, conn: Any, node: str) -> None:
    """os-start, then until the node is Ready in the Swarm again."""
    (server,) = [s for s in conn.compute.servers() if s.name == node]
    conn.compute.start_server(server)
    conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        listed = subprocess.run(
            ["cloudhp", "ssh", "--name", NAME, "manager-1", "--",
             "docker node ls --format '{{.Hostname}} {{.Status}}'"],
            capture_output=True, text=True, env=cluster.env,
        )  # fmt: skip
        if f"{node} Ready" in listed.stdout:
            return
        time.sleep(2)
    sys.exit(f"{node} did not rejoin the Swarm within 180 s")


def one_failover(cluster: Cluster, conn: Any, pg: Pg) -> dict[str, float]:
    dead = holder(cluster)
    since = len(audit(cluster))
    container = container_of(conn, dead)
    killed = time.time()
    subprocess.run(["docker", "kill", container], check=True, capture_output=True)
    answer = wait_for_answer(Pg(pg.files), other_than=dead, deadline=time.monotonic() + 600)
    answered = time.time()
    if answer is None:
        sys.exit(f"no answer from another node within 600 s; audit: {audit(cluster)[since:]}")
    lost = set(pg.acknowledged) - answer[1]
    entries = audit(cluster)[since:]
    phases = split(killed, answered, entries)
    phases["total"] = answered - killed
    print(
        f"  {dead} -> {answer[0]}: {phases['total']:.1f}s to the first answer ("
        + ", ".join(f"{p} {phases[p]:.1f}s" for p in PHASES)
        + f"); acknowledged rows lost: {len(lost)}",
        flush=True,
    )
    restart(cluster, conn, dead)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--down-after", default="30")
    parser.add_argument("--interval", default="5")
    args = parser.parse_args()
    with running_cluster(NAME, PORT, workers=2) as cluster:
        example = cluster.home / "pg"
        shutil.copytree(ROOT / "examples" / "pg", example)
        started = time.monotonic()
        cluster.run("deploy", str(example / "docker-compose.yml"), "--name", NAME)
        print(f"deployed examples/pg in {time.monotonic() - started:.0f}s", flush=True)
        log = (cluster.home / "watch.log").open("ab")
        watch = subprocess.Popen(
            ["cloudhp", "watch", "--name", NAME, "--down-after", args.down_after,
             "--interval", args.interval],
            stdout=log, stderr=subprocess.STDOUT, env=cluster.env,
        )  # fmt: skip
        try:
            pg = Pg(cluster_files(cluster.home / "home", NAME))
            pg.create_table()
            for row in range(1, 51):
                pg.insert(row)
            print(f"controller: --down-after {args.down_after} --interval {args.interval}")
            conn = connection(cluster)
            runs = [one_failover(cluster, conn, pg) for _ in range(RUNS)]
        finally:
            watch.terminate()
            watch.wait(timeout=120)
            log.close()
    medians = {p: statistics.median(r[p] for r in runs) for p in (*PHASES, "total")}
    print(
        f"median of {RUNS}: {medians['total']:.1f}s from the kill to the first answer ("
        + ", ".join(f"{p} {medians[p]:.1f}s" for p in PHASES)
        + ")"
    )
    print(f"median total / target {TARGET:.0f}s: {medians['total'] / TARGET:.2f}")


if __name__ == "__main__":
    main()
