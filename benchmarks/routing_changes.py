"""Whether adding and removing routes disturbs a service that is taking traffic.

Prints, for a 2-replica sample-app service under steady load through the ingress (two
hey processes of 50 requests/s each) on a fresh localcloud cluster (1 manager running the ingress, 2
workers), while 10 other services are created one after another with
`cloudhp service create s1..s10 --container-tag <sampleapp> --container-port 8080` and
then removed with `cloudhp rm app-s1..app-s10`: 20 route changes, each a new HAProxy
configuration applied by a master-worker reload while the load goes on. It prints the
loaded service's requests and failed requests (non-2xx answers and connection errors,
target of issue 8: 0) and its p99 latency, and the time each change took.

The load runs from before the first change until after the last, and is ended then
(hey reports on SIGINT), so it spans every reload whatever each one takes. Half of it
reuses keep-alive connections, which a reload's old worker must finish and close
without losing a request; half opens a new connection per request, which the new
worker must accept on the socket it takes over, at every instant of the handover. Each new
route is asked once to show it was really added (200) and, after `rm`, gone (404):
a change that did nothing would make 0 failures meaningless. One change at a time, as
people make them; concurrent changes are another benchmark. Exits 0 whatever the
figures: no timed asserts.

Run: python benchmarks/routing_changes.py   (needs Docker and hey; 6 minutes on a quiet machine)
"""

from __future__ import annotations

import time

from cluster import (
    Cluster,
    SteadyLoad,
    get_json,
    require_tools,
    running_cluster,
    sampleapp_command,
    sampleapp_image,
    steady,
)

PORT = 8813  # this benchmark's own localcloud; 8799 and 8788 belong to others
RATE = 50  # requests/s of each of the two load streams on the loaded service
SERVICES = 10
SETTLE = 5  # seconds of load before the first change and after the last
CAP = 540  # no load runs longer than this


def compose(image: str) -> dict[str, object]:
    return {
        "name": "bench",
        "services": {
            "steady": {
                "image": image,
                "command": sampleapp_command(),
                "expose": ["8080"],
                "deploy": {"replicas": 2},
            }
        },
    }


def change(cluster: Cluster, args: list[str], url: str, expected: int) -> tuple[float, int]:
    """One route change; its seconds and what its route answers afterwards."""
    start = time.monotonic()
    cluster.run(*args)
    seconds = time.monotonic() - start
    status, _ = get_json(url)
    mark = "" if status == expected else f"  (expected {expected})"
    print(f"  {' '.join(args[:3]):28} {seconds:5.1f}s  {url} -> {status}{mark}")
    return seconds, status


def main() -> None:
    require_tools("hey")
    with running_cluster("bench-routes", PORT) as cluster:
        image = sampleapp_image(cluster.env)
        seconds, _ = cluster.deploy(compose(image), "steady.yml")
        url = cluster.url("bench-steady")
        print(f"deployed bench-steady (2 replicas) in {seconds:.0f}s: {url}")
        steady(url, RATE, 5)  # warm-up: keep-alive connections, HAProxy's task addresses
        print(
            f"load: hey at {RATE} requests/s on keep-alive connections and {RATE}/s on a new "
            f"connection each, on {url}, during {2 * SERVICES} route changes"
        )
        added: list[float] = []
        removed: list[float] = []
        wrong = 0
        with (
            SteadyLoad(url, RATE, CAP) as load,
            SteadyLoad(url, RATE, CAP, keepalive=False) as fresh,
        ):
            time.sleep(SETTLE)
            for i in range(1, SERVICES + 1):
                args = ["service", "create", f"s{i}", "--container-tag", image,
                        "--container-port", "8080", "--replicas", "1"]  # fmt: skip
                took, status = change(cluster, args, cluster.url(f"app-s{i}"), 200)
                added.append(took)
                wrong += status != 200
            for i in range(1, SERVICES + 1):
                took, status = change(cluster, ["rm", f"app-s{i}"], cluster.url(f"app-s{i}"), 404)
                removed.append(took)
                wrong += status != 404
            last_change = load.elapsed()
            time.sleep(SETTLE)
            results = {"keep-alive": load.stop(), "new connections": fresh.stop()}
        print(
            f"route changes: {SERVICES} added (mean {sum(added) / len(added):.1f}s each), "
            f"{SERVICES} removed (mean {sum(removed) / len(removed):.1f}s each), "
            f"{wrong} not in effect afterwards; last change ended at t={last_change:.0f}s"
        )
        for label, result in results.items():
            print(f"bench-steady, {label}: {result.summary()}")
            for message, n in result.errors.items():
                print(f"  {n} x {message}")
            if result.seconds < last_change:
                print(f"  note: this load stopped at {result.seconds:.0f}s, before the last change")
        requests = sum(r.requests for r in results.values())
        non_2xx = sum(r.non_2xx for r in results.values())
        errors = sum(r.connection_errors for r in results.values())
        print(
            f"requests: {requests}, failed: {non_2xx + errors} = {non_2xx} non-2xx + {errors} "
            f"connection errors (target 0: {'met' if non_2xx + errors == 0 else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
