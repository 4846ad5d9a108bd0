"""Platform-style single service definitions: from JSON, YAML or flags, every field checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudhp.apps.definition import load_definition
from cloudhp.apps.model import Service
from cloudhp.errors import UsageError

API = {
    "container-tag": "registry.example.com:5000/team/api:1.4",
    "memory-reservation": 128,
    "memory-limit": 256,
    "container-port": 8080,
    "environment": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "WORKERS", "value": 4}],
    "replicas": 2,
    "health-path": "/shop-api/health",
    "hosts": ["api.example.com"],
}

EXPECTED = Service(
    project="shop",
    name="api",
    image="registry.example.com:5000/team/api:1.4",
    environment=(("LOG_LEVEL", "info"), ("WORKERS", "4"), ("CONTEXT_ROOT", "/shop-api")),
    container_port=8080,
    hosts=("api.example.com",),
    replicas=2,
    memory_reservation_mb=128,
    memory_limit_mb=256,
    health_path="/shop-api/health",
)


def definition(tmp_path: Path, data: Any, name: str = "api.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def fail(tmp_path: Path, data: Any, flags: dict[str, Any] | None = None) -> UsageError:
    path = definition(tmp_path, data) if data is not None else None
    with pytest.raises(UsageError) as caught:
        load_definition("api", "shop", path, flags or {})
    return caught.value


def test_a_json_definition(tmp_path):
    assert load_definition("api", "shop", definition(tmp_path, API), {}) == EXPECTED


def test_a_yaml_definition_is_recognised_by_content(tmp_path):
    text = """\
container-tag: registry.example.com:5000/team/api:1.4
memory-reservation: 128
memory-limit: 256
container-port: 8080
environment:
  - {name: LOG_LEVEL, value: info}
  - name: WORKERS
    value: 4
replicas: 2
health-path: /shop-api/health
hosts: [api.example.com]
"""
    assert load_definition("api", "shop", definition(tmp_path, text, "api.def"), {}) == EXPECTED


def test_flags_alone_make_a_definition(tmp_path):
    flags = {"container_tag": "nginx:1.25", "container_port": 80, "memory_limit": 64,
             "env": ("A=1", "B=x=y"), "replicas": None}  # fmt: skip
    assert load_definition("web", "shop", None, flags) == Service(
        project="shop",
        name="web",
        image="nginx:1.25",
        environment=(("A", "1"), ("B", "x=y"), ("CONTEXT_ROOT", "/shop-web")),
        container_port=80,
        memory_limit_mb=64,
    )


def test_flags_override_the_file_and_env_flags_override_file_entries(tmp_path):
    flags = {"memory_limit": "512", "container_tag": "team/api:1.5", "env": ["LOG_LEVEL=debug"]}
    service = load_definition("api", "shop", definition(tmp_path, API), flags)
    assert (service.memory_limit_mb, service.image) == (512, "team/api:1.5")
    assert service.environment[0] == ("LOG_LEVEL", "debug")


def test_the_definition_s_own_context_root_is_kept(tmp_path):
    data = {**API, "environment": [{"name": "CONTEXT_ROOT", "value": "/api"}]}
    service = load_definition("api", "shop", definition(tmp_path, data), {})
    assert service.environment == (("CONTEXT_ROOT", "/api"),)


@pytest.mark.parametrize(
    ("change", "key", "text", "hint"),
    [
        ({"memory-reservation": 512}, "memory-reservation",
         "memory reservation 512 MiB is above the memory limit 256 MiB", "at most its limit"),
        ({"memory-limit": "256Mi"}, "memory-limit", "str '256Mi' is not an integer",
         "a whole number of MiB the task may use at most"),
        ({"memory-limit": 1.5}, "memory-limit", "float 1.5 is not an integer", "MiB"),
        ({"memory-reservation": 0}, "memory-reservation", "0 is out of range", "MiB"),
        ({"container-port": 0}, "container-port", "it must be from 1 to 65535", "HTTP on"),
        ({"container-port": "8080"}, "container-port", "str '8080' is not an integer", "HTTP"),
        ({"replicas": -1}, "replicas", "it must be at least 0", "tasks"),
        ({"replicas": True}, "replicas", "the boolean true is not an integer", "tasks"),
        ({"health-path": "health"}, "health-path", "'health' is not an HTTP path", "with /"),
        ({"container-tag": "Team/API"}, "container-tag", "is not an image reference",
         "lower-case"),
        ({"hosts": ["a b"]}, "hosts[0]", "'a b' is not a host name", "DNS names"),
        ({"memory-limt": 5}, "memory-limt", "unknown field 'memory-limt' "
         "(did you mean 'memory-limit'?)", "known:"),
        ({"environment": [{"name": "A"}]}, "environment[0]",
         "an environment entry has a name and a value", '"name": "LOG_LEVEL"'),
        ({"environment": [{"name": "A=B", "value": 1}]}, "environment[0].name",
         "'A=B' is not an environment variable name", "without '='"),
        ({"environment": [{"name": "A", "value": 1}, {"name": "A", "value": 2}]},
         "environment[1].name", "A is given twice", None),
        ({"environment": {"A": 1}}, "environment", "must be a list, not a mapping", None),
    ],
)  # fmt: skip
def test_every_invalid_field_names_the_field_and_what_is_right(tmp_path, change, key, text, hint):
    exc = fail(tmp_path, {**API, **change})
    assert exc.message.startswith(f"{tmp_path / 'api.json'}:")
    assert f": {key}: " in exc.message
    assert text in exc.message
    assert hint is None or hint in (exc.hint or "")


def test_errors_in_a_json_file_carry_its_line(tmp_path):
    exc = fail(tmp_path, {**API, "memory-limit": "lots"})
    line = (
        json.dumps({**API, "memory-limit": "lots"}, indent=2)
        .splitlines()
        .index('  "memory-limit": "lots",')
    )
    assert exc.message.startswith(f"{tmp_path / 'api.json'}:{line + 1}: memory-limit: ")


@pytest.mark.parametrize("missing", ["container-tag", "container-port"])
def test_a_required_field_is_missing(tmp_path, missing):
    exc = fail(tmp_path, {k: v for k, v in API.items() if k != missing})
    assert exc.message == f"{tmp_path / 'api.json'}:1: {missing} is missing"
    assert f"(--{missing})" in (exc.hint or "")
    exc = fail(tmp_path, None, {"container_tag": "x"} if missing == "container-port" else {})
    assert exc.message.startswith("definition: ") and f"{missing} is missing" in exc.message


def test_flag_errors_name_the_option(tmp_path):
    exc = fail(tmp_path, None, {"container_tag": "x", "container_port": "eighty"})
    assert exc.message == "--container-port: str 'eighty' is not an integer"
    exc = fail(tmp_path, None, {"container_tag": "x", "container_port": 80, "env": ["A"]})
    assert exc.message == "--env: 'A' has no value"
    exc = fail(tmp_path, None, {"container_tag": "x", "memory_limt": 5})
    assert exc.message == "unknown option --memory-limt (did you mean 'memory_limit'?)"
    flags = {"container_tag": "x", "container_port": 80, "memory_limit": 64,
             "memory_reservation": 128}  # fmt: skip
    exc = fail(tmp_path, None, flags)
    assert exc.message == (
        "--memory-reservation: memory reservation 128 MiB is above the memory limit 64 MiB"
    )


def test_the_public_name_rule_applies(tmp_path):
    path = definition(tmp_path, API)
    with pytest.raises(UsageError) as caught:
        load_definition("Api", "shop", path, {})
    assert f"{path}:1: service name: the public name 'shop-Api' breaks" in caught.value.message
    with pytest.raises(UsageError) as caught:
        load_definition("api", "shop", definition(tmp_path, {**API, "name": "web"}), {})
    assert "name: the definition is for 'web', not 'api'" in caught.value.message


def test_malformed_files(tmp_path):
    exc = fail(tmp_path, '{\n  "container-tag": "x",\n  "container-port": 80,\n}\n')
    assert exc.message.startswith(f"{tmp_path / 'api.json'}:4: malformed JSON")
    exc = fail(tmp_path, "container-tag: [x\n")
    assert exc.message.startswith(f"{tmp_path / 'api.json'}:2: malformed YAML")
    assert "the definition is empty" in fail(tmp_path, "").message
    assert "must be a mapping, not a list" in fail(tmp_path, "[1, 2]").message
