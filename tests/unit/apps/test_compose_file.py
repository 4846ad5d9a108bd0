"""A compose file as a whole: project name, parsing, references, start order, warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudhp.apps.compose import directory_project, load_compose
from cloudhp.apps.model import Build, PublishedPort, Service
from cloudhp.errors import ExitStatus, UsageError

GUIDE = """
version: "3.8"
services:
  web:
    build: ./web
    environment:
      - DATABASE_URL=postgres://shop:s3cret@database:5432/shop
      - DEBUG=no
    expose:
      - "8000"
    ports:
      - 8000:8000
    links:
      - db:database
    restart: always
    container_name: shop_web
  db:
    image: postgres:15
    environment:
      POSTGRES_USER: shop
      POSTGRES_PASSWORD: s3cret
    mem_limit: 512m
    mem_reservation: 256m
    volumes:
      - db-data:/var/lib/postgresql/data
    ports:
      - "5432:5432"
volumes:
  db-data:
"""


def fail(path: Path, project: str | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        load_compose(path, project)
    assert caught.value.exit_status == ExitStatus.USAGE
    return caught.value.message


def test_a_deployment_guide_compose_file_translates_faithfully(write, tmp_path):
    path = write(GUIDE)
    (tmp_path / "shop/web").mkdir()
    (tmp_path / "shop/web/Dockerfile").write_text("FROM debian:bookworm\n")
    app = load_compose(path)
    assert app.project == "shop"
    assert app.source == path.resolve()
    db, web = app.services  # the database first: web links to it
    assert db == Service(
        project="shop",
        name="db",
        image="postgres:15",
        environment=(("POSTGRES_USER", "shop"), ("POSTGRES_PASSWORD", "s3cret")),
        memory_reservation_mb=256,
        memory_limit_mb=512,
        aliases=("database",),
        published_ports=(PublishedPort(5432, 5432),),
        passthrough=(
            (
                "volumes",
                [{"type": "volume", "source": "db-data", "target": "/var/lib/postgresql/data"}],
            ),
        ),
    )
    assert web == Service(
        project="shop",
        name="web",
        image=None,
        build=Build(context=(tmp_path / "shop/web").resolve()),
        environment=(
            ("DATABASE_URL", "postgres://shop:s3cret@database:5432/shop"),
            ("DEBUG", "no"),  # YAML 1.2, as compose reads it: not False
            ("CONTEXT_ROOT", "/shop-web"),
        ),
        container_port=8000,  # the exposed port; its ports entry is the ingress's
        depends_on=("db",),
        passthrough=(("deploy", {"restart_policy": {"condition": "any"}}),),
    )
    assert not db.routed and web.routed
    assert (web.public_name, web.swarm_name, web.context_root) == (
        "shop-web",
        "shop_web",
        "/shop-web",
    )
    assert app.warnings == (
        f"{path}: not deployed, Swarm does not apply these keys and cloudhp has no faithful "
        "translation for them: services.web.container_name (line 15)",
    )


@pytest.mark.parametrize(
    ("directory", "project"),
    [("shop", "shop"), ("My_Shop", "my-shop"), ("_x.y z", "xyz"), ("Été", "t")],
)
def test_the_directory_name_is_normalised_as_docker_compose_does(directory, project):
    assert directory_project(Path("/srv") / directory) == project


def test_project_name_from_name_then_flag_then_directory(write):
    body = "services:\n  api:\n    image: nginx\n"
    path = write(body, "My_Store/docker-compose.yml")
    assert load_compose(path).project == "my-store"
    assert load_compose(path, "other").project == "other"
    named = write("name: fixed\n" + body, "My_Store/named.yml")
    assert load_compose(named, "other").project == "fixed"


def test_a_directory_name_with_nothing_usable_needs_a_project(write):
    path = write("services:\n  api:\n    image: nginx\n", "__/docker-compose.yml")
    assert "cannot derive a project name from the directory '__'" in fail(path)
    assert load_compose(path, "shop").project == "shop"


def test_the_public_name_rule_names_the_rule_and_the_name(write):
    path = write("services:\n  Api_1:\n    image: nginx\n")
    message = fail(path)
    assert message.startswith(f"{path}:2: services.Api_1: the public name 'shop-Api_1'")
    assert "begins with a lower-case letter" in message and "at most 32" in message
    long = write("services:\n  a-very-long-service-name:\n    image: nginx\n", "shop/l.yml")
    message = fail(long, "project-x")
    assert "'project-x-a-very-long-service-name' is 34 characters long" in message


def test_an_invalid_project_name_is_called_a_project_name(write):
    message = fail(write("name: Shop\nservices:\n  api:\n    image: nginx\n"))
    assert "invalid project name 'Shop'" in message and "'Shop-api'" in message


def test_malformed_yaml_names_file_and_line(write):
    path = write("services:\n  web:\n    image: nginx\n   ports: [1\n")
    message = fail(path)
    assert message.startswith(f"{path}:4: malformed YAML")


def test_a_duplicate_key_is_an_error_naming_both_lines(write):
    path = write("services:\n  web:\n    image: nginx\n    image: httpd\n")
    message = fail(path)
    assert message.startswith(f"{path}:4: malformed YAML")
    assert "duplicate key 'image' (first on line 3)" in message


def test_an_unknown_service_key_names_file_line_key_and_close_matches(write):
    path = write("services:\n  web:\n    image: nginx\n    enviroment:\n      A: b\n")
    message = fail(path)
    assert message == (
        f"{path}:4: services.web.enviroment: unknown key 'enviroment' (did you mean 'environment'?)"
    )


def test_an_unknown_top_level_key_is_an_error_and_x_keys_are_extensions(write):
    path = write("servics:\n  web:\n    image: nginx\n")
    assert fail(path) == f"{path}:1: servics: unknown key 'servics' (did you mean 'services'?)"
    ok = write("version: '2'\nx-common: &c {image: nginx}\nservices:\n  web: *c\n", "shop/x.yml")
    assert [s.image for s in load_compose(ok).services] == ["nginx"]


def test_files_that_are_not_compose_files(write, tmp_path):
    assert "no such file" in fail(tmp_path / "missing.yml")
    assert "the file is empty" in fail(write("# nothing\n"))
    assert "must be a mapping, not a list" in fail(write("- a\n", "shop/list.yml"))
    assert "defines no services" in fail(write("services: {}\n", "shop/none.yml"))
    assert "needs an image or a build" in fail(write("services:\n  web: {}\n", "shop/b.yml"))


@pytest.mark.parametrize("value", ["${DB_PASSWORD}", "pre$HOME", "$", "a${X:-d}"])
def test_interpolation_is_refused_because_cloudhp_reads_no_environment(write, value):
    path = write(f"services:\n  web:\n    image: nginx\n    environment:\n      P: '{value}'\n")
    message = fail(path)
    assert message.startswith(f"{path}:5: services.web.environment.P: ")
    assert "does not read the bastion's environment" in message
    assert "passes values literally" in message


def test_a_doubled_dollar_is_a_literal_dollar(write):
    path = write("services:\n  web:\n    image: nginx\n    environment: ['P=a$$b']\n")
    assert load_compose(path).services[0].environment == (("P", "a$b"),)


def test_an_environment_name_without_value_is_refused(write):
    path = write("services:\n  web:\n    image: nginx\n    environment: [TOKEN]\n")
    message = fail(path)
    assert message.startswith(f"{path}:4: services.web.environment[0]: 'TOKEN' has no value")
    path = write("services:\n  web:\n    image: nginx\n    environment:\n      T:\n", "shop/m.yml")
    assert fail(path).startswith(f"{path}:5: services.web.environment.T: T has no value")


def test_start_order_puts_dependencies_first_and_keeps_file_order_otherwise(write):
    path = write(
        """
        services:
          web: {image: nginx, depends_on: [api, cache]}
          worker: {image: busybox}
          api: {image: api, depends_on: {db: {condition: service_healthy}}}
          cache: {image: redis, links: [db]}
          db: {image: postgres}
        """
    )
    app = load_compose(path)
    assert [s.name for s in app.services] == ["db", "api", "cache", "web", "worker"]
    by_name = {s.name: s for s in app.services}
    assert by_name["web"].depends_on == ("api", "cache")
    assert by_name["cache"].depends_on == ("db",)
    assert by_name["db"].aliases == ()  # a link without alias needs none


def test_a_dependency_cycle_is_an_error_naming_it(write):
    path = write(
        """
        services:
          a: {image: x, depends_on: [b]}
          b: {image: x, links: ["c:see"]}
          c: {image: x, depends_on: [a]}
        """
    )
    message = fail(path)
    assert "services need each other in a cycle: a -> b -> c -> a" in message
    assert message.startswith(f"{path}:4: services.c.depends_on[0]")


def test_references_to_missing_services_networks_and_volumes(write):
    path = write("services:\n  web: {image: x, depends_on: [dbb]}\n  db: {image: y}\n")
    assert "depends on 'dbb', which is not a service (did you mean 'db'?)" in fail(path)
    path = write("services:\n  web: {image: x, links: ['cache:c']}\n", "shop/l.yml")
    assert fail(path).startswith(f"{path}:2: services.web.links[0]: links to 'cache'")
    path = write("services:\n  web: {image: x, networks: [front]}\n", "shop/n.yml")
    assert "network 'front' is not declared" in fail(path)
    path = write("services:\n  web: {image: x, volumes: ['data:/d']}\n", "shop/v.yml")
    message = fail(path)
    assert message.startswith(f"{path}:2: services.web.volumes[0]: volume 'data' is not declared")


def test_two_services_cannot_claim_one_host_name_or_host_port(write):
    path = write(
        """
        services:
          a: {image: x, expose: [80], x-cloudhp: {hosts: [shop.example.com]}}
          b: {image: x, expose: [80], x-cloudhp: {hosts: [shop.example.com]}}
        """
    )
    assert "host name 'shop.example.com' is already routed to 'a'" in fail(path)
    path = write(
        "services:\n  a: {image: x, ports: ['9000:9000', '22:22']}\n"
        "  b: {image: x, ports: ['2222:22', '9000:9000']}\n",
        "shop/p.yml",
    )
    assert "host port 9000/tcp is already published by 'a'" in fail(path)


def test_one_warning_lists_every_ignored_key_with_service_and_line(write):
    path = write(
        """
        services:
          web:
            image: nginx
            container_name: web
            privileged: true
            deploy: {endpoint_mode: vip}
            networks:
              front: {ipv4_address: 10.0.0.5}
          db:
            image: postgres
            cap_add: [NET_ADMIN]
            network_mode: host
        networks:
          front: {}
        configs:
          site: {file: ./site.conf}
        """
    )
    app = load_compose(path)
    assert app.warnings == (
        f"{path}: not deployed, Swarm does not apply these keys and cloudhp has no faithful "
        "translation for them: services.web.container_name (line 4), "
        "services.web.privileged (line 5), services.web.deploy.endpoint_mode (line 6), "
        "services.web.networks.front.ipv4_address (line 8), services.db.cap_add (line 11), "
        "services.db.network_mode (line 12), networks.front (line 14), configs.site (line 16)",
    )


def test_a_file_with_nothing_to_ignore_has_no_warning(write):
    assert load_compose(write("services:\n  web: {image: nginx}\n")).warnings == ()


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("extends: {service: base}", "copy the extended service"),
        ("volumes_from: [db]", "same named volume"),
        ("secrets: [token]", "does not carry secrets"),
        ("configs: [site]", "does not carry configs"),
    ],
)
def test_keys_whose_loss_would_break_the_app_are_refused(write, key, hint):
    path = write(f"services:\n  web:\n    image: nginx\n    {key}\n")
    with pytest.raises(UsageError) as caught:
        load_compose(path)
    name = key.split(":")[0]
    assert caught.value.message == f"{path}:4: services.web.{name}: {name} is not supported"
    assert hint in (caught.value.hint or "")


def test_yaml_1_2_scalars_as_docker_compose_reads_them(write):
    path = write(
        """
        services:
          web:
            image: nginx
            ports: [22:22, "8080:80"]
            environment: {ON: on, DATE: 2024-01-01, OCT: 010, YES: yes, T: true, F: 1.5}
        """
    )
    web = load_compose(path).services[0]
    assert web.environment == (
        ("ON", "on"), ("DATE", "2024-01-01"), ("OCT", "10"), ("YES", "yes"), ("T", "true"),
        ("F", "1.5"),
    )  # fmt: skip
    assert web.published_ports == (PublishedPort(22, 22), PublishedPort(8080, 80))


def test_merge_keys_let_a_service_override_what_it_merges(write):
    path = write(
        """
        x-base: &base
          image: nginx
          environment: {A: "1"}
        services:
          web:
            <<: *base
            image: httpd
        """
    )
    web = load_compose(path).services[0]
    assert (web.image, web.environment) == ("httpd", (("A", "1"),))
