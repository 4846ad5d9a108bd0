"""One compose service's keys: routes and host ports, memory, deploy, build, env, volumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudhp.apps.compose import load_compose
from cloudhp.apps.model import Build, PublishedPort, Service
from cloudhp.errors import UsageError


def service(write, body: str, extra: str = "") -> Service:
    """Loads a file with one service `web` whose keys are `body` (YAML, 4-space indent)."""
    path = write("services:\n  web:\n" + body + extra)
    return load_compose(path).services[-1]


def error(write, body: str, extra: str = "") -> tuple[Path, UsageError]:
    path = write("services:\n  web:\n" + body + extra)
    with pytest.raises(UsageError) as caught:
        load_compose(path)
    return path, caught.value


# --- routes and host ports -------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "port", "published"),
    [
        ("    expose: [3000]\n", 3000, ()),
        ("    expose: ['3000/tcp', 5432]\n", 3000, ()),
        ("    expose: [5432]\n", None, ()),  # a database port is never guessed to be HTTP
        ("    ports: ['8080:80']\n", 80, ()),  # the ingress serves it: not also published
        ("    ports: ['5432:5432']\n", None, (PublishedPort(5432, 5432),)),
        ("    ports: [80]\n", 80, ()),  # no host port: like expose
        ("    expose: [8000]\n    ports: ['8000:8000', '9229:9229']\n", 8000,
         (PublishedPort(9229, 9229),)),
        ("    expose: [8000, 8001]\n    x-cloudhp: {port: 8001}\n", 8001, ()),
        ("    ports: ['8080:80']\n    x-cloudhp: {port: false}\n", None,
         (PublishedPort(8080, 80),)),
        ("    ports: ['7000-7001:7000-7001/udp']\n", None,
         (PublishedPort(7000, 7000, "udp"), PublishedPort(7001, 7001, "udp"))),
        ("    ports: [{target: 53, published: 5353, protocol: udp, mode: ingress}]\n", None,
         (PublishedPort(5353, 53, "udp"),)),
        ("    ports: [{target: 3000, published: 3000}]\n", 3000, ()),
    ],
)  # fmt: skip
def test_the_routed_port_and_host_ports(write, keys, port, published):
    web = service(write, "    image: nginx\n" + keys)
    assert (web.container_port, web.published_ports) == (port, published)
    assert (("CONTEXT_ROOT", "/shop-web") in web.environment) == (port is not None)


def test_several_published_ports_route_none_and_say_so(write):
    path = write("services:\n  web:\n    image: x\n    ports: ['8000:8000', '9000:9000']\n")
    app = load_compose(path)
    assert app.services[0].container_port is None
    assert len(app.services[0].published_ports) == 2
    assert app.warnings == (
        f"{path}:2: services.web: publishes several ports and none is routed; "
        "name the HTTP port with x-cloudhp: {port: N}",
    )


def test_several_exposed_http_ports_need_x_cloudhp_port(write):
    path, exc = error(write, "    image: x\n    expose: [8000, 8001]\n")
    assert exc.message == (
        f"{path}:2: services.web: exposes several HTTP ports (8000, 8001) and the ingress "
        "routes to one"
    )
    assert exc.hint == "name the HTTP port with x-cloudhp: {port: N}"


@pytest.mark.parametrize(
    ("ports", "line", "key", "text"),
    [
        ("['127.0.0.1:5432:5432']", 4, "ports[0]", "cannot publish a port on one address"),
        ("[{target: 80, host_ip: 127.0.0.1}]", 4, "ports[0].host_ip", "on one address"),
        ("['80:8080', '9000:9000']", 4, "ports[0]", "host port 80 belongs to the ingress"),
        ("['8000-8002:80']", 4, "ports[0]", "maps 3 host ports onto 1 ports"),
        ("['http:80']", 4, "ports[0]", "'http' is not a port number"),
        ("['70000']", 4, "ports[0]", "must be from 1 to 65535, not 70000"),
        ("['80/quic']", 4, "ports[0]", "protocol 'quic' is not one of sctp, tcp, udp"),
        ("[{published: 80}]", 4, "ports[0]", "a port needs its target"),
        ("[{target: 80, publish: 8080}]", 4, "ports[0].publish", "did you mean 'published'"),
        ("'80:80'", 4, "ports", "must be a list, not str '80:80'"),
    ],
)
def test_bad_ports_name_file_line_and_key(write, ports, line, key, text):
    path, exc = error(write, f"    image: x\n    ports: {ports}\n")
    assert exc.message.startswith(f"{path}:{line}: services.web.{key}: ")
    assert text in exc.message


def test_expose_takes_container_ports_only(write):
    path, exc = error(write, "    image: x\n    expose: ['8000:80']\n")
    assert exc.message.startswith(f"{path}:4: services.web.expose[0]: '8000:80': expose takes")


def test_x_cloudhp_hosts_health_and_its_errors(write):
    web = service(
        write, "    image: x\n    expose: [80]\n    x-cloudhp:\n"
        "      hosts: [shop.example.com, shop.example.com, www.shop.example.com]\n"
        "      health: /shop-web/healthz\n",
    )  # fmt: skip
    assert web.hosts == ("shop.example.com", "www.shop.example.com")
    assert web.health_path == "/shop-web/healthz"
    path, exc = error(write, "    image: x\n    x-cloudhp: {hosts: [a.example.com]}\n")
    assert exc.message == f"{path}:4: services.web.x-cloudhp: hosts and health need a routed port"
    path, exc = error(write, "    image: x\n    expose: [80]\n    x-cloudhp: {health: healthz}\n")
    assert exc.message.startswith(f"{path}:5: services.web.x-cloudhp.health: 'healthz' is not")
    path, exc = error(write, "    image: x\n    expose: [80]\n    x-cloudhp: {hosts: [Shop.COM]}\n")
    assert "x-cloudhp.hosts[0]: 'Shop.COM' is not a host name" in exc.message
    path, exc = error(write, "    image: x\n    x-cloudhp: {prot: 80}\n")
    assert exc.message == (
        f"{path}:4: services.web.x-cloudhp.prot: unknown x-cloudhp key 'prot' "
        "(did you mean 'port'?)"
    )
    path, exc = error(write, "    image: x\n    x-cloudhp: {port: '80'}\n")
    assert "x-cloudhp.port: must be an integer, not str '80'" in exc.message


def test_the_file_s_own_context_root_is_kept(write):
    web = service(write, "    image: x\n    expose: [80]\n    environment: [CONTEXT_ROOT=/]\n")
    assert web.environment == (("CONTEXT_ROOT", "/"),)


# --- memory ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "mib"),
    [("512m", 512), ("1g", 1024), ("256M", 256), (268435456, 256), ("1.5g", 1536),
     ("512MiB", 512), ("64 mb", 64), ("2097152k", 2048)],
)  # fmt: skip
def test_memory_sizes_become_mib(write, size, mib):
    web = service(write, f"    image: x\n    mem_limit: {size}\n    mem_reservation: {size}\n")
    assert (web.memory_limit_mb, web.memory_reservation_mb) == (mib, mib)


@pytest.mark.parametrize(
    ("size", "text"),
    [("lots", "'lots' is not a memory size"), ("100k", "is not a whole number of MiB"),
     ("0", "must be above 0"), ("true", "the boolean true is not a memory size"),
     ("4m", "memory limit 4 MiB is below Docker's minimum of 6 MiB")],
)  # fmt: skip
def test_nonsense_memory_sizes_name_the_key(write, size, text):
    path, exc = error(write, f"    image: x\n    mem_limit: {size}\n")
    line_key = f"{path}:4: services.web.mem_limit: " if "minimum" not in text else f"{path}:2:"
    assert exc.message.startswith(line_key)
    assert text in exc.message


def test_a_reservation_above_the_limit_names_the_service_and_both_values(write):
    path, exc = error(write, "    image: x\n    mem_limit: 256m\n    mem_reservation: 1g\n")
    assert exc.message == (
        f"{path}:2: services.web: memory reservation 1024 MiB is above the memory limit 256 MiB"
    )


def test_deploy_resources_memory_counts_and_must_agree_with_mem_limit(write):
    body = (
        "    image: x\n    deploy:\n      resources:\n        limits: {memory: 512M, cpus: 0.5}\n"
    )
    web = service(write, body + "        reservations: {memory: 128M}\n")
    assert (web.memory_limit_mb, web.memory_reservation_mb) == (512, 128)
    assert dict(web.passthrough)["deploy"] == {"resources": {"limits": {"cpus": "0.5"}}}
    path, exc = error(write, body, "    mem_limit: 1g\n")
    assert (
        exc.message == f"{path}:7: services.web.mem_limit: mem_limit says 1024 and deploy says 512"
    )


# --- deploy, restart, scale ------------------------------------------------------------


@pytest.mark.parametrize(
    ("restart", "policy"),
    [("always", {"condition": "any"}), ("unless-stopped", {"condition": "any"}),
     ("on-failure", {"condition": "on-failure"}),
     ("on-failure:3", {"condition": "on-failure", "max_attempts": 3}),
     ("no", {"condition": "none"}), ('"no"', {"condition": "none"})],
)  # fmt: skip
def test_restart_becomes_the_restart_policy(write, restart, policy):
    web = service(write, f"    image: x\n    restart: {restart}\n")
    assert dict(web.passthrough)["deploy"] == {"restart_policy": policy}


def test_a_given_restart_policy_wins_and_nonsense_is_refused(write):
    body = "    image: x\n    restart: always\n    deploy: {restart_policy: {condition: none}}\n"
    assert dict(service(write, body).passthrough)["deploy"] == {
        "restart_policy": {"condition": "none"}
    }
    path, exc = error(write, "    image: x\n    restart: sometimes\n")
    assert exc.message.startswith(f"{path}:4: services.web.restart: restart 'sometimes' is not")


def test_replicas_from_deploy_or_scale(write):
    assert service(write, "    image: x\n    deploy: {replicas: 3}\n").replicas == 3
    assert service(write, "    image: x\n    scale: 2\n").replicas == 2
    assert service(write, "    image: x\n    scale: 2\n    deploy: {replicas: 2}\n").replicas == 2
    path, exc = error(write, "    image: x\n    scale: 2\n    deploy: {replicas: 3}\n")
    assert "services.web.scale: scale says 2 and deploy says 3" in exc.message
    path, exc = error(write, "    image: x\n    deploy: {replicas: -1}\n")
    assert exc.message == f"{path}:4: services.web.deploy.replicas: must be at least 0, not -1"


def test_deploy_keys_pass_through_and_unknown_ones_are_errors(write):
    body = (
        "    image: x\n    deploy:\n      mode: global\n      labels: [team=shop]\n"
        "      placement: {constraints: [node.role == worker]}\n"
        "      update_config: {parallelism: 2}\n"
    )
    web = service(write, body)
    assert dict(web.passthrough)["deploy"] == {
        "mode": "global",
        "labels": {"team": "shop"},
        "placement": {"constraints": ["node.role == worker"]},
        "update_config": {"parallelism": 2},
    }
    path, exc = error(write, "    image: x\n    deploy: {replica: 2}\n")
    assert exc.message == (
        f"{path}:4: services.web.deploy.replica: unknown deploy key 'replica' "
        "(did you mean 'replicas'?)"
    )
    path, exc = error(write, "    image: x\n    deploy: {mode: global, replicas: 2}\n")
    assert "a global service runs one task per node" in exc.message
    path, exc = error(write, "    image: x\n    deploy: {labels: {cloudhp.route: /x}}\n")
    assert "label 'cloudhp.route': the cloudhp. prefix is cloudhp's own" in exc.message
    path, exc = error(write, "    image: x\n    deploy: {resources: {limits: {pids: 5}}}\n")
    assert "deploy.resources.limits.pids: unknown limits key 'pids'" in exc.message


def test_cpus_becomes_a_cpu_limit(write):
    web = service(write, "    image: x\n    cpus: 1.5\n")
    assert dict(web.passthrough)["deploy"] == {"resources": {"limits": {"cpus": "1.5"}}}


# --- build, image, command -------------------------------------------------------------


def test_build_forms(write, tmp_path):
    (tmp_path / "shop/app").mkdir(parents=True)
    (tmp_path / "shop/app/Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "shop/app/Dockerfile.prod").write_text("FROM scratch\n")
    web = service(write, "    build: app\n    image: shop/web:1\n")
    assert web.build == Build((tmp_path / "shop/app").resolve())
    assert web.image == "shop/web:1"
    web = service(
        write, "    build:\n      context: ./app\n      dockerfile: Dockerfile.prod\n"
        "      args: {VERSION: 2, MODE: prod}\n",
    )  # fmt: skip
    assert web.build == Build(
        (tmp_path / "shop/app").resolve(), "Dockerfile.prod", (("VERSION", "2"), ("MODE", "prod"))
    )


def test_build_errors(write, tmp_path):
    path, exc = error(write, "    build: ./nowhere\n")
    assert exc.message.startswith(f"{path}:3: services.web.build: build context ")
    (tmp_path / "shop/empty").mkdir(parents=True)
    path, exc = error(write, "    build: {context: empty}\n")
    assert exc.message.startswith(f"{path}:3: services.web.build.dockerfile: no Dockerfile in")
    path, exc = error(write, "    build: https://github.com/x/y.git\n")
    assert "cloudhp builds local directories only" in exc.message
    path, exc = error(write, "    build: {context: empty, target: prod}\n")
    assert "services.web.build.target: unknown build key 'target'" in exc.message


def test_build_keys_that_change_nothing_are_in_the_warning(write, tmp_path):
    (tmp_path / "shop/Dockerfile").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "shop/Dockerfile").write_text("FROM scratch\n")
    path = write("services:\n  web:\n    build: {context: ., cache_from: [x]}\n")
    assert "services.web.build.cache_from (line 3)" in load_compose(path).warnings[0]


@pytest.mark.parametrize("bad", ["Nginx", "nginx:", "a b", "nginx@sha256:123"])
def test_bad_image_references(write, bad):
    path, exc = error(write, f"    image: '{bad}'\n")
    assert exc.message == f"{path}:3: services.web.image: {bad!r} is not an image reference"


def test_command_and_entrypoint(write):
    web = service(write, "    image: x\n    command: gunicorn -b ':8000' app:app\n"
                  "    entrypoint: [/bin/sh, -c]\n")  # fmt: skip
    assert web.command == ("gunicorn", "-b", ":8000", "app:app")
    assert web.entrypoint == ("/bin/sh", "-c")
    _, exc = error(write, "    image: x\n    command: echo 'unterminated\n")
    assert "services.web.command: cannot split" in exc.message


# --- environment and env_file ----------------------------------------------------------


def test_env_file_is_read_relative_to_the_file_and_environment_wins(write, tmp_path):
    (tmp_path / "shop/conf").mkdir(parents=True)
    (tmp_path / "shop/conf/app.env").write_text(
        "# settings\n\nexport MODE=prod\nNAME=\"the shop\"\nRAW='$literal'\n"
        "LEVEL=info # comment\nUSER=a\n"
    )
    web = service(write, "    image: x\n    env_file: conf/app.env\n    environment: {USER: b}\n")
    assert web.environment == (
        ("MODE", "prod"), ("NAME", "the shop"), ("RAW", "$literal"), ("LEVEL", "info"),
        ("USER", "b"),
    )  # fmt: skip


def test_env_file_errors_name_the_env_file_and_its_line(write, tmp_path):
    (tmp_path / "shop").mkdir(parents=True, exist_ok=True)
    (tmp_path / "shop/app.env").write_text("A=1\nB=${HOME}/x\n")
    _, exc = error(write, "    image: x\n    env_file: [app.env]\n")
    assert exc.message.startswith(f"{tmp_path / 'shop/app.env'}:2: env_file: ")
    assert "(${HOME})" in exc.message and "does not read the bastion's environment" in exc.message
    path, exc = error(write, "    image: x\n    env_file: missing.env\n")
    assert exc.message.startswith(f"{path}:4: services.web.env_file: env_file ")
    assert "missing.env does not exist" in exc.message
    web = service(write, "    image: x\n    env_file: [{path: missing.env, required: false}]\n")
    assert web.environment == ()


# --- volumes, networks, passthrough ----------------------------------------------------


def test_volumes_become_long_syntax_and_bastion_paths_are_refused(write):
    web = service(
        write, "    image: x\n    volumes: ['data:/var/data:ro', /cache, '/srv/logs:/logs']\n",
        "volumes:\n  data: {driver: local}\n",
    )  # fmt: skip
    assert dict(web.passthrough)["volumes"] == [
        {"type": "volume", "source": "data", "target": "/var/data", "read_only": True},
        {"type": "volume", "target": "/cache"},
        {"type": "bind", "source": "/srv/logs", "target": "/logs"},
    ]
    path, exc = error(write, "    image: x\n    volumes: ['./nginx.conf:/etc/nginx/nginx.conf']\n")
    assert exc.message.startswith(f"{path}:4: services.web.volumes[0]: './nginx.conf' is a path")
    assert "COPY the files into the image" in (exc.hint or "")
    path, exc = error(write, "    image: x\n    volumes: [{type: bind, source: ~/x, target: /x}]\n")
    assert "services.web.volumes[0].source: '~/x' is a path on the bastion" in exc.message
    path, exc = error(write, "    image: x\n", "volumes:\n  data: {external: true}\n")
    assert exc.message.startswith(f"{path}:5: volumes.data.external: external: cloudhp creates")


def test_network_aliases_are_kept_on_the_project_network(write):
    web = service(write, "    image: x\n    networks:\n      default: {aliases: [api, backend]}\n")
    assert web.aliases == ("api", "backend")
    assert service(write, "    image: x\n    networks: [default]\n").aliases == ()


def test_swarm_keys_pass_through_unchanged(write):
    web = service(
        write, "    image: x\n    user: '1000'\n    working_dir: /app\n    hostname: web\n"
        "    labels: {tier: front}\n    stop_grace_period: 30s\n"
        "    healthcheck: {test: [CMD, curl, -f, http://localhost/], interval: 10s}\n",
    )  # fmt: skip
    assert web.passthrough == (
        ("healthcheck", {"test": ["CMD", "curl", "-f", "http://localhost/"], "interval": "10s"}),
        ("hostname", "web"), ("labels", {"tier": "front"}), ("stop_grace_period", "30s"),
        ("user", "1000"), ("working_dir", "/app"),
    )  # fmt: skip
    assert all(type(v) in (dict, str) for _, v in web.passthrough)  # plain, for the dumper
