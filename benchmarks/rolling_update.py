"""Whether a rolling update of a 3-replica service loses requests or slows them, in one run.

Prints, for the sample app deployed by `cloudhp deploy` with 3 replicas on a fresh
localcloud cluster (1 manager running the ingress, 2 workers), under the same steady
load through the ingress (hey, 100 requests/s, at least 10,000 requests per run):
- a baseline run with no change;
- a run during which `cloudhp deploy` of the same compose file with VERSION=1 changed
  to VERSION=2 replaces every task (start-first, one task at a time, health-gated);
- for both: requests, non-2xx answers, connection errors and p99 latency; the failures
  during the update against the target of issue 8 (0), and p99 update/baseline.

The load starts well before the deploy and goes on well after it has converged, so the
window covers every task's start, the ingress noticing it healthy, the old task's stop
and the ingress dropping it. The baseline runs for the same planned time first, from
the same starting state (VERSION=1, 3 tasks), so the p99 ratio compares like with like.
Which tasks answer before and after is printed to show the update replaced all three.
Exits 0 whatever the figures: no timed asserts.

Run: python benchmarks/rolling_update.py   (needs Docker and hey; 6 minutes on a quiet machine)
"""

from __future__ import annotations

import time

from cluster import (
    HeyResult,
    SteadyLoad,
    answering_tasks,
    require_tools,
    running_cluster,
    sampleapp_command,
    sampleapp_image,
    steady,
)

PORT = 8812  # this benchmark's own localcloud; 8799 and 8788 belong to others
RATE = 100  # requests/s
MIN_REQUESTS = 10_000
PLANNED = int(MIN_REQUESTS / RATE * 1.05)  # seconds: hey's rate runs a little under
LEAD = 15  # seconds of load before the update starts
TAIL = 15  # seconds of load after it has converged, at least
CAP = 480  # no load runs longer than this, whatever happens to the deploy


def compose(image: str, version: int) -> dict[str, object]:
    return {
        "name": "roll",
        "services": {
            "web": {
                "image": image,
                "command": sampleapp_command(),
                "environment": {"VERSION": str(version)},
                "expose": ["8080"],
                "deploy": {"replicas": 3},
            }
        },
    }


def verdict(failures: int) -> str:
    return "met" if failures == 0 else "NOT met"


def show(label: str, r: HeyResult) -> str:
    return (
        f"{label:15} {r.summary()}\n{'':15} non-2xx {r.non_2xx}, "
        f"connection errors {r.connection_errors}"
        + "".join(f"\n{'':17}{n} x {message}" for message, n in r.errors.items())
    )


def main() -> None:
    require_tools("hey")
    with running_cluster("bench-roll", PORT) as cluster:
        image = sampleapp_image(cluster.env)
        seconds, _ = cluster.deploy(compose(image, 1), "roll.yml")
        url = cluster.url("roll-web")
        before = answering_tasks(url)
        print(f"deployed roll-web (3 replicas, VERSION=1) in {seconds:.0f}s: {url}")
        print(f"load: hey at {RATE} requests/s through the ingress, {PLANNED}s planned per run")
        steady(url, RATE, 5)  # warm-up: keep-alive connections, HAProxy's task addresses

        baseline = steady(url, RATE, PLANNED)
        print(show("without update", baseline))

        with SteadyLoad(url, RATE, CAP) as load:
            time.sleep(LEAD)
            started = load.elapsed()
            took, doc = cluster.deploy(compose(image, 2), "roll.yml")
            ended = load.elapsed()
            while load.elapsed() < max(PLANNED, ended + TAIL) and load.elapsed() < CAP:
                time.sleep(0.5)
            updated = load.stop()
        phases = ", ".join(f"{p['phase']} {p['seconds']:.1f}s" for p in doc["phases"])
        print(
            f"update VERSION=1 -> 2: deploy took {took:.1f}s [{phases}], "
            f"from t={started:.1f}s to t={ended:.1f}s of a {updated.seconds:.1f}s run"
        )
        print(show("with update", updated))

        after = answering_tasks(url)
        print(
            f"tasks answering before: {len(before)}, after: {len(after)}, "
            f"in both: {len(before & after)} (0 means every task was replaced)"
        )
        print(
            f"requests during the update run: {updated.requests} "
            f"(at least {MIN_REQUESTS}: {'yes' if updated.requests >= MIN_REQUESTS else 'NO'})"
        )
        print(
            f"failed requests with update: {updated.failures} = {updated.non_2xx} non-2xx + "
            f"{updated.connection_errors} connection errors (target 0: "
            f"{verdict(updated.failures)}); baseline: {baseline.failures}"
        )
        print(
            f"p99: with update {updated.p99_ms:.1f} ms, without {baseline.p99_ms:.1f} ms, "
            f"ratio update/baseline {updated.p99_ms / baseline.p99_ms:.2f}"
        )


if __name__ == "__main__":
    main()
