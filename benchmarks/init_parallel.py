"""How well `cloudhp init` parallelises, against a warm golden image, in one run.

Prints, for one localcloud on this machine:
- init with 2 workers and with 6 workers (fresh clusters, golden image already built),
  per-phase durations, and the ratio 6w/2w (1.0 would be perfect parallelism; 7/3 = 2.33
  is what a one-at-a-time tool would show for these node counts);
- a sequential baseline for the 6-worker cluster, as the old init.sh did: one server
  at a time, each created, waited for, reached and joined before the next (here: init
  run 7 times, growing the cluster by one node each time, so each step also pays one
  init's reads; the product has no sequential mode);
- the ratio sequential / parallel.

Run: python benchmarks/init_parallel.py   (needs Docker; takes several minutes)
"""

from __future__ import annotations

import subprocess

from cluster import cloudhp, phase_times, private_env, timed_init


def main() -> None:
    _, env = private_env(8799)
    try:
        warm, _ = timed_init(env, "bench-warm", 0)
        cloudhp(env, "teardown", "--cloud", "local", "--name", "bench-warm", "--yes")
        print(f"golden image build (cold, 1 manager): {warm:.1f}s")
        results = {}
        for workers in (2, 6):
            seconds, doc = timed_init(env, f"bench-{workers}w", workers)
            results[workers] = seconds
            print(f"init 1 manager + {workers} workers: {seconds:.1f}s  [{phase_times(doc)}]")
            cloudhp(env, "teardown", "--cloud", "local", "--name", f"bench-{workers}w", "--yes")
        print(f"ratio 6w/2w: {results[6] / results[2]:.2f} (node ratio 7/3 = 2.33)")
        seconds = sum(timed_init(env, "bench-seq", workers)[0] for workers in range(7))
        print(f"sequential baseline, 6 workers, one node per init: {seconds:.1f}s")
        print(f"ratio sequential/parallel (6 workers): {seconds / results[6]:.2f}")
        cloudhp(env, "teardown", "--cloud", "local", "--name", "bench-seq", "--yes")
    finally:
        subprocess.run(["cloudhp", "localcloud", "reset", "--yes"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
