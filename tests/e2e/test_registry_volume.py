"""The cluster registry on its own Cinder volume, on a localcloud cluster (1 manager,
1 worker): a deploy of an image built here puts the registry on the worker (the volume
goes to a node without the ingress) and every node's hosts line names the worker; a
planned `cloudhp volume move` to the manager and back points every line at the holder
each time; the worker's container is killed as a power loss would; `cloudhp watch
--once` passes fence it, move the volume to the manager and point every reachable
hosts line there; the registry then serves the image from the moved volume (each blob
checked against its digest), a deploy with one more replica converges, and `cloudhp
repair` brings the worker back with its hosts line pointing at the manager.

The tests run in order on one cluster: each one starts from where the last left it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

CLUSTER = "regvol"
REGISTRY = "cloudhp_registry"
NAME = f"registry.{CLUSTER}.cloudhp.internal"
ADDRESS = f"{NAME}:5000"

# Every blob of the image's manifest, fetched from the registry with the lead's login
# and checked against its digest: the registry's storage, not an engine's cache.
FETCH_ALL = r"""
import base64, hashlib, json, os, ssl, sys, urllib.request
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


def on_node(cli, node: str, script: str) -> str:
    result = cli.run("ssh", node, "--", "sh", "-c", shlex.quote(script))
    assert result.returncode == 0, result.stderr
    return result.stdout


def hosts_lines(cli, node: str) -> list[str]:
    out = on_node(cli, node, f"grep -w {NAME} /etc/hosts || true")
    return out.splitlines()


def registry_row(cli) -> dict:
    (row,) = [r for r in cli.json("volumes")["volumes"] if r["name"] == REGISTRY]
    return row


def nodes(cli) -> dict[str, dict]:
    """The cluster's nodes as init recorded them (name, private_ip, server_id, ...)."""
    record = json.loads((cli.home / "home" / "clusters" / CLUSTER / "cluster.json").read_text())
    return {n["name"]: n for n in record["nodes"]}


def line_for(cli, node_name: str) -> list[str]:
    return [f"{nodes(cli)[node_name]['private_ip']} {NAME} # cloudhp registry"]


def fetch_all(cli, node: str, image: str) -> list[str]:
    """FETCH_ALL on `node`, again while the registry's new task starts (a bound on
    tries, not a timed assertion); its output's words."""
    repo, tag = image.removeprefix(f"{ADDRESS}/").rsplit(":", 1)
    fetch = f"python3 -c {shlex.quote(FETCH_ALL)} {ADDRESS} {repo} {tag}"
    for _ in range(60):
        result = cli.run("ssh", node, "--", "sh", "-c", shlex.quote(fetch))
        if result.returncode == 0:
            break
        time.sleep(2)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split()


def compose_file(folder: Path, base_image: str, replicas: int) -> Path:
    """A service built here (FROM the sample app), so deploy pushes it to the registry."""
    (folder / "web").mkdir(parents=True, exist_ok=True)
    (folder / "web" / "Dockerfile").write_text(f"FROM {base_image}\nENV BUILT_BY=cloudhp\n")
    compose = folder / "docker-compose.yml"
    compose.write_text(
        "name: rv\n"
        "services:\n"
        "  web:\n"
        "    build: ./web\n"
        "    expose: ['8080']\n"
        f"    deploy: {{replicas: {replicas}}}\n"
        "    x-cloudhp: {health: /healthz}\n"
    )
    return compose


@pytest.fixture(scope="module")
def cluster(cli):
    doc = cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", "1")
    yield doc
    cli.run("teardown", "--name", CLUSTER, "--yes", "--volumes", timeout=600)


@pytest.fixture(scope="module")
def app(cli, cluster, images, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("rv")
    compose = compose_file(folder, images["sampleapp"].tag, replicas=1)
    deployed = cli.json("deploy", str(compose))
    return {"folder": folder, "deployed": deployed, "base": images["sampleapp"].tag}


def test_the_registry_runs_on_its_volume_and_every_node_names_its_holder(cli, app) -> None:
    (web,) = app["deployed"]["services"]
    assert web["image"].startswith(f"{ADDRESS}/rv/web:")
    row = registry_row(cli)
    assert (row["state"], row["service"]) == ("mounted", "cloudhp-registry")
    assert "worker" in row["node"]  # the manager holds the ingress
    for node in ("manager-1", "worker-1"):
        assert hosts_lines(cli, node) == line_for(cli, row["node"])
    short = row["node"].removeprefix(f"{CLUSTER}-")
    stored = on_node(cli, short, f"ls /var/lib/cloudhp/volumes/{REGISTRY}/data/docker/registry/"
                     "v2/repositories/rv")  # fmt: skip
    assert stored.split() == ["web"]


def test_a_planned_move_and_back_points_every_node_at_the_holder(cli, app) -> None:
    worker = registry_row(cli)["node"]
    manager = f"{CLUSTER}-manager-1"
    (web,) = app["deployed"]["services"]
    for to in (manager, worker):
        moved = cli.json("volume", "move", REGISTRY, "--to", to)
        assert moved["changed"] is True and moved["to_node"] == to
        for node in ("manager-1", "worker-1"):
            assert hosts_lines(cli, node) == line_for(cli, to)
        # From the lead (the node logged in), by name, at wherever the volume went.
        assert fetch_all(cli, "manager-1", web["image"])[0] == "blobs"


def test_after_the_holder_is_lost_the_registry_serves_from_the_other_node(cli, app) -> None:
    before = registry_row(cli)
    holder = nodes(cli)[before["node"]]
    label = f"label=cloudhp.localcloud.server={holder['server_id']}"
    found = subprocess.run(
        ["docker", "ps", "-q", "--filter", label], check=True, capture_output=True, text=True
    )
    [container] = found.stdout.split()
    subprocess.run(["docker", "kill", container], check=True, capture_output=True)

    states: list[dict] = []
    for _ in range(120):  # a bound on passes, not a timed assertion
        doc = cli.json("watch", "--name", CLUSTER, "--once", "--down-after", "10")
        states = [s for s in doc["volumes"] if s["volume"] == REGISTRY]
        if states and states[0]["state"] == "moved":
            break
        time.sleep(2)
    assert states and states[0]["state"] == "moved", states
    manager = f"{CLUSTER}-manager-1"
    assert (states[0]["from"], states[0]["to"]) == (holder["name"], manager)
    after = registry_row(cli)
    assert (after["node"], after["state"]) == (manager, "mounted")
    assert hosts_lines(cli, "manager-1") == line_for(cli, manager)

    (web,) = app["deployed"]["services"]
    words = fetch_all(cli, "manager-1", web["image"])  # Swarm starts the registry there
    assert words[0] == "blobs" and int(words[1]) >= 2
    pulled = on_node(cli, "manager-1", f"docker pull -q {web['image']}")
    assert pulled.strip() == web["image"]


def test_a_deploy_after_the_move_uses_the_moved_registry(cli, app) -> None:
    compose = compose_file(app["folder"], app["base"], replicas=2)
    again = cli.json("deploy", str(compose))
    phases = {p["phase"]: p["changed"] for p in again["phases"]}
    assert phases["images"] is False  # the moved volume holds what was pushed
    (web,) = again["services"]
    assert web["image"] == app["deployed"]["services"][0]["image"]
    (row,) = [s for s in cli.json("services")["services"] if s["name"] == "rv-web"]
    assert (row["running"], row["desired"]) == (2, 2)


def test_the_repaired_worker_finds_the_registry_where_it_went(cli, app) -> None:
    """`cloudhp repair` brings the lost worker back through init, whose registry step
    writes its hosts line (it was down when the volume moved) and its trust."""
    done = cli.json("repair", "--name", CLUSTER, "--down-after", "5")
    assert f"{CLUSTER}-worker-1" in [r["name"] for r in done["repaired"]], done
    assert hosts_lines(cli, "worker-1") == line_for(cli, f"{CLUSTER}-manager-1")
    trusted = on_node(cli, "worker-1", f"test -s /etc/docker/certs.d/{ADDRESS}/ca.crt && echo yes")
    assert trusted.strip() == "yes"
