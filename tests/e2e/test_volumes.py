"""Cinder volumes on a localcloud cluster (1 manager, 2 workers), as a user meets them:
the counter example deployed with its volume (made once, attached, formatted, mounted
on a worker, the task placed there), a rerun that changes nothing, `cloudhp volumes`,
a planned move to the other worker that keeps the count, a teardown that keeps the
volume and an init + deploy that brings the count back, and `teardown --volumes`.
The cluster registry's own volume (`cloudhp_registry`) goes along beside it.

The tests run in order on one cluster: each one starts from where the last left it.
"""

from __future__ import annotations

import json
import shlex
import shutil
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

CLUSTER = "vol"
LOGICAL = "counter_data"
REGISTRY = "cloudhp_registry"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "counter"


def call(url: str, method: str = "GET") -> dict:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def on_node(cli, node: str, script: str) -> str:
    result = cli.run("ssh", node, "--", "sh", "-c", shlex.quote(script))
    assert result.returncode == 0, result.stderr
    return result.stdout


def volume_rows(cli) -> list[dict]:
    return cli.json("volumes")["volumes"]


def counter_rows(cli) -> list[dict]:
    return [r for r in volume_rows(cli) if r["name"] == LOGICAL]


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("counter") / "counter"
    shutil.copytree(EXAMPLE, copy)
    return copy / "docker-compose.yml"


@pytest.fixture(scope="module")
def deployed(cli, compose) -> dict:
    cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", "2")
    return cli.json("deploy", str(compose))


def url_of(deployed: dict) -> str:
    return deployed["services"][0]["url"]


def test_deploy_makes_mounts_and_places_the_volume(cli, deployed) -> None:
    phases = {p["phase"]: p["changed"] for p in deployed["phases"]}
    assert phases["volumes"] is True
    rows = volume_rows(cli)
    assert [(r["name"], r["state"], r["service"]) for r in rows if r["name"] == REGISTRY] == [
        (REGISTRY, "mounted", "cloudhp-registry")
    ]
    (row,) = [r for r in rows if r["name"] == LOGICAL]
    assert row["name"] == LOGICAL and row["size_gb"] == 1
    assert row["state"] == "mounted" and row["service"] == "counter_web"
    assert "worker" in row["node"]  # not the manager, which holds the ingress
    counts = [call(url_of(deployed) + "hit", "POST")["count"] for _ in range(3)]
    assert counts == [1, 2, 3]
    short = row["node"].removeprefix(f"{CLUSTER}-")
    found = on_node(cli, short, f"cat /var/lib/cloudhp/volumes/{LOGICAL}/data/count; echo; "
                    f"findmnt -n -o FSTYPE /var/lib/cloudhp/volumes/{LOGICAL}")  # fmt: skip
    assert found.split() == ["3", "ext4"]


def test_a_second_deploy_changes_nothing(cli, deployed, compose) -> None:
    again = cli.json("deploy", str(compose))
    assert again["changed"] is False, again["phases"]


def test_a_task_where_the_volume_is_not_mounted_cannot_start(cli, deployed) -> None:
    """The bind source exists only on the mounted filesystem: the manager has none."""
    out = on_node(cli, "manager-1", f"test -e /var/lib/cloudhp/volumes/{LOGICAL}/data; echo $?")
    assert out.strip() == "1"


def test_scaling_a_service_with_a_volume_past_one_task_is_refused(cli, deployed) -> None:
    refused = cli.run("scale", "counter-web=2")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert LOGICAL in refused.stderr and "cannot run 2 replicas" in refused.stderr
    (row,) = [s for s in cli.json("services")["services"] if s["name"] == "counter-web"]
    assert (row["running"], row["desired"]) == (1, 1)


def test_move_to_the_other_worker_keeps_the_data(cli, deployed) -> None:
    (before,) = counter_rows(cli)
    other = next(
        n["name"] for n in cli.json("status")["nodes"]
        if "worker" in n["name"] and n["name"] != before["node"]
    )  # fmt: skip
    moved = cli.json("volume", "move", LOGICAL, "--to", other)
    assert moved["changed"] is True and moved["from_node"] == before["node"]
    assert moved["steps"] == ["placement", "detach", "attach", "check", "mount", "placement",
                              "done"]  # fmt: skip
    (after,) = counter_rows(cli)
    assert (after["node"], after["state"]) == (other, "mounted")
    answer = call(url_of(deployed))
    assert answer["count"] == 3
    assert call(url_of(deployed) + "hit", "POST")["count"] == 4
    audit = (cli.home / "home" / "clusters" / CLUSTER / "volumes-audit.jsonl").read_text()
    lines = [json.loads(line) for line in audit.splitlines()]
    assert [entry["step"] for entry in lines[-7:]] == moved["steps"]
    assert {entry["to_node"] for entry in lines[-7:]} == {other}
    again = cli.json("volume", "move", LOGICAL, "--to", other)
    assert again["changed"] is False


def test_move_refuses_an_unknown_node_or_volume(cli, deployed) -> None:
    bad_node = cli.run("volume", "move", LOGICAL, "--to", "nosuch")
    assert bad_node.returncode == 2, bad_node.stderr
    assert "no node 'nosuch'" in bad_node.stderr and "vol-worker-1" in bad_node.stderr
    bad_volume = cli.run("volume", "move", "counter_nothing", "--to", "vol-worker-1")
    assert bad_volume.returncode == 3, bad_volume.stderr
    assert "has no volume 'counter_nothing'" in bad_volume.stderr and LOGICAL in bad_volume.stderr


def test_teardown_keeps_the_volume_and_init_brings_the_data_back(cli, deployed, compose) -> None:
    down = cli.json("teardown", "--yes")
    kept = sorted((v["name"], v["size_gb"]) for v in down["kept_volumes"])
    assert kept == [(REGISTRY, 1), (LOGICAL, 1)]
    assert not down["deleted"].get("volume")
    cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", "2")
    back = cli.json("deploy", str(compose))
    assert call(url_of(back))["count"] == 4
    phases = {p["phase"]: p["changed"] for p in back["phases"]}
    assert phases["images"] is False  # the registry's kept volume still holds them: no push
    assert {r["name"]: r["state"] for r in volume_rows(cli)} == {
        LOGICAL: "mounted",
        REGISTRY: "mounted",
    }


def test_teardown_with_volumes_deletes_them(cli, deployed) -> None:
    down = cli.json("teardown", "--yes", "--volumes")
    assert down["kept_volumes"] == []
    assert len(down["deleted"]["volume"]) == 2  # the counter's and the registry's
    again = cli.json("teardown", "--yes", "--volumes")
    assert again["changed"] is False and again["counts"] == {}
