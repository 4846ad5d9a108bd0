"""The engine on fake resource types: order, parallelism, failures, timeouts, delete.

No HTTP and no Docker: the fake plugins never touch `ctx.conn`, so the engine's
scheduling is tested alone (the real plugins are exercised in the integration tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration import resources as registry
from cloudhp_localcloud.orchestration.engine import Engine
from cloudhp_localcloud.orchestration.records import EVENT, RESOURCE, STACK, insert_resources
from cloudhp_localcloud.orchestration.resources.base import Prop, Resource
from cloudhp_localcloud.orchestration.template import Template
from cloudhp_localcloud.store import Store, utcnow


class Fake(Resource):
    """Records what it does in `journal`; waits `delay` seconds (cancellable)."""

    type_name = "Test::Fake"
    properties_schema = {  # noqa: RUF012
        "value": Prop("string", default=""),
        "delay": Prop("number", default=0),
        "fail": Prop("boolean", default=False),
    }
    attributes = ("value",)
    journal: list[tuple[str, str, float]] = []  # noqa: RUF012
    lock = threading.Lock()

    def _note(self, what: str) -> None:
        with self.lock:
            self.journal.append((what, self.name, time.monotonic()))

    def create(self) -> None:
        self._note("start")
        self.physical_id = f"phys-{self.name}"
        if self.properties["delay"]:
            self.ctx.wait(float(self.properties["delay"]))
        if self.properties["fail"]:
            raise errors.ResourceFailure("boom")
        self._note("create")

    def delete(self) -> None:
        self._note("delete")

    def attribute(self, name: str) -> Any:
        return self.properties["value"].upper()


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setitem(registry.REGISTRY, Fake.type_name, Fake)
    Fake.journal = []
    store = Store(tmp_path / "state.db")
    yield Engine(store, LocalCloudConfig(data_dir=tmp_path))
    store.close()


def _stack(engine: Engine, text: str, timeout_mins: float | None = None) -> str:
    template = Template.parse("heat_template_version: 2018-08-31\n" + text)
    template.validate(registry.lookup)
    stack = engine.store.insert(
        STACK,
        {
            "template": template.raw,
            "parameter_values": template.resolve_parameters({}),
            "timeout_mins": timeout_mins,
            "action": "CREATE",
            "status": "IN_PROGRESS",
            "creation_time": utcnow(),
            "signal_base_url": "http://192.0.2.1:8788",
            "engine_id": engine.id,
        },
        name="s",
        project_id="p",
    )
    insert_resources(engine.store, stack, template)
    engine.start_create(stack["id"])
    engine.wait_idle(stack["id"], timeout=30)
    return stack["id"]


def _resources(engine: Engine, stack_id: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in engine.store.list(RESOURCE, stack_id=stack_id)}


def _delete(engine: Engine, stack_id: str) -> None:
    engine.set_stack_status(stack_id, "DELETE", "IN_PROGRESS", "Stack DELETE started")
    engine.start_delete(stack_id)
    engine.wait_idle(stack_id, timeout=30)


CHAIN = """
parameters:
  word: {type: string, default: hello}
resources:
  a: {type: Test::Fake, properties: {value: {get_param: word}, delay: 0.3}}
  b: {type: Test::Fake, properties: {value: {get_attr: [a, value]}}}
  c: {type: Test::Fake, properties: {value: {get_resource: b}}}
  d: {type: Test::Fake, properties: {delay: 0.3}}
outputs:
  shout: {value: {get_attr: [b, value]}, description: b's value}
  ref: {value: {get_resource: c}}
"""


def test_create_follows_dependencies_in_parallel_and_resolves_outputs(engine: Engine) -> None:
    stack_id = _stack(engine, CHAIN)
    stack = engine.store.get(STACK, stack_id)
    assert stack is not None
    assert (stack["action"], stack["status"]) == ("CREATE", "COMPLETE")
    assert stack["stack_status_reason"] == "Stack CREATE completed successfully"
    starts = {name: t for what, name, t in Fake.journal if what == "start"}
    done = {name: t for what, name, t in Fake.journal if what == "create"}
    assert done["a"] <= starts["b"] and done["b"] <= starts["c"]
    assert starts["d"] < done["a"]  # independent: ran alongside a
    assert stack["outputs"] == [
        {"output_key": "shout", "description": "b's value", "output_value": "HELLO"},
        {"output_key": "ref", "description": "No description given", "output_value": "phys-c"},
    ]
    resources = _resources(engine, stack_id)
    assert resources["b"]["properties"]["value"] == "HELLO"
    assert resources["c"]["properties"]["value"] == "phys-b"
    assert {r["action"] + "_" + r["status"] for r in resources.values()} == {"CREATE_COMPLETE"}
    events = [(e["resource_name"], e["resource_status"]) for e in engine.store.list(EVENT)]
    assert events.index(("a", "CREATE_COMPLETE")) < events.index(("b", "CREATE_IN_PROGRESS"))
    assert events[-1] == ("s", "CREATE_COMPLETE")


def test_delete_goes_in_reverse_order_and_removes_everything(engine: Engine) -> None:
    stack_id = _stack(engine, CHAIN)
    Fake.journal = []
    _delete(engine, stack_id)
    order = [name for what, name, _ in Fake.journal if what == "delete"]
    assert sorted(order) == ["a", "b", "c", "d"]
    assert order.index("c") < order.index("b") < order.index("a")
    assert engine.store.get(STACK, stack_id) is None
    assert engine.store.list(RESOURCE, stack_id=stack_id) == []
    assert engine.store.list(EVENT, stack_id=stack_id) == []


def test_a_failure_fails_the_stack_and_stops_dependents(engine: Engine) -> None:
    stack_id = _stack(
        engine,
        "resources:\n"
        "  bad: {type: Test::Fake, properties: {fail: true}}\n"
        "  after: {type: Test::Fake, depends_on: bad}\n"
        "  slow: {type: Test::Fake, properties: {delay: 20}}\n",
    )
    stack = engine.store.get(STACK, stack_id)
    assert stack is not None and stack["status"] == "FAILED"
    assert stack["stack_status_reason"] == (
        "Resource CREATE failed: ResourceFailure: resources.bad: boom"
    )
    resources = _resources(engine, stack_id)
    assert resources["after"]["action"] == "INIT"  # never started
    assert (resources["slow"]["status"], resources["slow"]["resource_status_reason"]) == (
        "FAILED",
        "CREATE aborted",
    )
    # what was created (physical ids) is deleted with the stack
    Fake.journal = []
    _delete(engine, stack_id)
    assert sorted(n for what, n, _ in Fake.journal if what == "delete") == ["bad", "slow"]


def test_stack_timeout(engine: Engine) -> None:
    started = time.monotonic()
    stack_id = _stack(
        engine, "resources:\n  slow: {type: Test::Fake, properties: {delay: 30}}\n", 0.02
    )
    assert time.monotonic() - started < 10
    stack = engine.store.get(STACK, stack_id)
    assert stack is not None
    assert (stack["status"], stack["stack_status_reason"]) == ("FAILED", "Timed out")


def test_delete_cancels_a_create_in_progress(engine: Engine) -> None:
    template = Template.parse(
        "heat_template_version: 2018-08-31\n"
        "resources:\n  slow: {type: Test::Fake, properties: {delay: 30}}\n"
    )
    stack = engine.store.insert(
        STACK,
        {"template": template.raw, "parameter_values": {}, "action": "CREATE",
         "status": "IN_PROGRESS", "engine_id": engine.id},
        name="s", project_id="p",
    )  # fmt: skip
    insert_resources(engine.store, stack, template)
    engine.start_create(stack["id"])
    time.sleep(0.3)
    started = time.monotonic()
    _delete(engine, stack["id"])
    assert time.monotonic() - started < 10
    assert engine.store.get(STACK, stack["id"]) is None
    assert [n for what, n, _ in Fake.journal if what == "delete"] == ["slow"]


def test_signal_url_uses_the_stack_signal_base(engine: Engine) -> None:
    from cloudhp_localcloud.orchestration.run import Run

    run = Run(engine, "id-1", threading.Event())
    run.stack = {"id": "id-1", "name": "s", "project_id": "p",
                 "signal_base_url": "http://172.24.4.1:8788/"}  # fmt: skip
    assert run.signal_url("handle") == (
        "http://172.24.4.1:8788/heat-api/v1/p/stacks/s/id-1/resources/handle/signal"
    )
