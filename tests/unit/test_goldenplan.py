"""The golden image's pure parts: the inputs hash, the name, parameters and verdicts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cloudhp.context import Resolved
from cloudhp.images import BuiltImage
from cloudhp.steps.golden import read_template
from cloudhp.steps.golden_plan import (
    GOLDEN_TAG,
    HASH_PROPERTY,
    SCRIPT_FAILURE,
    SNAPSHOT_TIMEOUT,
    GoldenInputs,
    console_tail,
    existing_image_action,
    existing_stack_action,
    golden_image_name,
    golden_inputs,
    idle_seconds,
    stack_output,
    stack_parameters,
)

SAMPLE = BuiltImage("sampleapp", "cloudhp/sampleapp:aaa", "sha256:111", built=False)
PROXY = BuiltImage("haproxy", "cloudhp/haproxy:bbb", "sha256:222", built=True)

RESOLVED = Resolved(
    flavor_id="flavor-1",
    flavor_vcpus=2,
    flavor_ram_mb=2048,
    image_id="base-1",
    network_id="net-1",
    network_name="private",
    subnet_id="sub-1",
    subnet_cidr="10.0.0.0/24",
    external_network_id="ext-1",
    external_network_name="public",
    bastion_address="10.0.0.5",
)


def inputs(**changes: object) -> GoldenInputs:
    base = golden_inputs("template text", "base-1", "flavor-1", [SAMPLE, PROXY])
    return replace(base, **changes)  # type: ignore[arg-type]


def test_name_is_prefix_and_twelve_hex_digits() -> None:
    name = inputs().name
    assert name.startswith("cloudhp-golden-")
    digest = name.removeprefix("cloudhp-golden-")
    assert len(digest) == 12 and int(digest, 16) >= 0
    assert golden_image_name(digest) == name


def test_same_inputs_same_name_whatever_the_image_order() -> None:
    a = golden_inputs("t", "base-1", "flavor-1", [SAMPLE, PROXY])
    b = golden_inputs("t", "base-1", "flavor-1", [PROXY, SAMPLE, SAMPLE])
    assert a.digest() == b.digest()
    assert a.docker_images == ("cloudhp/haproxy:bbb@sha256:222", "cloudhp/sampleapp:aaa@sha256:111")


def test_only_the_built_flag_of_an_image_does_not_count() -> None:
    rebuilt_flag = replace(SAMPLE, built=True)
    a = golden_inputs("t", "b", "f", [SAMPLE])
    assert a.digest() == golden_inputs("t", "b", "f", [rebuilt_flag]).digest()


@pytest.mark.parametrize(
    "changes",
    [
        {"template": "template text "},
        {"base_image_id": "base-2"},
        {"flavor_id": "flavor-2"},
        {"docker_images": ("cloudhp/sampleapp:aaa@sha256:999",)},
        {"docker_images": ()},
        {"version": "999"},
    ],
)
def test_every_input_changes_the_name(changes: dict[str, object]) -> None:
    assert inputs(**changes).name != inputs().name


def test_a_new_image_id_under_the_same_tag_changes_the_name() -> None:
    same_tag = replace(SAMPLE, id="sha256:333")
    assert (
        golden_inputs("t", "b", "f", [same_tag]).digest()
        != golden_inputs("t", "b", "f", [SAMPLE]).digest()
    )


def test_the_real_template_is_an_input() -> None:
    text = read_template()
    assert "OS::Heat::WaitCondition" in text
    assert golden_inputs(text, "b", "f", []).digest() != golden_inputs("", "b", "f", []).digest()


def test_stack_parameters_are_strings_in_the_template_s_terms() -> None:
    params = stack_parameters(
        RESOLVED,
        ["http://10.0.0.5:4000/tok1/sampleapp.tar", "http://10.0.0.5:4000/tok2/haproxy.tar"],
        build_id="abcdef123456",
        cluster="demo",
        key_name="demo-key",
        security_groups=["demo-sg-ssh"],
        timeout=900,
    )
    assert params == {
        "image": "base-1",
        "flavor": "flavor-1",
        "key_name": "demo-key",
        "network": "net-1",
        "security_groups": "demo-sg-ssh",
        "image_urls": "http://10.0.0.5:4000/tok1/sampleapp.tar,"
        "http://10.0.0.5:4000/tok2/haproxy.tar",
        "timeout": "900",
        "build_id": "abcdef123456",
        "cluster": "demo",
    }
    assert all(isinstance(v, str) for v in params.values())


def test_stack_parameters_without_key_or_groups_are_empty_strings() -> None:
    params = stack_parameters(RESOLVED, [], build_id="x", cluster="demo")
    assert params["key_name"] == ""
    assert params["security_groups"] == ""
    assert params["image_urls"] == ""


def test_stack_parameters_match_the_template_parameters() -> None:
    from openstack.orchestration.util import template_format

    template = template_format.parse(read_template())
    params = stack_parameters(RESOLVED, [], build_id="x", cluster="demo")
    assert set(params) == set(template["parameters"])


@pytest.mark.parametrize("url", ["http://h/a,b", "http://h/a b"])
def test_a_url_that_would_break_the_list_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        stack_parameters(RESOLVED, [url], build_id="x", cluster="demo")


@pytest.mark.parametrize(
    ("status", "build_id", "expected"),
    [
        ("CREATE_COMPLETE", "h1", "reuse"),
        ("CREATE_COMPLETE", "h0", "delete"),  # another build's stack
        ("CREATE_COMPLETE", None, "delete"),
        ("CREATE_IN_PROGRESS", "h1", "delete"),  # its artifact URLs died with its run
        ("CREATE_FAILED", "h1", "delete"),
        ("ROLLBACK_COMPLETE", "h1", "delete"),
        ("DELETE_FAILED", "h1", "delete"),
        ("DELETE_IN_PROGRESS", "h1", "wait-delete"),
    ],
)
def test_existing_stack_action(status: str, build_id: str | None, expected: str) -> None:
    assert existing_stack_action(status, build_id, "h1") == expected


OURS = {HASH_PROPERTY: "h1"}


@pytest.mark.parametrize(
    ("status", "tags", "properties", "idle", "expected"),
    [
        ("active", [GOLDEN_TAG], OURS, 0, "reuse"),
        ("active", [], OURS, 0, "adopt"),  # interrupted between snapshot and tag
        ("active", [GOLDEN_TAG], {HASH_PROPERTY: "h0"}, 0, "foreign"),
        ("active", [GOLDEN_TAG], {}, 0, "foreign"),
        ("queued", [], {}, 0, "foreign"),
        ("queued", [], OURS, 10, "wait"),
        ("saving", [], OURS, SNAPSHOT_TIMEOUT - 1, "wait"),
        ("saving", [], OURS, SNAPSHOT_TIMEOUT + 1, "delete"),  # stuck: its builder is gone
        ("killed", [], OURS, 0, "delete"),
        ("deactivated", [GOLDEN_TAG], OURS, 0, "delete"),
    ],
)
def test_existing_image_action(
    status: str, tags: list[str], properties: dict[str, str], idle: float, expected: str
) -> None:
    assert existing_image_action(status, tags, properties, "h1", idle) == expected


def test_idle_seconds() -> None:
    now = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
    assert idle_seconds("2024-05-01T10:00:00Z", now) == 30
    assert idle_seconds("2024-05-01T10:00:00", now) == 30
    assert idle_seconds("2024-05-01T10:00:00.000000+00:00", now) == 30
    assert idle_seconds("2024-05-01T11:00:00Z", now) == 0  # clock skew: never negative
    assert idle_seconds(None, now) == 0
    assert idle_seconds("garbage", now) == 0


def test_stack_output() -> None:
    outputs = [
        {"output_key": "server_id", "output_value": "srv-1", "description": "..."},
        {"output_key": "images", "output_value": '{"1": "a b"}'},
    ]
    assert stack_output(outputs, "server_id") == "srv-1"
    assert stack_output(outputs, "first_address") is None
    assert stack_output(None, "server_id") is None


def test_console_tail_prefers_the_builder_s_own_lines() -> None:
    console = "\n".join(
        ["boot noise"] * 20
        + ["cloudhp-golden: loaded sampleapp.tar", "cloudhp-golden: FAILED while x", "", "end"]
    )
    assert console_tail(console) == (
        "cloudhp-golden: loaded sampleapp.tar\ncloudhp-golden: FAILED while x"
    )
    assert console_tail("a\n\nb\nc", lines=2) == "b\nc"


def test_console_tail_leaves_host_keys_out() -> None:
    console = (
        "node-init: sshd started\n"
        "node-init: host key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDgX root@x-golden\n"
        "ecdsa-sha2-nistp256 AAAAE2VjZHNh root@x\n"
        "-----BEGIN SSH HOST KEY KEYS-----\n"
        "node-init: cloud-init final failed\n"
    )
    assert console_tail(console) == "node-init: sshd started\nnode-init: cloud-init final failed"


def test_the_script_words_its_failures_as_golden_py_expects() -> None:
    assert SCRIPT_FAILURE in read_template()
