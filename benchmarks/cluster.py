"""What the benchmarks share: a private cloudhp, a cluster on it, and the load tools.

Every benchmark runs the real `cloudhp` CLI, as a user would, but against a localcloud
of its own (its own port, data directory, clouds.yaml and CLOUDHP_HOME), so that it
never touches a cloud or a cluster someone else on this machine is using, and whatever
it made is gone at the end even when it fails half-way.

Load comes from real load generators from Debian (`scripts/install.sh` installs them),
not from a Python loop, which on this 2-core machine would measure itself:
- `wrk` for throughput (as many requests as the server answers, fixed connections);
- `hey` for a steady rate (`-q` per worker): it reports every status code, every
  connection error and latency percentiles. Debian bookworm has neither vegeta nor
  wrk2. hey is closed-loop per worker (a worker waits for its answer before its next
  tick), so the benchmarks give it many workers with long tick intervals: a slow answer
  then delays no later request unless it takes longer than the interval.

Every address a benchmark sends traffic to comes from its own cluster's
`cloudhp status`: the floating IP and the private IPs of node containers on the
localcloud's own Docker networks. Every load run is bounded in time (`-d`/`-z`) and is
killed by its process id if the benchmark stops early.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOAD_TOOLS = ("wrk", "hey")

SAMPLEAPP_BACKLOG = 128
"""The sample app's ThreadingHTTPServer listens with socketserver's default backlog of
5: at a few hundred new connections a second the queue overflows (the task's
ListenOverflows counter climbs), dropped SYNs are retransmitted after 1 s, and every
p99 becomes about 1 s whatever the ingress does. The benchmarks run the same app.py,
unchanged, with a longer queue, so that they measure the platform, not that default."""


def private_env(port: int, prefix: str = "cloudhp-bench-") -> tuple[Path, dict[str, str]]:
    """A fresh directory and the environment that points cloudhp and openstacksdk there."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    env = dict(os.environ)
    env.update(
        CLOUDHP_HOME=str(home / "home"),
        CLOUDHP_LOCALCLOUD_DIR=str(home / "localcloud"),
        CLOUDHP_LOCALCLOUD_PORT=str(port),
        CLOUDHP_CLOUDS_YAML=str(home / "clouds.yaml"),
        OS_CLIENT_CONFIG_FILE=str(home / "clouds.yaml"),
    )
    return home, env


def cloudhp(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run(
        ["cloudhp", *args, "--output", "json"], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        sys.exit(f"cloudhp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def timed_init(
    env: dict[str, str], name: str, workers: int, *extra: str
) -> tuple[float, dict[str, Any]]:
    """`cloudhp init` on the private localcloud: wall time and its JSON report."""
    start = time.monotonic()
    doc = cloudhp(
        env, "init", "--cloud", "local", "--name", name, "--workers", str(workers), *extra
    )
    return time.monotonic() - start, doc


def phase_times(doc: dict[str, Any]) -> str:
    """init's `phases` as "servers 10.4s, ssh 2.0s, ..."."""
    return ", ".join(f"{p['phase']} {p['seconds']:.1f}s" for p in doc["phases"])


def require_tools(*tools: str) -> None:
    missing = [tool for tool in tools or LOAD_TOOLS if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing load tools: {', '.join(missing)}; run `bash scripts/install.sh`")


KEEPALIVE = (
    'http.server.BaseHTTPRequestHandler.protocol_version = "HTTP/1.1"; '
    "socketserver.StreamRequestHandler.disable_nagle_algorithm = True; "
)
"""HTTP/1.1 with TCP_NODELAY: the handler writes headers and body separately, and on a
kept-alive connection Nagle's algorithm holds the body until the client's delayed ACK,
40 ms per request."""


def sampleapp_command(extra_port: int | None = None, keepalive: bool = False) -> list[str]:
    """The sample app's own server with a longer listen queue (see SAMPLEAPP_BACKLOG).

    With `extra_port`, a second identical process in the same container listens there
    too, so that one task can be reached both through the ingress and directly. With
    `keepalive`, it answers HTTP/1.1 and keeps connections open (its answers carry a
    Content-Length): a load generator on this machine that opens a connection per
    request runs out of ephemeral ports in TIME_WAIT within seconds at 1,000 requests/s
    (the host's `ss -s` shows 15,000 and the rate drops below 400/s), which HAProxy's
    keep-alive connections from the same client never meet.
    """
    boot = (
        "import http.server, runpy, socketserver; "
        f"socketserver.TCPServer.request_queue_size = {SAMPLEAPP_BACKLOG}; "
        + (KEEPALIVE if keepalive else "")
        + 'runpy.run_path("/srv/app.py")'
    )
    if extra_port is None:
        return ["python3", "-c", boot]
    run = f"python3 -c {shlex.quote(boot)}"
    return ["sh", "-c", f"PORT={extra_port} {run} & exec {run}"]


def get_json(url: str, timeout: float = 5.0) -> tuple[int, dict[str, Any] | None]:
    """One GET: the status and the JSON body (the sample app says which task answered)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except (OSError, ValueError):
        return 0, None


def answering_tasks(url: str, requests: int = 30) -> set[str]:
    """The hostnames (task container ids) that answer `url` across a few requests."""
    found = set()
    for _ in range(requests):
        status, body = get_json(url)
        if status == 200 and body:
            found.add(str(body["hostname"]))
    return found


@dataclass
class Cluster:
    """A cluster made by `running_cluster`, and the cloudhp that reaches it."""

    name: str
    env: dict[str, str]
    home: Path
    status: dict[str, Any] = field(default_factory=dict)

    def run(self, *args: str) -> dict[str, Any]:
        return cloudhp(self.env, *args)

    @property
    def ingress_ip(self) -> str:
        found = re.fullmatch(r"http://([0-9.]+)/", self.status["ingress_url"])
        if not found:
            sys.exit(f"cannot read the ingress address from {self.status['ingress_url']!r}")
        return found.group(1)

    def url(self, public_name: str) -> str:
        return f"http://{self.ingress_ip}/{public_name}/"

    def private_ips(self, role: str | None = None) -> list[str]:
        return [
            n["private_ip"]
            for n in self.status["nodes"]
            if n["private_ip"] and (role is None or n["role"] == role)
        ]

    def open_from_bastion(self, port: int) -> None:
        """A host-mode published port, reachable from this machine: the local cloud
        enforces security groups, and cloudhp opens only SSH and the registry to the
        bastion, so the port gets the same source as the SSH rule in `<c>-sg-ssh`."""
        import openstack
        import openstack.config

        config = openstack.config.OpenStackConfig(
            config_files=[self.env["OS_CLIENT_CONFIG_FILE"]], load_envvars=False
        )
        conn = openstack.connection.Connection(config=config.get_one("cloudhp-local"))
        group = conn.network.find_security_group(f"{self.name}-sg-ssh")
        if group is None:
            sys.exit(f"no security group {self.name}-sg-ssh to open port {port} in")
        rules = conn.network.security_group_rules(security_group_id=group.id)
        bastion = next(r.remote_ip_prefix for r in rules if r.port_range_min == 22)
        conn.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", ethertype="IPv4",
            protocol="tcp", port_range_min=port, port_range_max=port, remote_ip_prefix=bastion,
        )  # fmt: skip

    def deploy(self, compose: dict[str, Any], filename: str) -> tuple[float, dict[str, Any]]:
        """Deploys a compose document; JSON is YAML, so no YAML library is needed here
        and no quoting of the commands inside can go wrong."""
        path = self.home / "files" / filename
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(compose, indent=2) + "\n")
        start = time.monotonic()
        doc = self.run("deploy", str(path))
        return time.monotonic() - start, doc


def sampleapp_image(env: dict[str, str]) -> str:
    """The content-addressed tag of the sample app (built once, then reused)."""
    doc = cloudhp(env, "images", "build", "sampleapp")
    return str(doc["images"][0]["tag"])


@contextmanager
def running_cluster(name: str, port: int, workers: int = 2) -> Iterator[Cluster]:
    """A fresh localcloud and cluster, deleted afterwards whatever happened."""
    home, env = private_env(port)
    cluster = Cluster(name, env, home)
    try:
        start = time.monotonic()
        cloudhp(env, "init", "--cloud", "local", "--name", name, "--workers", str(workers))
        cluster.status = cloudhp(env, "status", "--name", name)
        print(f"cluster {name}: 1 manager + {workers} workers in {time.monotonic() - start:.0f}s")
        yield cluster
    finally:
        down = subprocess.run(
            ["cloudhp", "teardown", "--cloud", "local", "--name", name, "--yes"],
            capture_output=True,
            text=True,
            env=env,
        )
        reset = subprocess.run(
            ["cloudhp", "localcloud", "reset", "--yes"], capture_output=True, text=True, env=env
        )
        clean = down.returncode == 0 and reset.returncode == 0
        if clean:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(
                f"cleanup incomplete (teardown {down.returncode}, reset {reset.returncode}); "
                f"state kept in {home}:\n{down.stderr}{reset.stderr}",
                file=sys.stderr,
            )


# --- wrk: throughput ---------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _millis(text: str) -> float:
    found = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not found:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    bad_status: int  # "Non-2xx or 3xx responses"
    socket_errors: int  # connect, read, write and timeout together
    p99_ms: float

    @property
    def good_rps(self) -> float:
        """Answers that were not errors, per second: a fast 503 is not throughput."""
        return (self.requests - self.bad_status) / self.seconds


def wrk(url: str, seconds: int, connections: int, threads: int = 2) -> WrkResult:
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
            "--timeout", "5s", "--latency", url]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    total = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m),", out)
    p99 = re.search(r"^\s+99%\s+(\S+)$", out, re.MULTILINE)
    if not total or not p99:
        sys.exit(f"cannot read wrk's output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=_millis(total.group(2) + total.group(3)) / 1000,
        bad_status=int(bad.group(1)) if bad else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        p99_ms=_millis(p99.group(1)),
    )


# --- hey: a steady rate --------------------------------------------------------------


@dataclass(frozen=True)
class HeyResult:
    seconds: float
    statuses: dict[int, int]
    errors: dict[str, int]  # connection errors and timeouts, by message
    percentiles_ms: dict[int, float]

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if not 200 <= code < 300)

    @property
    def connection_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def failures(self) -> int:
        return self.non_2xx + self.connection_errors

    @property
    def p99_ms(self) -> float:
        return self.percentiles_ms.get(99, float("nan"))

    def summary(self) -> str:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.requests} requests in {self.seconds:.1f}s "
            f"({self.requests / self.seconds:.1f}/s) [{statuses or 'no answers'}], "
            f"{self.connection_errors} connection errors, "
            f"p50 {self.percentiles_ms.get(50, float('nan')):.1f} ms, p99 {self.p99_ms:.1f} ms"
        )


def parse_hey(out: str) -> HeyResult:
    total = re.search(r"Total:\s+([0-9.]+) secs", out)
    if not total:
        sys.exit(f"cannot read hey's output:\n{out}")
    percentiles = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)% in ([0-9.]+) secs", out)}
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    section = ""
    for line in out.splitlines():
        if line.endswith("distribution:"):
            section = line.strip()
            continue
        entry = re.match(r"\s+\[(\d+)\]\s+(.*)$", line)
        if not entry:
            continue
        bracket, rest = int(entry.group(1)), entry.group(2)
        if section.startswith("Status code"):  # [code]  count responses
            statuses[bracket] = int(rest.split()[0])
        elif section.startswith("Error"):  # [count]  message
            errors[rest] = errors.get(rest, 0) + bracket
    return HeyResult(float(total.group(1)), statuses, errors, percentiles)


class SteadyLoad:
    """hey at `rate` requests/s, from start until `stop()` (or `cap` seconds at most).

    hey prints its whole report on SIGINT, so a benchmark can end the load when the
    change it measures is over, instead of guessing how long the change will take.
    """

    WORKER_RATE = 5.0  # requests/s per worker: a 200 ms tick, see the module docstring

    def __init__(self, url: str, rate: int, cap: int, keepalive: bool = True) -> None:
        workers = max(1, round(rate / self.WORKER_RATE))
        self.argv = ["hey", "-z", f"{cap}s", "-c", str(workers), "-q",
                     f"{rate / workers:g}", "-t", "10", url]  # fmt: skip
        if not keepalive:  # a new connection per request: what a socket handover must keep
            self.argv[1:1] = ["-disable-keepalive"]
        self.cap = cap
        self.process: subprocess.Popen[str] | None = None
        self.started = 0.0

    def __enter__(self) -> SteadyLoad:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        return self

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def stop(self) -> HeyResult:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=60)
        return parse_hey(out)

    def wait(self) -> HeyResult:
        assert self.process is not None
        out, _ = self.process.communicate(timeout=self.cap + 60)
        return parse_hey(out)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def steady(url: str, rate: int, seconds: int) -> HeyResult:
    with SteadyLoad(url, rate, seconds) as load:
        return load.wait()
