"""`cloudhp init` on localcloud as a user runs it: create, rerun, resume, status, teardown."""

from __future__ import annotations

import json
import signal
import stat
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.e2e.cloud import connect

pytestmark = pytest.mark.docker

CLUSTER = "e2e"
TAG = f"cloudhp-cluster={CLUSTER}"


def tagged(conn) -> dict[str, list[str]]:
    return {
        "servers": sorted(s.name for s in conn.compute.servers(tags=TAG)),
        "security_groups": sorted(g.name for g in conn.network.security_groups(tags=TAG)),
        "floating_ips": sorted(f.floating_ip_address for f in conn.network.ips(tags=TAG)),
        "ports": sorted(p.id for p in conn.network.ports(tags=TAG)),
    }


@pytest.fixture(scope="module")
def cluster(cli):
    doc = cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", "2")
    yield doc


def test_init_gives_three_ready_nodes_networks_and_an_answering_ingress(cli, cluster):
    assert [n["role"] for n in cluster["nodes"]] == ["manager", "worker", "worker"]
    with urllib.request.urlopen(cluster["ingress_url"] + "healthz", timeout=10) as resp:
        assert resp.read() == b"ok\n"
    with urllib.request.urlopen(cluster["ingress_url"], timeout=10) as resp:
        assert b"cloudhp cluster e2e" in resp.read()
    status = cli.json("status", "--cloud", "local", "--name", CLUSTER)
    assert [n["swarm_state"] for n in status["nodes"]] == ["Ready"] * 3
    assert sorted(n["swarm_role"] for n in status["nodes"]) == ["manager", "worker", "worker"]
    assert {"proxy", "apps"} <= set(status["networks"])
    assert status["ingress_url"] == cluster["ingress_url"]


def test_second_init_changes_nothing(cli, cluster):
    again = cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", "2")
    assert again["changed"] is False, [p for p in again["phases"] if p["changed"]]
    assert [n["server_id"] for n in again["nodes"]] == [n["server_id"] for n in cluster["nodes"]]


def demo_password(cli) -> str:
    clouds = yaml.safe_load((cli.home / "localcloud" / "clouds.yaml").read_text())["clouds"]
    return clouds["cloudhp-local"]["auth"]["password"]


def test_status_through_a_horizon_openrc_with_the_password_on_a_pipe(cli, cluster, tmp_path):
    rc = tmp_path / "demo-openrc.sh"
    rc.write_text(cli.run("localcloud", "openrc").stdout)
    assert "OS_PASSWORD_INPUT" in rc.read_text()  # it prompts, as Horizon's files do
    password = demo_password(cli)
    result = cli.run(
        "status", "--openrc", str(rc), "--name", CLUSTER, "--output", "json",
        input=password + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["nodes"]) == 3
    assert password not in result.stdout + result.stderr


def test_status_with_an_application_credential(cli, cluster, tmp_path):
    conn = connect(cli)
    user_id = conn.current_user_id
    cred = conn.identity.create_application_credential(user=user_id, name="e2e-appcred")
    try:
        rc = tmp_path / "appcred-openrc.sh"
        rc.write_text(
            f"export OS_AUTH_TYPE=v3applicationcredential\n"
            f"export OS_AUTH_URL={conn.auth['auth_url']}\n"
            f"export OS_APPLICATION_CREDENTIAL_ID={cred.id}\n"
            f"export OS_APPLICATION_CREDENTIAL_SECRET={cred.secret}\n"
            "export OS_REGION_NAME=RegionOne\n"
        )
        doc = cli.json("status", "--openrc", str(rc), "--name", CLUSTER)
        assert len(doc["nodes"]) == 3
    finally:
        conn.identity.delete_application_credential(user_id, cred.id)


def test_ssh_runs_a_command_with_the_pinned_key(cli, cluster):
    result = cli.run("ssh", "--name", CLUSTER, "manager-1", "--", "docker", "node", "ls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Ready") == 3


@pytest.mark.parametrize(("phase", "workers"), [("golden image", 2), ("servers", 3), ("swarm", 4)])
def test_init_killed_during_a_phase_is_completed_by_the_next_run(cli, cluster, phase, workers):
    """SIGKILL while the phase does real work, then rerun: complete, no duplicates, no leaks.

    Each case grows the cluster (or, for the golden image, deletes it first) so that the
    killed run has something to do in that phase.
    """
    conn = connect(cli)
    if phase == "golden image":
        for image in conn.image.images(tag="cloudhp-golden"):
            conn.image.delete_image(image)
    proc = cli.popen("init", "--cloud", "local", "--name", CLUSTER, "--workers", str(workers))
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.strip() == f"{phase} started":
            break
    else:
        raise AssertionError(f"init ended before the {phase} phase: {proc.wait()}")
    time.sleep({"golden image": 3.0, "servers": 1.0, "swarm": 0.3}[phase])
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", str(workers))
    names = [n["name"] for n in done["nodes"]]
    assert len(names) == len(set(names)) == 1 + workers
    assert tagged(conn)["servers"] == sorted(names)
    assert len(tagged(conn)["floating_ips"]) == 1
    assert not list(conn.orchestration.stacks())  # no golden builder left
    assert len(list(conn.image.images(tag="cloudhp-golden"))) == 1
    status = cli.json("status", "--cloud", "local", "--name", CLUSTER)
    assert [n["swarm_state"] for n in status["nodes"]] == ["Ready"] * (1 + workers)


def test_teardown_removes_everything_tagged_and_spares_the_rest(cli, cluster):
    conn = connect(cli)
    bystander = conn.network.create_security_group(name=f"{CLUSTER}-sg-bystander")
    credential = Path(cli.env["CLOUDHP_HOME"]) / "clusters" / CLUSTER / "clouds.yaml"
    assert stat.S_IMODE(credential.stat().st_mode) == 0o600
    secret = credential.read_text().split("application_credential_secret:")[1].split()[0]
    assert secret not in json.dumps(cluster)
    try:
        # Unattended, as a scheduled job runs it: the cluster's own credential, no password.
        result = cli.json("teardown", "--app-credential", "--name", CLUSTER, "--yes")
        assert result["deleted"]["application credential"] == [f"cloudhp-{CLUSTER}"]
        assert not credential.exists()
        assert tagged(conn) == {
            "servers": [],
            "security_groups": [],
            "floating_ips": [],
            "ports": [],
        }
        assert conn.network.find_security_group(bystander.id) is not None
        assert conn.compute.find_keypair(f"{CLUSTER}-key") is None
        again = cli.json("teardown", "--cloud", "local", "--name", CLUSTER, "--yes")
        assert again
    finally:
        conn.network.delete_security_group(bystander)
