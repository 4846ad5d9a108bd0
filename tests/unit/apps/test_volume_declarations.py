"""Cinder volumes declared in compose files: what they become, and every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudhp.apps.compose import load_compose
from cloudhp.apps.definition import load_definition
from cloudhp.apps.model import Application, BlockVolume
from cloudhp.commands.stack import render_stack
from cloudhp.errors import UsageError

WEB = "services:\n  web:\n    image: x\n    volumes: ['counter:/srv/data']\n"


def load(write, text: str) -> Application:
    return load_compose(write(text))


def refused(write, text: str) -> tuple[Path, UsageError]:
    path = write(text)
    with pytest.raises(UsageError) as caught:
        load_compose(path)
    return path, caught.value


def test_a_sized_volume_becomes_a_bind_mount_of_its_data_placed_on_its_node(write) -> None:
    app = load(write, WEB + "volumes:\n  counter: {driver_opts: {size: '2'}}\n")
    (web,) = app.services
    assert app.block_volumes == (BlockVolume("shop", "counter", 2),)
    assert web.block_volumes == app.block_volumes
    extra = dict(web.passthrough)
    assert extra["volumes"] == [
        {"type": "bind", "source": "/var/lib/cloudhp/volumes/shop_counter/data",
         "target": "/srv/data"}
    ]  # fmt: skip
    assert extra["deploy"] == {
        "placement": {"constraints": ["node.labels.cloudhp.volume.shop_counter==true"]},
        "update_config": {"order": "stop-first"},
        "rollback_config": {"order": "stop-first"},
    }
    stack = render_stack(app, {"web": "x"}, "proxy")
    assert "volumes:\n  counter" not in stack  # no Swarm volume is made for it
    assert "order: stop-first" in stack and "start-first" not in stack


def test_x_cloudhp_options_and_existing_constraints_are_kept(write) -> None:
    text = (
        "services:\n  web:\n    image: x\n"
        "    volumes: [{type: volume, source: counter, target: /d, read_only: true}]\n"
        "    deploy: {placement: {constraints: ['node.role==worker']}}\n"
        "volumes:\n  counter:\n    x-cloudhp: {size: 1, volume_type: ssd, filesystem: ext4}\n"
    )
    (web,) = load(write, text).services
    assert web.block_volumes == (BlockVolume("shop", "counter", 1, "ssd", "ext4"),)
    extra = dict(web.passthrough)
    assert extra["volumes"][0]["read_only"] is True
    assert extra["deploy"]["placement"]["constraints"] == [
        "node.role==worker", "node.labels.cloudhp.volume.shop_counter==true"
    ]  # fmt: skip


def test_a_volume_without_size_stays_a_plain_local_volume(write) -> None:
    (web,) = load(write, WEB + "volumes:\n  counter: {driver: local}\n").services
    assert web.block_volumes == ()
    assert dict(web.passthrough)["volumes"][0]["type"] == "volume"


@pytest.mark.parametrize(
    ("top", "line", "start", "hint"),
    [
        ("  counter: {driver_opts: {size: 0}}\n", 6, "volumes.counter.driver_opts.size: 0 is "
         "not a volume size", "from 1 to 16384"),
        ("  counter: {x-cloudhp: {size: 1g}}\n", 6, "volumes.counter.x-cloudhp.size: '1g' is "
         "not a volume size", "whole number of GiB"),
        ("  counter: {driver_opts: {volume_type: ssd}}\n", 6,
         "volumes.counter.driver_opts.volume_type: a Cinder volume needs a size", "size: N"),
        ("  counter: {driver: cinder}\n", 6, "volumes.counter: a Cinder volume needs a size",
         "driver_opts"),
        ("  counter: {driver_opts: {size: 1, filesystem: xfs}}\n", 6,
         "volumes.counter.driver_opts.filesystem: filesystem 'xfs' is not supported", "ext4"),
        ("  counter: {driver_opts: {sise: 1}}\n", 6,
         "volumes.counter.driver_opts.sise: unknown driver_opts key 'sise'", None),
        ("  counter: {driver_opts: {size: 1}, x-cloudhp: {size: 1}}\n", 6,
         "volumes.counter.x-cloudhp.size: size is given in driver_opts and x-cloudhp", None),
        ("  counter: {driver: rexray}\n", 6, "volumes.counter.driver: driver: cloudhp creates",
         "driver_opts: {size: N}"),
    ],
)  # fmt: skip
def test_bad_declarations_name_the_line_and_key(write, top, line, start, hint) -> None:
    path, exc = refused(write, WEB + "volumes:\n" + top)
    assert exc.message.startswith(f"{path}:{line}: {start}"), exc.message
    if hint:
        assert hint in (exc.hint or "")


def test_a_cinder_volume_name_must_fit_the_naming_rule(write) -> None:
    text = WEB.replace("counter", "my_data") + "volumes:\n  my_data: {driver_opts: {size: 1}}\n"
    path, exc = refused(write, text)
    assert exc.message.startswith(f"{path}:6: volumes.my_data: volume name 'my_data'")
    assert "'my-data'" in (exc.hint or "")


@pytest.mark.parametrize(
    ("keys", "why"),
    [
        ("    deploy: {replicas: 2}\n", "with 2 replicas"),
        ("    deploy: {mode: global}\n", "global"),
    ],
)
def test_a_block_volume_holds_one_writer(write, keys, why) -> None:
    path, exc = refused(write, WEB + keys + "volumes:\n  counter: {driver_opts: {size: 1}}\n")
    assert exc.message.startswith(f"{path}:4: services.web.volumes[0]: service web mounts")
    assert why in exc.message and "one writer" in exc.message
    assert exc.exit_status == 2


def test_two_services_cannot_share_a_block_volume(write) -> None:
    text = WEB + "  api:\n    image: y\n    volumes: ['counter:/d']\n"
    path, exc = refused(write, text + "volumes:\n  counter: {driver_opts: {size: 1}}\n")
    assert exc.message.startswith(f"{path}:7: services.api.volumes[0]: Cinder volume 'counter' "
                                  "is already mounted by service 'web'")  # fmt: skip


# --- service definitions ---------------------------------------------------------------


def definition(write, body: str, **flags: object):
    path = write('{"container-tag": "x:1", "container-port": 8080' + body + "}", "api.json")
    return path, load_definition("api", "app", path, flags)


def test_a_definition_mounts_its_cinder_volumes_the_same_way(write) -> None:
    body = ', "volumes": [{"name": "data", "size": 3, "target": "/var/lib/api"}]'
    _, api = definition(write, body)
    assert api.block_volumes == (BlockVolume("app", "data", 3),)
    extra = dict(api.passthrough)
    assert extra["volumes"] == [
        {"type": "bind", "source": "/var/lib/cloudhp/volumes/app_data/data",
         "target": "/var/lib/api"}
    ]  # fmt: skip
    assert extra["deploy"]["placement"] == {
        "constraints": ["node.labels.cloudhp.volume.app_data==true"]
    }


@pytest.mark.parametrize(
    ("body", "start", "flags"),
    [
        (', "volumes": [{"name": "data", "target": "/d"}]', "volumes[0]: a volume needs size", {}),
        (', "volumes": [{"name": "data", "size": 1, "target": "d"}]',
         "volumes[0].target: 'd' is not an absolute path", {}),
        (', "volumes": [{"name": "data", "size": 1, "target": "/d", "fs": "xfs"}]',
         "volumes[0].fs: unknown volume key 'fs'", {}),
        (', "replicas": 2, "volumes": [{"name": "data", "size": 1, "target": "/d"}]',
         "volumes[0]: service api mounts Cinder volume 'data' with 2 replicas", {}),
        (', "volumes": [{"name": "data", "size": 1, "target": "/d"}]',
         "volumes[0]: service api mounts Cinder volume 'data' with 3 replicas", {"replicas": "3"}),
    ],
)  # fmt: skip
def test_bad_definition_volumes_are_refused(write, body, start, flags) -> None:
    with pytest.raises(UsageError) as caught:
        definition(write, body, **flags)
    assert f"api.json:1: {start}" in caught.value.message, caught.value.message
