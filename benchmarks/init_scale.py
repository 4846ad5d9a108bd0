"""How `cloudhp init` scales from 2 workers to 20, with and without the latency model.

Prints, for one private localcloud on this machine, on a warm golden image:
- with the latency model at 20 s (`localcloud up --build-latency 20`: every new server
  stays in BUILD for 20 s before its container starts, as a real hypervisor takes its
  time, on a timer that spends no CPU): init of 1 manager + 2 workers and of 1 manager +
  20 workers, each with its per-phase times, and the ratio 20w/2w (target: at most 1.5;
  with every server's BUILD overlapping the others', a one-at-a-time tool would show
  21/3 = 7);
- the same without the model, where a server is ACTIVE as soon as its container has
  booted: then 21 containers each start sshd, dockerd and cloud-init on this 2-core
  machine at once, and the ratio mostly measures its CPU.

The demo project's quota (10 instances, 20 cores) is raised for 21 servers first, with
the local cloud's admin credential. Everything happens on a localcloud of its own
(port, data directory, clouds.yaml, CLOUDHP_HOME; see cluster.py), reset at the end.

Run: python benchmarks/init_scale.py   (needs Docker; takes about 15 minutes)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from typing import Any

from cluster import cloudhp, phase_times, private_env, timed_init

SIZES = (2, 20)
NAME = "scale"


def raise_quota(env: dict[str, str], servers: int) -> None:
    """Room for `servers` m1.small servers in the demo project (admin's PUT os-quota-sets)."""
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(
        config_files=[env["OS_CLIENT_CONFIG_FILE"]], load_envvars=False
    )
    demo = openstack.connection.Connection(config=config.get_one("cloudhp-local"))
    admin = openstack.connection.Connection(config=config.get_one("cloudhp-local-admin"))
    quota = {"instances": servers + 5, "cores": servers + 5}
    answer = admin.compute.put(
        f"/os-quota-sets/{demo.current_project_id}", json={"quota_set": quota}
    )
    if answer.status_code != 200:
        sys.exit(f"raising the compute quota failed: {answer.status_code} {answer.text}")


def restart_localcloud(env: dict[str, str], latency: float) -> None:
    """The model is read when the cloud starts; its state (golden image) is kept."""
    cloudhp(env, "localcloud", "down")
    cloudhp(env, "localcloud", "up", "--build-latency", str(latency))


def measure(env: dict[str, str], latency: float) -> dict[int, tuple[float, dict[str, Any]]]:
    restart_localcloud(env, latency)
    runs = {}
    for workers in SIZES:
        name = f"{NAME}-{workers}w"
        seconds, doc = timed_init(env, name, workers)
        runs[workers] = (seconds, doc)
        print(f"  1 manager + {workers} workers: {seconds:.1f}s  [{phase_times(doc)}]", flush=True)
        cloudhp(env, "teardown", "--cloud", "local", "--name", name, "--yes")
    small, big = (runs[w][0] for w in SIZES)
    print(f"  ratio {SIZES[1]}w/{SIZES[0]}w: {big / small:.2f}", flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=20.0, help="seconds in BUILD")
    parser.add_argument("--port", type=int, default=8797, help="the private localcloud's")
    args = parser.parse_args()
    home, env = private_env(args.port, prefix="cloudhp-bench-scale-")
    clean = False
    try:
        cloudhp(env, "localcloud", "up")
        raise_quota(env, 1 + SIZES[-1])
        warm, _ = timed_init(env, f"{NAME}-warm", 0)
        cloudhp(env, "teardown", "--cloud", "local", "--name", f"{NAME}-warm", "--yes")
        print(f"golden image build (cold, 1 manager): {warm:.1f}s", flush=True)
        results = {}
        for latency in (args.latency, 0.0):
            label = f"latency model {latency:g}s" if latency else "no latency model"
            print(f"{label}:", flush=True)
            results[latency] = measure(env, latency)
        print("summary (init 20w / init 2w):")
        for latency, runs in results.items():
            ratio = runs[SIZES[1]][0] / runs[SIZES[0]][0]
            target = " (target <= 1.5)" if latency else ""
            print(f"  {'model ' + format(latency, 'g') + 's' if latency else 'no model'}: "
                  f"{ratio:.2f}{target}")  # fmt: skip
        clean = True
    finally:
        for workers in SIZES:  # a run stopped half-way leaves its cluster
            subprocess.run(
                ["cloudhp", "teardown", "--cloud", "local", "--name", f"{NAME}-{workers}w",
                 "--yes"], capture_output=True, env=env,
            )  # fmt: skip
        reset = subprocess.run(
            ["cloudhp", "localcloud", "reset", "--yes"], capture_output=True, text=True, env=env
        )
        if clean and reset.returncode == 0:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"state kept in {home}: {reset.stderr}", file=sys.stderr)


if __name__ == "__main__":
    main()
