"""The stack file for `docker stack deploy -c -`, compared exactly."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from cloudhp.apps.compose import load_compose
from cloudhp.apps.model import Application, Build, PublishedPort, Service
from cloudhp.commands.stack import render_stack, service_spec_hashes

WEB = Service(
    project="shop",
    name="web",
    image=None,
    build=Build(Path("/src/shop/web")),
    environment=(("GREETING", "costs $5"), ("CONTEXT_ROOT", "/shop-web")),
    container_port=8000,
    hosts=("shop.example.com", "www.example.com"),
    replicas=2,
    memory_limit_mb=256,
    health_path="/shop-web/healthz",
    command=("gunicorn", "app:app"),
    depends_on=("db",),
)
DB = Service(
    project="shop",
    name="db",
    image="postgres:15",
    environment=(("POSTGRES_PASSWORD", "s3cret"),),
    memory_reservation_mb=256,
    memory_limit_mb=512,
    aliases=("database",),
    published_ports=(PublishedPort(5432, 5432),),
    passthrough=(
        ("deploy", {"placement": {"constraints": ["node.role == worker"]},
                    "labels": {"team": "shop"}}),
        ("user", "postgres"),
        ("volumes", [{"type": "volume", "source": "db-data",
                      "target": "/var/lib/postgresql/data"}]),
    ),
)  # fmt: skip
APP = Application("shop", (DB, WEB))
IMAGES = {"web": "10.0.0.5:5000/shop/web:0f3c2a", "db": "postgres:15"}

EXPECTED = """\
networks:
  cloudhp-ingress:
    external: true
  default:
    driver: overlay
services:
  db:
    deploy:
      endpoint_mode: dnsrr
      labels:
        cloudhp.project: shop
        cloudhp.public-name: shop-db
        cloudhp.service: db
        cloudhp.spec: {db_hash}
        team: shop
      placement:
        constraints:
        - node.role == worker
      replicas: 1
      resources:
        limits:
          memory: 512M
        reservations:
          memory: 256M
      restart_policy:
        condition: any
      rollback_config:
        order: stop-first
        parallelism: 1
      update_config:
        delay: 2s
        failure_action: rollback
        monitor: 10s
        order: stop-first
        parallelism: 1
    environment:
    - POSTGRES_PASSWORD=s3cret
    image: postgres:15
    networks:
      default:
        aliases:
        - database
    ports:
    - mode: host
      protocol: tcp
      published: 5432
      target: 5432
    user: postgres
    volumes:
    - source: db-data
      target: /var/lib/postgresql/data
      type: volume
  web:
    command:
    - gunicorn
    - app:app
    deploy:
      endpoint_mode: dnsrr
      labels:
        cloudhp.health: /shop-web/healthz
        cloudhp.hosts: shop.example.com,www.example.com
        cloudhp.port: '8000'
        cloudhp.project: shop
        cloudhp.public-name: shop-web
        cloudhp.route: /shop-web
        cloudhp.service: web
        cloudhp.spec: {web_hash}
      replicas: 2
      resources:
        limits:
          memory: 256M
      restart_policy:
        condition: any
      rollback_config:
        order: start-first
        parallelism: 1
      update_config:
        delay: 2s
        failure_action: rollback
        monitor: 10s
        order: start-first
        parallelism: 1
    environment:
    - GREETING=costs $$5
    - CONTEXT_ROOT=/shop-web
    image: 10.0.0.5:5000/shop/web:0f3c2a
    networks:
      cloudhp-ingress: {{}}
      default: {{}}
version: '3.8'
volumes:
  db-data: {{}}
"""


def test_the_stack_file_exactly():
    hashes = service_spec_hashes(APP, IMAGES, "cloudhp-ingress")
    assert sorted(hashes) == ["shop_db", "shop_web"]
    assert all(len(h) == 12 and int(h, 16) >= 0 for h in hashes.values())
    expected = EXPECTED.format(db_hash=hashes["shop_db"], web_hash=hashes["shop_web"])
    assert render_stack(APP, IMAGES, "cloudhp-ingress") == expected


def test_rendering_is_deterministic_and_independent_of_service_order():
    first = render_stack(APP, IMAGES, "cloudhp-ingress")
    assert render_stack(Application("shop", (WEB, DB)), IMAGES, "cloudhp-ingress") == first


def test_the_spec_hash_changes_only_for_the_service_that_changed():
    before = service_spec_hashes(APP, IMAGES, "ingress")
    changed_env = Application("shop", (DB, replace(WEB, environment=(("A", "b"),))))
    after = service_spec_hashes(changed_env, IMAGES, "ingress")
    assert after["shop_db"] == before["shop_db"] and after["shop_web"] != before["shop_web"]
    new_image = service_spec_hashes(APP, {**IMAGES, "db": "postgres:16"}, "ingress")
    assert new_image["shop_db"] != before["shop_db"]
    assert new_image["shop_web"] == before["shop_web"]


def test_the_spec_label_is_the_hash_of_the_rest_of_the_spec():
    rendered = yaml.safe_load(render_stack(APP, IMAGES, "ingress"))
    hashes = service_spec_hashes(APP, IMAGES, "ingress")
    for service in APP.services:
        labels = rendered["services"][service.name]["deploy"]["labels"]
        assert labels["cloudhp.spec"] == hashes[service.swarm_name]


def test_image_only_services_may_be_left_out_of_images_and_unbuilt_ones_may_not():
    text = render_stack(Application("shop", (DB,)), {}, "ingress")
    assert "image: postgres:15" in text
    assert "ingress" not in text  # nothing routed: the ingress network is not declared
    with pytest.raises(ValueError, match="no image for service 'web'"):
        render_stack(APP, {"db": "postgres:15"}, "ingress")


def test_given_update_settings_and_global_mode_are_kept():
    service = Service(
        "shop", "agent", "agent:1", replicas=3,
        passthrough=(("deploy", {"mode": "global", "update_config": {"parallelism": 2},
                                 "restart_policy": {"condition": "on-failure"}}),),
    )  # fmt: skip
    deploy = yaml.safe_load(render_stack(Application("shop", (service,)), {}, "i"))["services"][
        "agent"
    ]["deploy"]
    assert "replicas" not in deploy and deploy["mode"] == "global"
    assert deploy["update_config"]["parallelism"] == 2
    assert deploy["update_config"]["order"] == "start-first"
    assert deploy["restart_policy"] == {"condition": "on-failure"}


def test_a_compose_file_renders_end_to_end(tmp_path):
    (tmp_path / "shop/web").mkdir(parents=True)
    (tmp_path / "shop/web/Dockerfile").write_text("FROM debian:bookworm\n")
    compose = tmp_path / "shop/docker-compose.yml"
    compose.write_text(
        textwrap.dedent(
            """\
            services:
              web:
                build: ./web
                environment: ["PRICE=$$5"]
                expose: ["8000"]
                links: ["db:database"]
              db:
                image: redis:7
                mem_limit: 128m
            """
        )
    )
    app = load_compose(compose)
    rendered = yaml.safe_load(render_stack(app, {"web": "reg/shop/web:1"}, "cloudhp-ingress"))
    web, db = rendered["services"]["web"], rendered["services"]["db"]
    assert web["environment"] == ["PRICE=$$5", "CONTEXT_ROOT=/shop-web"]  # $$: stack deploy
    assert web["networks"] == {"default": {}, "cloudhp-ingress": {}}
    assert db["networks"] == {"default": {"aliases": ["database"]}}
    assert db["deploy"]["resources"] == {"limits": {"memory": "128M"}}
    assert web["deploy"]["labels"]["cloudhp.route"] == "/shop-web"
    assert "cloudhp.route" not in db["deploy"]["labels"]
