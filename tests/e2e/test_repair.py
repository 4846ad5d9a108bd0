"""`cloudhp repair` on a localcloud cluster of 3 managers and 1 worker whose node
containers are killed as a power loss would kill a machine (`docker kill`): a worker, one
of the managers, then the ingress node that holds the floating IP (manager-1, also the
lead the other commands use); last, two managers at once, which is refused.

The tests run in order on one cluster. Each waits with `repair --dry-run` until the loss
shows (a Swarm node Down, or the server SHUTOFF where the cloud syncs power states),
which also checks that a dry run changes nothing.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import urllib.request

import openstack
import pytest

from tests.e2e.cloud import connect

pytestmark = pytest.mark.docker

CLUSTER = "rep"
TAG = f"cloudhp-cluster={CLUSTER}"
DOWN_AFTER = "5"


@pytest.fixture(scope="module")
def cluster(cli):
    doc = cli.json(
        "init", "--cloud", "local", "--name", CLUSTER, "--managers", "3", "--workers", "1"
    )
    yield doc
    cli.run("teardown", "--name", CLUSTER, "--yes", timeout=600)


@pytest.fixture(scope="module")
def cloud(cli, cluster):
    return connect(cli)


def servers(cloud) -> dict[str, openstack.compute.v2.server.Server]:
    return {s.name.removeprefix(f"{CLUSTER}-"): s for s in cloud.compute.servers(tags=TAG)}


def kill(cloud, node: str) -> str:
    """Kills the node's container (found by the label localcloud gives a server's
    container); returns its server's id."""
    server_id = str(servers(cloud)[node].id)
    label = f"label=cloudhp.localcloud.server={server_id}"
    found = subprocess.run(
        ["docker", "ps", "-q", "--filter", label], check=True, capture_output=True, text=True
    )
    [container] = found.stdout.split()
    subprocess.run(["docker", "kill", container], check=True, capture_output=True)
    return server_id


def on_node(cli, node: str, *command: str) -> str:
    result = cli.run("ssh", "--name", CLUSTER, node, "--", shlex.join(command))
    assert result.returncode == 0, result.stderr
    return result.stdout


def swarm_nodes(cli, node: str = "manager-1") -> list[dict]:
    out = on_node(cli, node, "docker", "node", "ls", "--format", "{{json .}}")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def repair(cli, *args: str) -> dict:
    return cli.json("repair", "--name", CLUSTER, "--down-after", DOWN_AFTER, *args)


def wait_until_lost(cli, *nodes: str, timeout: float = 120) -> dict:
    """Until a dry run names `nodes` as to be replaced; that dry run's answer."""
    deadline = time.monotonic() + timeout
    while True:
        plan = repair(cli, "--dry-run")
        names = sorted(r["name"] for r in plan["found"]["repairs"] if r["replace"])
        if names == sorted(f"{CLUSTER}-{n}" for n in nodes):
            return plan
        assert time.monotonic() < deadline, plan
        time.sleep(3)


def assert_whole(cli, manager: str = "manager-1") -> list[dict]:
    nodes = swarm_nodes(cli, manager)
    assert sorted(n["Hostname"] for n in nodes) == sorted(
        f"{CLUSTER}-{n}" for n in ("manager-1", "manager-2", "manager-3", "worker-1")
    )
    assert {n["Status"] for n in nodes} == {"Ready"}
    assert sorted(n["ManagerStatus"] for n in nodes) == ["", "Leader", "Reachable", "Reachable"]
    return nodes


def test_a_killed_worker_is_replaced_with_its_labels(cli, cluster, cloud):
    assert [n["role"] for n in cluster["nodes"]] == ["manager"] * 3 + ["worker"]
    assert cluster["repaired"] == []
    on_node(cli, "manager-1", "docker", "node", "update", "--label-add",
            "cloudhp.volume.test=true", f"{CLUSTER}-worker-1")  # fmt: skip
    old = kill(cloud, "worker-1")
    plan = wait_until_lost(cli, "worker-1")
    assert plan["changed"] is False and plan["repaired"] == []
    assert servers(cloud)["worker-1"].id == old  # the dry run deleted nothing

    done = repair(cli)
    assert [(r["name"], r["role"]) for r in done["repaired"]] == [(f"{CLUSTER}-worker-1", "worker")]
    assert done["quorum_before"] == done["quorum_after"] == "3/3 managers reachable"
    assert servers(cloud)["worker-1"].id != old
    assert_whole(cli)
    inspect = ("docker", "node", "inspect", "--format", "{{json .Spec.Labels}}")
    labels = json.loads(on_node(cli, "manager-1", *inspect, f"{CLUSTER}-worker-1"))
    assert labels == {
        "cloudhp.ingress": "false", "cloudhp.role": "worker", "cloudhp.volume.test": "true"
    }  # fmt: skip


def test_a_killed_manager_is_replaced_while_quorum_holds(cli, cluster, cloud):
    old = kill(cloud, "manager-2")
    wait_until_lost(cli, "manager-2")
    done = repair(cli)
    assert [r["name"] for r in done["repaired"]] == [f"{CLUSTER}-manager-2"]
    assert done["found"]["quorum"] in ("2/3 managers reachable", "3/3 managers reachable")
    assert done["quorum_after"] == "3/3 managers reachable"
    assert servers(cloud)["manager-2"].id != old
    assert_whole(cli)


def test_the_ingress_node_s_loss_moves_the_floating_ip(cli, cluster, cloud):
    address = cluster["ingress_url"].removeprefix("http://").rstrip("/")
    old = kill(cloud, "manager-1")  # the ingress node, and the Swarm's first manager
    wait_until_lost(cli, "manager-1")
    done = repair(cli)
    assert [r["name"] for r in done["repaired"]] == [f"{CLUSTER}-manager-1"]
    assert done["found"]["lead"] != f"{CLUSTER}-manager-1"  # asked another manager
    new = servers(cloud)["manager-1"]
    assert new.id != old
    [fip] = list(cloud.network.ips(tags=TAG))
    assert fip.floating_ip_address == address
    assert fip.port_id in {p.id for p in cloud.network.ports(device_id=new.id)}
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=10) as resp:
        assert resp.read() == b"ok\n"
    assert_whole(cli)
    status = cli.json("status", "--name", CLUSTER)
    by_name = {n["name"]: n for n in status["nodes"]}
    assert by_name[f"{CLUSTER}-manager-1"]["floating_ip"] == address
    assert {n["swarm_state"] for n in status["nodes"]} == {"Ready"}
    again = repair(cli)
    assert again["changed"] is False and again["found"]["repairs"] == []


def test_two_managers_lost_of_three_is_refused_and_nothing_changes(cli, cluster, cloud):
    before = {name: s.id for name, s in servers(cloud).items()}
    kill(cloud, "manager-2")
    kill(cloud, "manager-3")
    deadline = time.monotonic() + 120
    while True:  # the dry run refuses as soon as the Swarm sees the majority gone
        args = ("repair", "--name", CLUSTER, "--down-after", "0", "--output", "json")
        plan = cli.run(*args, "--dry-run")
        if plan.returncode != 0:
            break
        assert time.monotonic() < deadline, plan.stdout
        time.sleep(3)
    assert plan.returncode == 4, plan.stdout + plan.stderr
    result = cli.run(*args)
    assert result.returncode == 4, result.stdout + result.stderr
    error = json.loads(result.stdout)
    assert error["error"] == "QuorumLost"
    assert "docker swarm init --force-new-cluster" in error["hint"]
    assert "manager-1" in error["hint"]
    assert {name: s.id for name, s in servers(cloud).items()} == before
