"""Failover of a Cinder volume on a localcloud cluster (1 manager, 2 workers): PostgreSQL
from `examples/pg` on its volume, a `cloudhp watch` controller running as it would on
a bastion, and node containers killed (`docker kill`: a power loss) or frozen (`docker
pause`: a hung VM, ACTIVE in Nova but deaf to SSH and Swarm).

The tests run in order on one cluster, each from where the last left it: the volume
goes back and forth between the two workers; last, the registry's own volume follows
its node's death to the manager. All along, a thread reads Cinder's and
Nova's views every second and records any volume shown attached to two servers.
"""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest
import requests

from tests.e2e.cloud import connect
from tests.e2e.pgclient import Pg, Writer, cluster_files, wait_for_answer

pytestmark = pytest.mark.docker

CLUSTER = "fo"
TAG = f"cloudhp-cluster={CLUSTER}"
VOLUME = "pg_pgdata"
DOWN_AFTER = 10
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pg"
MOVE = ["fence", "detach", "attach", "mount", "placement"]
REGISTRY = "cloudhp_registry"
REGISTRY_NAME = f"registry.{CLUSTER}.cloudhp.internal"
REGISTRY_ADDRESS = f"{REGISTRY_NAME}:5000"

# Every blob of the image's manifest, fetched from the registry with the lead's login
# and checked against its digest: the registry's storage, not an engine's cache.
FETCH_ALL = r"""
import hashlib, json, os, ssl, sys, urllib.request
address, repo, tag = sys.argv[1:4]
auths = json.load(open(os.path.expanduser("~/.docker/config.json")))["auths"]
headers = {"Authorization": "Basic " + auths[address]["auth"],
           "Accept": "application/vnd.docker.distribution.manifest.v2+json"}
ctx = ssl.create_default_context(cafile=f"/etc/docker/certs.d/{address}/ca.crt")
def get(path):
    req = urllib.request.Request(f"https://{address}/v2/{repo}/{path}", headers=headers)
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        return resp.read()
manifest = json.loads(get(f"manifests/{tag}"))
blobs = [manifest["config"]] + manifest["layers"]
for blob in blobs:
    body = get("blobs/" + blob["digest"])
    assert "sha256:" + hashlib.sha256(body).hexdigest() == blob["digest"], blob["digest"]
print("blobs", len(blobs))
"""


def set_faults(cli, rules: list[dict[str, Any]]) -> None:
    admin = connect(cli, "cloudhp-local-admin")
    url = admin.auth["auth_url"].rsplit("/identity", 1)[0] + "/localcloud/faults"
    headers = {"X-Auth-Token": admin.session.get_token()}
    put = requests.put(url, json={"seed": 1, "rules": rules}, headers=headers, timeout=30)
    assert put.status_code == 200, put.text


class AttachmentPoller:
    """Every second: how many servers each cluster volume is attached to, in Cinder's
    view (the volume's attachments) and in Nova's (each server's volume attachments)."""

    def __init__(self, cli) -> None:
        self.cli = cli
        self.polls = 0
        self.doubles: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _once(self, conn: Any) -> None:
        for volume in conn.block_storage.volumes(details=True):
            if (volume.metadata or {}).get("cloudhp-cluster") != CLUSTER:
                continue
            servers = {a["server_id"] for a in volume.attachments or []}
            if len(servers) > 1:
                self.doubles.append(f"Cinder: {volume.name} on {sorted(servers)}")
        holders: dict[str, set[str]] = defaultdict(set)
        for server in conn.compute.servers(tags=TAG):
            for attachment in conn.compute.volume_attachments(server):
                holders[attachment.volume_id].add(server.name)
        for volume_id, names in holders.items():
            if len(names) > 1:
                self.doubles.append(f"Nova: {volume_id} on {sorted(names)}")
        self.polls += 1

    def _run(self) -> None:
        conn = connect(self.cli)
        while not self._stop.wait(1.0):
            try:
                self._once(conn)
            except openstack.exceptions.SDKException:
                continue  # a server deleted between list and read: the next poll sees it

    def __enter__(self) -> AttachmentPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class Controller:
    """`cloudhp watch` as a process of its own, its lines in a log file."""

    def __init__(self, cli, log: Path) -> None:
        self.cli = cli
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["cloudhp", "watch", "--name", CLUSTER, "--interval", "1",
                 "--down-after", str(DOWN_AFTER), "--fence-timeout", "15"],
                stdout=out, stderr=subprocess.STDOUT, env=self.cli.env,
            )  # fmt: skip

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=120)
        self.proc = None
        return code


@pytest.fixture(scope="module")
def cluster(cli, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The first deploy's report, and the compose file under `compose`."""
    copy = tmp_path_factory.mktemp("pg") / "pg"
    shutil.copytree(EXAMPLE, copy)
    cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", "2")
    compose = str(copy / "docker-compose.yml")
    yield cli.json("deploy", compose, "--name", CLUSTER) | {"compose": compose}
    cli.run("teardown", "--name", CLUSTER, "--yes", "--volumes", timeout=600)


@pytest.fixture(scope="module")
def cloud(cli, cluster) -> openstack.connection.Connection:
    return connect(cli)


@pytest.fixture(scope="module")
def poller(cli, cluster) -> Iterator[AttachmentPoller]:
    with AttachmentPoller(cli) as poller:
        yield poller


@pytest.fixture(scope="module")
def controller(cli, cluster, tmp_path_factory) -> Iterator[Controller]:
    running = Controller(cli, tmp_path_factory.mktemp("watch") / "watch.log")
    running.start()
    yield running
    if running.proc is not None:
        running.stop()
    print(running.log.read_text())


@pytest.fixture(scope="module")
def pg(cli, cluster) -> Pg:
    client = Pg(cluster_files(cli.home / "home", CLUSTER))
    client.create_table()
    return client


def volume_row(cli, volume: str = VOLUME) -> dict[str, Any]:
    (row,) = [v for v in cli.json("volumes", "--name", CLUSTER)["volumes"] if v["name"] == volume]
    return row


def audit(cli, volume: str | None = VOLUME) -> list[dict[str, str]]:
    """The audit log's entries for `volume` (None: every volume, the registry's too)."""
    path = cli.home / "home" / "clusters" / CLUSTER / "volumes-audit.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [entry for entry in lines if volume is None or entry["volume"] == volume]


def wait_for_step(
    cli, since: int, step: str, timeout: float = 180, every: float = 0.5, volume: str = VOLUME
) -> list:
    """The volume's audit entries after the first `since`, once one of them is `step`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = audit(cli, volume)[since:]
        if any(e["step"] == step for e in entries):
            return entries
        time.sleep(every)
    raise AssertionError(f"no {step!r} in the audit log after {timeout}s: {audit(cli)[since:]}")


def in_order(entries: list[dict[str, str]], steps: list[str]) -> list[str]:
    """The steps' first positions must rise: fence before detach before attach ..."""
    seen = [e["step"] for e in entries]
    assert all(step in seen for step in steps), seen
    positions = [seen.index(step) for step in steps]
    assert positions == sorted(positions), seen
    return seen


def server_of(cloud, node: str) -> Any:
    (server,) = [s for s in cloud.compute.servers(tags=TAG) if s.name == node]
    return server


def node_container(cloud, node: str) -> str:
    label = f"label=cloudhp.localcloud.server={server_of(cloud, node).id}"
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", label], check=True, capture_output=True, text=True
    )
    [container] = found.stdout.split()
    return container


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True)


def on_node(cli, node: str, script: str) -> subprocess.CompletedProcess[str]:
    return cli.run("ssh", node, "--", "sh", "-c", shlex.quote(script), timeout=60)


def swarm_status(cli, node: str) -> str:
    """The node's status as the manager's Swarm shows it (ready, down, unknown)."""
    listed = on_node(
        cli, f"{CLUSTER}-manager-1", "docker node ls --format '{{.Hostname}} {{.Status}}'"
    )
    assert listed.returncode == 0, listed.stderr
    statuses = dict(line.split() for line in listed.stdout.splitlines())
    return statuses.get(node, "").lower()


def wait_until(what: str, check, timeout: float = 180, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout}s")


def start_again(cli, cloud, node: str) -> None:
    """os-start, then wait until the node answers SSH and is Ready in the Swarm."""
    server = server_of(cloud, node)
    if server.status != "ACTIVE":
        cloud.compute.start_server(server)
    wait_until(f"{node} ACTIVE", lambda: server_of(cloud, node).status == "ACTIVE")
    wait_until(f"{node} answers SSH", lambda: on_node(cli, node, "true").returncode == 0)
    wait_until(f"{node} Ready in the Swarm", lambda: swarm_status(cli, node) == "ready")


def assert_let_go(cli, cloud, node: str, device: str) -> None:
    """The old node, running again, holds nothing of the volume and cannot write to it."""
    server = server_of(cloud, node)
    volume_id = volume_row(cli)["id"]
    assert volume_id not in {a.volume_id for a in cloud.compute.volume_attachments(server)}
    root = f"/var/lib/cloudhp/volumes/{VOLUME}"
    found = on_node(
        cli, node,
        f"findmnt -n {root} >/dev/null && echo mounted; test -e {root}/data && echo data; "
        f"test -b {device} && echo device; true",
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == [], found.stdout  # not mounted, no data dir, no device
    script = f"docker node inspect {node} --format '{{{{json .Spec.Labels}}}}'"
    labels = on_node(cli, f"{CLUSTER}-manager-1", script)
    assert f"cloudhp.volume.{VOLUME}" not in labels.stdout, labels.stdout


def attached_device(cloud, cli) -> str:
    volume = cloud.block_storage.get_volume(volume_row(cli)["id"])
    (attachment,) = volume.attachments
    return str(attachment["device"])


def test_a_killed_node_s_database_answers_elsewhere_with_every_acknowledged_row(
    cli, cloud, controller, poller, pg
) -> None:
    holder = volume_row(cli)["node"]
    device = attached_device(cloud, cli)
    since = len(audit(cli))
    reader = Pg(pg.files)
    with Writer(pg):
        wait_until("20 rows acknowledged", lambda: len(pg.acknowledged) >= 20, timeout=120)
        killed = time.monotonic()
        docker("kill", node_container(cloud, holder))
        listed = cli.run("volumes", "--name", CLUSTER, "--output", "json")
        answer = wait_for_answer(reader, other_than=holder, deadline=killed + 120)
        took = time.monotonic() - killed
        wait_until("the writer on the new node", lambda: pg.node not in (None, holder))
        count = len(pg.acknowledged)
        wait_until("10 more rows", lambda: len(pg.acknowledged) >= count + 10, timeout=60)
    assert answer is not None, f"no answer from another node within 120 s: {audit(cli)[since:]}"
    print(f"answered from {answer[0]} {took:.1f}s after the kill")
    assert listed.returncode == 0, listed.stderr  # the list works while the node is lost
    (shown,) = [v for v in json.loads(listed.stdout)["volumes"] if v["name"] == VOLUME]
    assert shown["state"] in ("unreachable", "moving"), shown
    final = reader.rows()
    assert final is not None
    assert set(pg.acknowledged) <= final, sorted(set(pg.acknowledged) - final)
    entries = wait_for_step(cli, since, "done")
    steps = in_order(entries, ["detect", *MOVE, "done"])
    fenced = next(e for e in entries if e["step"] == "fenced")
    assert fenced["detail"] == "already SHUTOFF", fenced  # Nova saw the power loss
    assert steps[-1] == "done"
    after = volume_row(cli)
    assert after["node"] == answer[0] != holder and after["state"] == "mounted"
    start_again(cli, cloud, holder)
    assert_let_go(cli, cloud, holder, device)


def test_a_short_freeze_moves_nothing(cli, cloud, controller, poller, pg) -> None:
    """Frozen until the Swarm shows it Down, then a few seconds: under --down-after."""
    holder = volume_row(cli)["node"]
    since = len(audit(cli))
    container = node_container(cloud, holder)
    docker("pause", container)
    try:
        wait_until("the Swarm shows it Down", lambda: swarm_status(cli, holder) == "down", 90)
        time.sleep(DOWN_AFTER / 3)
    finally:
        docker("unpause", container)
    wait_until("Ready again", lambda: swarm_status(cli, holder) == "ready", 90)
    time.sleep(DOWN_AFTER)  # a controller that misjudged it would have started by now
    assert audit(cli)[since:] == []
    assert volume_row(cli)["node"] == holder
    assert pg.rows() is not None and pg.node == holder


def test_a_long_freeze_is_fenced_through_nova_before_the_volume_moves(
    cli, cloud, controller, poller, pg
) -> None:
    holder = volume_row(cli)["node"]
    since, since_all = len(audit(cli)), len(audit(cli, None))
    docker("pause", node_container(cloud, holder))
    entries = wait_for_step(cli, since, "done")
    steps = in_order(entries, ["detect", *MOVE, "done"])
    assert steps.index("fenced") < steps.index("detach")
    # The first volume of that node to move (the registry's, when it was there too)
    # stopped it; any later one found it SHUTOFF already.
    fenced = [e for e in audit(cli, None)[since_all:] if e["step"] == "fenced"]
    assert fenced[0]["detail"] == "stopped through Nova", fenced
    assert {e["from_node"] for e in fenced} == {holder}
    assert server_of(cloud, holder).status == "SHUTOFF"
    answer = wait_for_answer(Pg(pg.files), other_than=holder, deadline=time.monotonic() + 120)
    assert answer is not None and set(pg.acknowledged) <= answer[1]
    start_again(cli, cloud, holder)


def test_a_failing_nova_stop_moves_nothing_until_the_fence_is_confirmed(
    cli, cloud, controller, poller, pg
) -> None:
    holder = volume_row(cli)["node"]
    volume_id = volume_row(cli)["id"]
    since = len(audit(cli))
    set_faults(cli, [{"service": "compute", "action": "os-stop", "kind": "500", "rate": 1}])
    container = node_container(cloud, holder)
    try:
        docker("pause", container)
        entries = wait_for_step(cli, since, "fence_pending")
        assert [e["step"] for e in entries] == ["detect", "fence", "fence_pending"]
        assert volume_row(cli)["state"] == "FENCE_PENDING"
        time.sleep(3)  # later passes must not move it either
        volume = cloud.block_storage.get_volume(volume_id)
        assert [a["server_id"] for a in volume.attachments] == [server_of(cloud, holder).id]
        assert [e["step"] for e in audit(cli)[since:]] == ["detect", "fence", "fence_pending"]
        log = controller.log.read_text()
        assert f"cloudhp volume confirm-fence {VOLUME}" in log
    finally:
        set_faults(cli, [])
    # The operator makes sure it is off (here: pulls the power) and confirms, with the
    # controller stopped so that the command itself completes the move.
    assert controller.stop() == 0
    docker("kill", container)
    confirmed = cli.json("volume", "confirm-fence", VOLUME, "--name", CLUSTER)
    assert confirmed["state"] == "moved" and confirmed["from"] == holder, confirmed
    entries = audit(cli)[since:]
    in_order(entries, ["fence_pending", "fenced", "detach", "attach", "mount", "placement"])
    assert next(e for e in entries if e["step"] == "fenced")["detail"] == "confirmed by hand"
    answer = wait_for_answer(Pg(pg.files), other_than=holder, deadline=time.monotonic() + 120)
    assert answer is not None and set(pg.acknowledged) <= answer[1]
    # Any other volume of that node (the registry's, when it was there) waits in
    # FENCE_PENDING too; the controller completes it now that Nova shows the node off.
    controller.start()
    rows = lambda: cli.json("volumes", "--name", CLUSTER)["volumes"]  # noqa: E731
    wait_until("no volume FENCE_PENDING", lambda: all(r["node"] != holder for r in rows()))
    start_again(cli, cloud, holder)


def kill_controller_at(cli, controller: Controller, since: int, step: str) -> None:
    """SIGKILL the controller as soon as the audit log shows `step` about to be done."""
    wait_for_step(cli, since, step, every=0.05)
    assert controller.stop(signal.SIGKILL) == -signal.SIGKILL
    controller.start()


def test_a_controller_killed_after_detach_and_after_attach_completes_the_move(
    cli, cloud, controller, poller, pg
) -> None:
    holder = volume_row(cli)["node"]
    since = len(audit(cli))
    docker("kill", node_container(cloud, holder))
    kill_controller_at(cli, controller, since, "attach")  # detached, attach under way
    first = len(audit(cli)) - since
    kill_controller_at(cli, controller, since + first, "check")  # attached, not mounted
    entries = wait_for_step(cli, since, "done")
    in_order(entries, ["detect", *MOVE, "done"])
    volume = cloud.block_storage.get_volume(volume_row(cli)["id"])
    assert volume.status == "in-use" and len(volume.attachments) == 1
    transient = [v.name for v in cloud.block_storage.volumes() if v.status in ("attaching",
                 "detaching", "reserved")]  # fmt: skip
    assert transient == []
    assert volume_row(cli)["state"] == "mounted"
    answer = wait_for_answer(Pg(pg.files), other_than=holder, deadline=time.monotonic() + 120)
    assert answer is not None and set(pg.acknowledged) <= answer[1]


def hosts_lines(cli, node: str) -> list[str]:
    found = on_node(cli, node, f"grep -w {REGISTRY_NAME} /etc/hosts || true")
    assert found.returncode == 0, found.stderr
    return found.stdout.splitlines()


def line_for(pg: Pg, node: str) -> list[str]:
    (ip,) = [n["private_ip"] for n in pg.files.read_record()["nodes"] if n["name"] == node]
    return [f"{ip} {REGISTRY_NAME} # cloudhp registry"]


def fetch_all(cli, node: str, image: str) -> list[str]:
    """FETCH_ALL on `node`, again while the registry's new task starts (a bound on
    tries, not a timed assertion); its output's words."""
    repo, tag = image.removeprefix(f"{REGISTRY_ADDRESS}/").rsplit(":", 1)
    fetch = f"python3 -c {shlex.quote(FETCH_ALL)} {REGISTRY_ADDRESS} {repo} {tag}"
    for _ in range(60):
        result = on_node(cli, node, fetch)
        if result.returncode == 0:
            break
        time.sleep(2)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split()


def test_the_registry_s_images_outlive_its_node(cli, cloud, cluster, controller, pg) -> None:
    """The registry's volume on the one worker still up (moved there by hand with
    `volume move` if it is not), then that worker killed: the controller moves it to
    the manager, the hosts lines follow, every blob is served from the moved volume
    and a deploy pushes nothing again."""
    manager = f"{CLUSTER}-manager-1"
    (worker,) = [
        n["name"] for n in pg.files.read_record()["nodes"]
        if "worker" in n["name"] and server_of(cloud, n["name"]).status == "ACTIVE"
    ]  # fmt: skip
    if volume_row(cli, REGISTRY)["node"] != worker:
        moved = cli.json("volume", "move", REGISTRY, "--to", worker, "--name", CLUSTER)
        assert moved["changed"] is True and moved["to_node"] == worker
        for node in (manager, worker):
            assert hosts_lines(cli, node) == line_for(pg, worker)
    since = len(audit(cli, REGISTRY))
    docker("kill", node_container(cloud, worker))
    entries = wait_for_step(cli, since, "done", volume=REGISTRY)
    in_order(entries, ["detect", *MOVE, "done"])
    after = volume_row(cli, REGISTRY)
    assert (after["node"], after["state"]) == (manager, "mounted")
    assert hosts_lines(cli, manager) == line_for(pg, manager)
    (db,) = cluster["services"]
    words = fetch_all(cli, manager, db["image"])  # Swarm starts the registry there
    assert words[0] == "blobs" and int(words[1]) >= 2, words
    again = cli.json("deploy", cluster["compose"], "--name", CLUSTER)
    phases = {p["phase"]: p["changed"] for p in again["phases"]}
    assert phases["images"] is False, phases  # the moved volume holds what was pushed
    answer = wait_for_answer(Pg(pg.files), other_than=worker, deadline=time.monotonic() + 120)
    assert answer is not None and set(pg.acknowledged) <= answer[1]


def test_repair_replaces_the_dead_workers_once_their_volumes_have_moved(cli, pg) -> None:
    """Nothing is attached to the two dead workers any more, so repair replaces them, and
    init's registry step gives the new ones the hosts line (pointing at the manager,
    where the registry went while they were down) and the CA."""
    done = cli.json("repair", "--name", CLUSTER, "--down-after", "5")
    workers = sorted(f"{CLUSTER}-worker-{i}" for i in (1, 2))
    assert sorted(r["name"] for r in done["repaired"]) == workers, done
    for worker in workers:
        assert hosts_lines(cli, worker) == line_for(pg, f"{CLUSTER}-manager-1")
        ca = f"/etc/docker/certs.d/{REGISTRY_ADDRESS}/ca.crt"
        assert on_node(cli, worker, f"test -s {ca}").returncode == 0


def test_no_volume_was_ever_attached_to_two_servers(poller) -> None:
    assert poller.polls > 60, poller.polls  # it ran through the failovers above
    assert poller.doubles == []
