"""`cloudhp deploy` on a localcloud cluster as a user runs it: the example shop (a web
app built here with a database next to it), a platform-style service, routes by path,
a zero-failure rolling update, scale, logs, rm, and the errors a user can make."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

CLUSTER = "dep"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def cluster(cli):
    return cli.json("init", "--cloud", "local", "--name", CLUSTER, "--workers", "1")


@pytest.fixture(scope="module")
def shop(cli, cluster, tmp_path_factory):
    """The example, copied so that a test can change it, deployed once."""
    copy = tmp_path_factory.mktemp("shop") / "shop"
    shutil.copytree(EXAMPLE, copy)
    doc = cli.json("deploy", str(copy / "docker-compose.yml"))
    return copy, doc


def services_by_name(cli) -> dict[str, dict]:
    return {s["name"]: s for s in cli.json("services")["services"]}


def test_bare_status_after_init_uses_the_current_cluster(cli, cluster):
    status = cli.json("status")
    assert status["cluster"] == CLUSTER
    assert [n["swarm_state"] for n in status["nodes"]] == ["Ready", "Ready"]
    assert cli.json("clusters")["current"] == CLUSTER


def test_deploy_serves_the_app_under_its_context_root_with_its_database(cli, shop):
    _, doc = shop
    urls = {s["name"]: s["url"] for s in doc["services"]}
    assert set(urls) == {"shop-web", "shop-db"}
    assert urls["shop-db"] is None  # not routed: nothing exposed
    status, body = get(urls["shop-web"] + "orders")
    assert status == 200
    answer = json.loads(body)
    assert answer["context_root"] == "/shop-web"
    assert answer["path"] == "/shop-web/orders"  # the path is not stripped
    assert answer["db"]["visits"] >= 1  # reached through the link alias `database`
    base = urls["shop-web"].removesuffix("shop-web/")
    assert get(base + "shop-webx")[0] == 404
    assert get(base + "shop-web")[0] == 200
    assert all(s["image"].split("/")[0].endswith(":5000") for s in doc["services"])
    # The worker pulled the image from the cluster registry (it was built on the bastion).
    on_worker = cli.run("ssh", "worker-1", "--", "docker", "ps", "--format", "{{.Image}}")
    assert on_worker.returncode == 0, on_worker.stderr
    assert ":5000/shop/" in on_worker.stdout


def test_deploying_the_same_file_again_changes_nothing(cli, shop):
    copy, _ = shop
    again = cli.json("deploy", str(copy / "docker-compose.yml"))
    assert again["changed"] is False, [p for p in again["phases"] if p["changed"]]


def test_services_lists_replicas_memory_urls_and_state(cli, shop):
    rows = services_by_name(cli)
    web = rows["shop-web"]
    assert (web["running"], web["desired"]) == (2, 2)
    assert (web["memory_reservation_mb"], web["memory_limit_mb"]) == (32, 128)
    assert web["url"].endswith("/shop-web/")
    assert web["update_state"] == "completed"
    assert "@sha256:" in web["image"]
    assert rows["shop-db"]["memory_limit_mb"] == 64


def test_a_changed_environment_rolls_out_with_zero_failed_requests(cli, shop):
    copy, doc = shop
    url = next(s["url"] for s in doc["services"] if s["name"] == "shop-web")
    compose = copy / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("VERSION=1", "VERSION=2"))
    failures: list[str] = []
    versions: set[str] = set()
    done = threading.Event()

    def load() -> None:
        for _ in range(3000):  # bounded: at most 3000 requests, stops with the deploy
            if done.is_set():
                return
            try:
                status, body = get(url)
                if status != 200:
                    failures.append(f"{status} {body[:80]!r}")
                else:
                    versions.add(json.loads(body)["version"])
            except OSError as exc:
                failures.append(repr(exc))
            time.sleep(0.02)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        result = cli.json("deploy", str(compose))
    finally:
        time.sleep(2)
        done.set()
        thread.join()
    assert result["changed"] is True
    assert failures == []
    assert versions == {"1", "2"}
    assert json.loads(get(url)[1])["version"] == "2"


def test_logs_prefix_each_line_with_task_and_node(cli, shop):
    result = cli.run("logs", "shop-web", "--tail", "5")
    assert result.returncode == 0, result.stderr
    # A task's stderr (where the app logs requests) comes out on stderr, as with docker.
    lines = [line for line in (result.stdout + result.stderr).splitlines() if " | " in line]
    assert lines
    prefixes = [line.split(" | ")[0].split()[-1] for line in lines]  # <timestamp> task@node
    assert all(p.startswith("shop_web.") and "@" in p for p in prefixes), lines[:3]
    assert {p.split("@")[1] for p in prefixes} == {"dep-manager-1", "dep-worker-1"}


def test_scale_sets_the_replicas(cli, shop):
    cli.json("scale", "shop-web=3")
    web = services_by_name(cli)["shop-web"]
    assert (web["running"], web["desired"]) == (3, 3)


def test_platform_service_create_route_and_rm(cli, shop, images):
    tag = images["sampleapp"].tag
    created = cli.json(
        "service", "create", "api", "--definition", str(EXAMPLE / "api.yaml"),
        "--container-tag", tag,
    )  # fmt: skip
    url = created["services"][0]["url"]
    answer = json.loads(get(url + "items")[1])
    assert answer["context_root"] == "/app-api" and answer["path"] == "/app-api/items"
    api = services_by_name(cli)["app-api"]
    assert (api["desired"], api["memory_reservation_mb"], api["memory_limit_mb"]) == (2, 32, 64)
    removed = cli.json("rm", "app-api")
    assert removed["removed"] == ["app-api"]
    assert get(url)[0] == 404
    web = next(s["url"] for s in shop[1]["services"] if s["name"] == "shop-web")
    assert get(web)[0] == 200


def test_a_malformed_compose_file_names_file_line_and_key_and_changes_nothing(cli, shop, tmp_path):
    before = services_by_name(cli)
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("name: shop\nservices:\n  web:\n    image: x\n    replicaz: 2\n")
    result = cli.run("deploy", str(bad), "--output", "json")
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert str(bad) in doc["message"] and "5" in doc["message"] and "replicaz" in doc["message"]
    assert services_by_name(cli) == before


def test_a_name_that_breaks_the_rule_is_refused_before_anything_changes(cli, shop, tmp_path):
    before = services_by_name(cli)
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("name: shop\nservices:\n  Web_1:\n    image: x\n")
    result = cli.run("deploy", str(bad), "--output", "json")
    assert result.returncode == 2
    assert "shop-Web_1" in json.loads(result.stdout)["message"]
    assert services_by_name(cli) == before


def test_a_definition_with_reservation_above_limit_is_refused(cli, shop):
    result = cli.run(
        "service", "create", "big", "--container-tag", "x", "--container-port", "80",
        "--memory-reservation", "512", "--memory-limit", "256", "--output", "json",
    )  # fmt: skip
    assert result.returncode == 2
    assert "memory-reservation" in json.loads(result.stdout)["message"]
    assert "app-big" not in services_by_name(cli)
