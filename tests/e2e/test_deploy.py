"""`cloudhp deploy` on a localcloud cluster as a user runs it: the example shop (a web
app built here, FROM debian:bookworm-slim, with Redis from Debian's packages next to
it), a platform-style service, a second project, routes by path, a zero-failure rolling
update, rollback, a failed update that keeps the old version serving, a task killed at
its memory limit, scale without an ingress reload, logs, rm, the registry by hand, and
the errors a user can make."""

from __future__ import annotations

import json
import shlex
import shutil
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.load import Load, get

pytestmark = pytest.mark.docker

CLUSTER = "dep"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"


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


def web_url(shop) -> str:
    return next(s["url"] for s in shop[1]["services"] if s["name"] == "shop-web")


def on_node(cli, node: str, script: str) -> str:
    result = cli.run("ssh", node, "--", "sh", "-c", shlex.quote(script))
    assert result.returncode == 0, result.stderr
    return result.stdout


def ingress_loads(cli) -> int:
    """How many times the manager's HAProxy master has loaded a configuration."""
    script = (
        "docker logs $(docker ps -q --filter label=com.docker.swarm.service.name=cloudhp-ingress)"
        " 2>&1 | grep -c 'Loading success'"
    )
    return int(on_node(cli, "manager-1", script).strip())


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
    # Every ingress node reports the configuration deploy made, and serves it.
    digests = set(doc["ingress"].values())
    assert len(digests) == 1 and None not in digests
    with urllib.request.urlopen(base + "healthz", timeout=10) as resp:
        assert resp.headers["X-Cloudhp-Config"] in digests


def test_deploying_the_same_file_again_changes_nothing(cli, shop):
    copy, _ = shop
    again = cli.json("deploy", str(copy / "docker-compose.yml"))
    assert again["changed"] is False, [p for p in again["phases"] if p["changed"]]


def test_a_second_command_on_the_cluster_fails_with_no_wait_while_deploy_runs(cli, shop):
    copy, _ = shop
    lock = Path(cli.env["CLOUDHP_HOME"]) / "locks" / f"{CLUSTER}.lock"
    running = cli.popen("deploy", str(copy / "docker-compose.yml"), "--output", "json")
    try:
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        busy = cli.run("scale", "shop-web=2", "--no-wait", "--output", "json")
    finally:
        out, err = running.communicate(timeout=600)
    assert running.returncode == 0, out + err
    assert busy.returncode == 4, busy.stdout + busy.stderr
    message = json.loads(busy.stdout)["message"]
    assert message.startswith(f"cluster {CLUSTER} is busy: pid {running.pid} (cloudhp deploy")
    assert lock.read_text() == ""  # released


def test_services_lists_replicas_memory_urls_and_state(cli, shop):
    rows = services_by_name(cli)
    web = rows["shop-web"]
    assert (web["running"], web["desired"]) == (2, 2)
    assert (web["memory_reservation_mb"], web["memory_limit_mb"]) == (32, 128)
    assert web["url"].endswith("/shop-web/")
    assert web["update_state"] == "completed"
    assert "@sha256:" in web["image"]
    assert rows["shop-db"]["memory_limit_mb"] == 64
    resources = json.loads(
        on_node(
            cli, "manager-1",
            "docker service inspect shop_web --format '{{json .Spec.TaskTemplate.Resources}}'",
        )
    )  # fmt: skip
    assert resources["Limits"]["MemoryBytes"] == 128 * 1024 * 1024
    assert resources["Reservations"]["MemoryBytes"] == 32 * 1024 * 1024


def test_a_changed_environment_rolls_out_with_zero_failed_requests(cli, shop):
    copy, _ = shop
    compose = copy / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("VERSION=1", "VERSION=2"))
    with Load(web_url(shop)) as load:
        result = cli.json("deploy", str(compose))
    assert result["changed"] is True
    assert load.failures == []
    assert load.versions == {"1", "2"}
    assert json.loads(get(web_url(shop))[1])["version"] == "2"


def test_rollback_returns_to_the_previous_version_with_zero_failed_requests(cli, shop):
    with Load(web_url(shop)) as load:
        done = cli.json("rollback", "shop-web")
    assert done["rolled_back"] == "shop-web"
    assert load.failures == []
    assert json.loads(get(web_url(shop))[1])["version"] == "1"
    assert services_by_name(cli)["shop-web"]["update_state"] == "rollback_completed"


def test_a_release_that_never_gets_healthy_fails_and_the_old_version_keeps_serving(cli, shop):
    copy, _ = shop
    app = copy / "web" / "app.py"
    good = app.read_text()
    app.write_text(good.replace('self.reply(200, {"ok": True})', 'self.reply(500, {"ok": False})'))
    try:
        with Load(web_url(shop)) as load:
            result = cli.run("deploy", str(copy / "docker-compose.yml"), "--output", "json")
    finally:
        app.write_text(good)
    assert result.returncode == 8, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["error"] == "DeployFailed"
    assert "shop-web" in doc["message"] and "previous version keeps serving" in doc["message"]
    assert "web listening on :8080" in doc["message"]  # the last lines of its tasks' logs
    assert load.failures == []
    assert load.versions == {"1"}
    web = services_by_name(cli)["shop-web"]
    assert (web["running"], web["desired"]) == (2, 2)
    assert web["update_state"] == "rollback_completed" and web["last_error"]


def test_logs_prefix_each_line_with_task_and_node(cli, shop):
    result = cli.run("logs", "shop-web", "--tail", "5")
    assert result.returncode == 0, result.stderr
    # A task's stderr (where the app logs requests) comes out on stderr, as with docker.
    lines = [line for line in (result.stdout + result.stderr).splitlines() if " | " in line]
    assert lines
    prefixes = [line.split(" | ")[0].split()[-1] for line in lines]  # <timestamp> task@node
    assert all(p.startswith("shop_web.") and "@" in p for p in prefixes), lines[:3]
    assert {p.split("@")[1] for p in prefixes} == {"dep-manager-1", "dep-worker-1"}


def test_a_task_over_its_memory_limit_is_killed_and_replaced_while_siblings_serve(cli, shop):
    url = web_url(shop)
    with Load(url) as load:
        request = urllib.request.Request(url + "allocate?mb=300", method="POST")
        try:  # 300 MiB against a 128 MiB limit: the kernel kills the task mid-request
            with urllib.request.urlopen(request, timeout=30) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        assert status != 200
        time.sleep(5)
    assert load.failures == []
    out = on_node(
        cli, "manager-1",
        "docker service ps shop_web --no-trunc --format '{{.CurrentState}} {{.Error}}'",
    )  # fmt: skip
    assert "exit (137)" in out, out
    # Swarm restarts a failed task after its restart delay (5 s by default), then the
    # new one must pass its health check: wait for it, bounded.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        web = services_by_name(cli)["shop-web"]
        if (web["running"], web["desired"]) == (2, 2):
            break
        time.sleep(2)
    assert (web["running"], web["desired"]) == (2, 2)


def test_scale_1_to_3_is_answered_by_three_tasks_without_reloading_the_ingress(cli, shop):
    cli.json("scale", "shop-web=1")
    loads = ingress_loads(cli)
    cli.json("scale", "shop-web=3")
    web = services_by_name(cli)["shop-web"]
    assert (web["running"], web["desired"]) == (3, 3)
    hostnames: set[str] = set()
    deadline = time.monotonic() + 60
    while len(hostnames) < 3 and time.monotonic() < deadline:
        status, body = get(web_url(shop))
        assert status == 200
        hostnames.add(json.loads(body)["hostname"])
    assert len(hostnames) == 3
    assert ingress_loads(cli) == loads  # the new tasks filled template slots: no reload


def test_a_second_project_runs_beside_the_first_and_goes_with_rm_project(cli, shop, images):
    blog = shop[0].parent / "blog"
    blog.mkdir()
    compose = blog / "compose.yaml"
    compose.write_text(
        "services:\n"
        "  front:\n"
        f"    image: {images['sampleapp'].tag}\n"
        "    expose: ['8080']\n"
        "    x-cloudhp: {health: /healthz}\n"
    )
    doc = cli.json("deploy", str(compose))
    assert doc["project"] == "blog"  # no `name:`: the directory names the project
    (front,) = doc["services"]
    assert front["name"] == "blog-front"
    answer = json.loads(get(front["url"] + "x")[1])
    assert answer["context_root"] == "/blog-front" and answer["path"] == "/blog-front/x"
    assert get(web_url(shop))[0] == 200
    with Load(web_url(shop)) as load:
        removed = cli.json("rm", "--project", "blog")
    assert removed["removed"] == ["blog-front"]
    assert get(front["url"])[0] == 404
    assert load.failures == []
    assert "blog-front" not in services_by_name(cli)


def test_registry_info_and_login_let_a_user_push_by_hand(cli, shop, images, tmp_path):
    info = cli.json("registry", "info")
    assert info["repository_prefix"] == info["address"] + "/"
    assert stat.S_IMODE(Path(info["password_file"]).stat().st_mode) == 0o600
    password = Path(info["password_file"]).read_text()
    env = {**cli.env, "DOCKER_CONFIG": str(tmp_path / "docker")}
    login = subprocess.run(
        ["cloudhp", "registry", "login", "--output", "json"], env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert login.returncode == 0, login.stdout + login.stderr
    assert password not in login.stdout + login.stderr
    ca = Path(json.loads(login.stdout)["ca_installed"])
    try:
        assert ca.read_bytes() == Path(info["ca_file"]).read_bytes()
        ref = f"{info['repository_prefix']}byhand/sampleapp:1"
        for argv in (["docker", "tag", images["sampleapp"].tag, ref], ["docker", "push", ref]):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout + done.stderr
        # The lead (logged in by cloudhp) finds what was pushed by hand.
        found = on_node(cli, "manager-1", f"docker manifest inspect {ref} >/dev/null && echo found")
        assert found.strip() == "found"
    finally:
        subprocess.run(["docker", "rmi", f"{info['repository_prefix']}byhand/sampleapp:1"],
                       capture_output=True)  # fmt: skip
        logout = subprocess.run(
            ["cloudhp", "registry", "logout", "--output", "json"], env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert logout.returncode == 0, logout.stdout + logout.stderr
    assert not ca.exists()


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
    assert get(web_url(shop))[0] == 200


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
