"""One create or delete of one stack, walking its dependency graph (graph.py).

On create a resource starts as soon as everything it depends on is CREATE_COMPLETE,
independent resources in parallel (up to MAX_WORKERS), and the run ends at the first
failure, at the stack's timeout, or when cancelled (a delete arrived); on delete a
resource goes once everything depending on it is gone. A `Run` is also the
`StackContext` its resource plugins see (conn, signal URLs, encryption, names) and
the resolver of intrinsic functions (params, refs, attributes).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.orchestration import credentials, errors, graph
from cloudhp_localcloud.orchestration.functions import resolve
from cloudhp_localcloud.orchestration.records import (
    EVENT,
    RESOURCE,
    STACK,
    add_event,
    set_stack_status,
)
from cloudhp_localcloud.orchestration.resources import lookup
from cloudhp_localcloud.orchestration.resources.base import Resource, sdk_failure
from cloudhp_localcloud.orchestration.resources.waitcondition import SIGNAL
from cloudhp_localcloud.orchestration.template import Template
from cloudhp_localcloud.store import Record, Store, utcnow

MAX_WORKERS = 16


class Host(Protocol):
    """What a run needs of the engine that started it (engine.Engine)."""

    @property
    def store(self) -> Store: ...

    @property
    def config(self) -> LocalCloudConfig: ...

    @property
    def keyring(self) -> credentials.Keyring: ...

    @property
    def id(self) -> str: ...


class Run:
    """One action on one stack; also the `StackContext` its resource plugins see."""

    def __init__(self, engine: Host, stack_id: str, cancel: threading.Event) -> None:
        self.engine = engine
        self.store = engine.store
        self.stack_id = stack_id
        self.cancel = cancel
        self.deadline: float | None = None
        self._conn: Any = None
        self._conn_lock = threading.Lock()
        self.stack: dict[str, Any] = {}
        self.template: Template | None = None

    # --- StackContext -------------------------------------------------------------

    @property
    def conn(self) -> Any:
        """openstacksdk Connection as the stack owner, built on first use."""
        with self._conn_lock:
            if self._conn is None:
                from openstack.connection import Connection

                cred = credentials.find(self.store, self.stack_id)
                if cred is None:
                    raise errors.ResourceFailure(
                        "The stack has no credential to act with", kind="Forbidden"
                    )
                sess = credentials.session(self.engine.keyring, self.engine.config.auth_url, cred)
                self._conn = Connection(
                    session=sess, region_name=self.engine.config.region, app_name="heat"
                )
            return self._conn

    def wait(self, seconds: float, *, cancellable: bool = True) -> None:
        """Sleep, but give up at once when the run is cancelled or timed out."""
        if not cancellable:
            time.sleep(seconds)
            return
        if self.deadline is not None:
            seconds = min(seconds, max(0.0, self.deadline - time.monotonic()))
        if self.cancel.wait(seconds) or self._timed_out():
            raise errors.Cancelled()

    def _timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def signal_url(self, resource_name: str) -> str:
        base = self.stack.get("signal_base_url", "").rstrip("/")
        return (
            f"{base}/heat-api/v1/{self.stack['project_id']}/stacks/{self.stack['name']}/"
            f"{self.stack['id']}/resources/{resource_name}/signal"
        )

    def encrypt(self, text: str) -> str:
        return self.engine.keyring.encrypt(text)

    def decrypt(self, token: str) -> str:
        return self.engine.keyring.decrypt(token)

    def resource_record(self, name: str) -> Record | None:
        found = self.store.list(RESOURCE, stack_id=self.stack_id, name=name)
        return found[0] if found else None

    def resource_name_for(self, physical_id: Any) -> str | None:
        for record in self.store.list(RESOURCE, stack_id=self.stack_id):
            if physical_id in (record["physical_resource_id"], record["name"]):
                return record["name"]
        return None

    def physical_name(self, resource_name: str) -> str:
        """Heat's default name for a resource: <stack>-<resource>-<random>."""
        return f"{self.stack['name']}-{resource_name}-{uuid.uuid4().hex[:12]}"

    # --- Resolver (intrinsic functions) --------------------------------------------

    def param(self, name: str) -> Any:
        pseudo = {
            "OS::stack_name": self.stack["name"],
            "OS::stack_id": self.stack["id"],
            "OS::project_id": self.stack["project_id"],
        }
        if name in pseudo:
            return pseudo[name]
        values = self.stack.get("parameter_values", {})
        if name not in values:
            raise errors.StackValidationFailed(f"The Parameter ({name}) was not provided.")
        return values[name]

    def _plugin(self, name: str) -> Resource:
        record = self.resource_record(name)
        if record is None:
            raise errors.InvalidTemplateReference(f'The specified reference "{name}" is incorrect.')
        cls = lookup(record["resource_type"])
        assert cls is not None, record["resource_type"]
        return cls(
            self,
            name,
            record.get("properties") or {},
            record.get("physical_resource_id") or None,
            record.get("data"),
        )

    def resource_ref(self, name: str) -> Any:
        return self._plugin(name).ref_id()

    def resource_attr(self, name: str, attribute: str) -> Any:
        return self._plugin(name).get_attribute(attribute)

    # --- create -------------------------------------------------------------------

    def _set_stack_status(self, stack_id: str, action: str, status: str, reason: str) -> None:
        set_stack_status(self.store, self.engine.id, stack_id, action, status, reason)

    def _load(self) -> Template:
        self.stack = self.store.get(STACK, self.stack_id) or {}
        if not self.stack:
            raise KeyError(self.stack_id)
        self.template = Template.parse(self.stack["template"])
        return self.template

    def create(self) -> None:
        template = self._load()
        timeout_mins = self.stack.get("timeout_mins")
        if timeout_mins:
            self.deadline = time.monotonic() + float(timeout_mins) * 60
        deps = graph.dependencies(template)
        failure = self._schedule(deps, self._create_one, "CREATE")
        if failure is None:
            self._finish_create()
        else:
            self._set_stack_status(self.stack_id, "CREATE", "FAILED", failure)

    def _finish_create(self) -> None:
        assert self.template is not None
        outputs = []
        for output in self.template.outputs.values():
            entry: dict[str, Any] = {
                "output_key": output.name,
                "description": output.description or "No description given",
            }
            try:
                entry["output_value"] = resolve(output.value, self)
            except Exception as exc:
                entry["output_value"] = None
                entry["output_error"] = _reason(exc, None)
            outputs.append(entry)
        self.store.update(STACK, self.stack_id, {"outputs": outputs})
        self._set_stack_status(
            self.stack_id, "CREATE", "COMPLETE", "Stack CREATE completed successfully"
        )

    def _set_resource(
        self, record: Record, action: str, status: str, reason: str, **kw: Any
    ) -> Record:
        record = self.store.update(
            RESOURCE,
            record["id"],
            {
                "action": action,
                "status": status,
                "resource_status_reason": reason,
                "updated_time": utcnow(),
                **kw,
            },
        )
        add_event(
            self.store,
            self.stack,
            resource_name=record["name"],
            physical_id=record.get("physical_resource_id"),
            status=f"{action}_{status}",
            reason=reason,
            resource_type=record["resource_type"],
        )
        return record

    def _create_one(self, name: str) -> None:
        assert self.template is not None
        record = self.resource_record(name)
        assert record is not None
        defn = self.template.resources[name]
        cls = lookup(defn.type)
        assert cls is not None
        record = self._set_resource(record, "CREATE", "IN_PROGRESS", "state changed")
        plugin: Resource | None = None
        try:
            properties = cls.typed_properties(resolve(defn.properties, self))
            plugin = cls(self, name, properties)
            self.store.update(RESOURCE, record["id"], {"properties": properties})
            plugin.create()
        except BaseException as exc:
            kw = {}
            if plugin is not None:
                kw = {"physical_resource_id": plugin.physical_id or "", "data": plugin.data}
            self._set_resource(record, "CREATE", "FAILED", _reason(exc, name), **kw)
            raise
        self._set_resource(
            record,
            "CREATE",
            "COMPLETE",
            "state changed",
            physical_resource_id=plugin.physical_id or "",
            data=plugin.data,
        )

    def _schedule(
        self, deps: dict[str, set[str]], act: Callable[[str], None], action: str
    ) -> str | None:
        """Run `act` on every node once its `deps` are done; the stack's failure or None."""
        done: set[str] = set()
        started: set[str] = set()
        failure: str | None = None
        running: dict[Future[None], str] = {}
        with ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="heat-res") as pool:
            while True:
                if failure is None:
                    for name in deps:
                        if name not in started and deps[name] <= done:
                            started.add(name)
                            running[pool.submit(act, name)] = name
                if not running:
                    break
                timeout = None
                if self.deadline is not None:
                    timeout = max(0.0, self.deadline - time.monotonic())
                finished, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
                if not finished and failure is None:
                    failure = "Timed out"
                    self.cancel.set()
                for future in finished:
                    name = running.pop(future)
                    exc = future.exception()
                    if exc is None:
                        done.add(name)
                    elif failure is None:
                        if isinstance(exc, errors.Cancelled) and self._timed_out():
                            failure = "Timed out"
                        else:
                            record = self.resource_record(name)
                            reason = record["resource_status_reason"] if record else str(exc)
                            failure = f"Resource {action} failed: {reason}"
                        self.cancel.set()
        if failure is None and self.cancel.is_set():
            failure = f"{action} aborted"
        return failure

    # --- delete -------------------------------------------------------------------

    def delete(self) -> None:
        template = self._load()
        self.cancel.clear()
        self.deadline = None
        reverse = graph.required_by(graph.dependencies(template))
        failure = self._schedule(reverse, self._delete_one, "DELETE")
        if failure is not None:
            self._set_stack_status(self.stack_id, "DELETE", "FAILED", failure)
            return
        cred = credentials.find(self.store, self.stack_id)
        if cred is not None:
            try:
                credentials.release(self.engine.keyring, self.engine.config.auth_url, cred)
            except credentials.CredentialError as exc:
                self._set_stack_status(self.stack_id, "DELETE", "FAILED", str(exc))
                return
        self._set_stack_status(
            self.stack_id, "DELETE", "COMPLETE", "Stack DELETE completed successfully"
        )
        with self.store.transaction():
            for kind in (RESOURCE, EVENT, SIGNAL, credentials.CREDENTIAL):
                for record in self.store.list(kind, stack_id=self.stack_id):
                    self.store.delete(kind, record["id"])
            self.store.delete(STACK, self.stack_id)

    def _delete_one(self, name: str) -> None:
        assert self.template is not None
        record = self.resource_record(name)
        if record is None or (record.get("action"), record.get("status")) == ("DELETE", "COMPLETE"):
            return
        if not record.get("physical_resource_id"):
            self._set_resource(record, "DELETE", "COMPLETE", "state changed")
            return
        record = self._set_resource(record, "DELETE", "IN_PROGRESS", "state changed")
        if self.template.resources[name].deletion_policy == "Retain":
            self._set_resource(record, "DELETE", "COMPLETE", "Retained by deletion_policy")
            return
        try:
            self._plugin(name).delete()
        except BaseException as exc:
            self._set_resource(record, "DELETE", "FAILED", _reason(exc, name))
            raise
        self._set_resource(record, "DELETE", "COMPLETE", "state changed")


def _reason(exc: BaseException, resource: str | None) -> str:
    """Heat's status reason: "<Type>: resources.<name>: <message>"."""
    where = f"resources.{resource}: " if resource else ""
    if isinstance(exc, errors.Cancelled):
        return "CREATE aborted"
    if isinstance(exc, errors.HeatError):
        return f"{exc.kind}: {where}{exc.message}"
    if hasattr(exc, "status_code"):
        failure = sdk_failure(resource or "", exc)  # type: ignore[arg-type]
        return f"{failure.kind}: {where}{failure.message}"
    return f"{type(exc).__name__}: {where}{exc}"
