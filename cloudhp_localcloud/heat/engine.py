"""The Heat engine: creates and deletes a stack's resources in a background thread.

The API answers POST and DELETE at once (201/204) and hands the work to `Engine`,
one per app. A run walks the dependency graph (graph.py): on create a resource starts
as soon as everything it depends on is CREATE_COMPLETE, independent resources in
parallel, as in Heat (so a WaitCondition and the server that signals it can run at
the same time); on delete a resource goes once everything depending on it is gone.
Every status change is an event (what `openstack stack create --wait` follows), and
the stack ends in CREATE_COMPLETE or CREATE_FAILED with Heat's status reasons:

    Resource CREATE failed: WaitConditionFailure: resources.wait: <signal reason>
    Timed out                                   (timeout_mins elapsed)

A failed create is not rolled back (Heat's default in the CLI is disable_rollback):
the user deletes the stack, which deletes what was created. A delete that arrives
while a create runs cancels it first. Deleted stacks are removed from the store
(GET answers 404), with their events, signals and credential.

State in the store: heat_stack (project_id, name = stack name), heat_resource (one
per template resource, from the start, INIT_COMPLETE until acted on), heat_event,
heat_signal (waitcondition.py) and heat_credential (credentials.py; never rendered).

If the daemon stops while a stack is IN_PROGRESS, nothing resumes it: the API marks
such a stack FAILED ("Engine went down during stack CREATE") when it is next read, as
Heat does when an engine dies.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.heat import credentials, errors, graph
from cloudhp_localcloud.heat.functions import resolve
from cloudhp_localcloud.heat.resources import lookup
from cloudhp_localcloud.heat.resources.base import Resource, sdk_failure
from cloudhp_localcloud.heat.template import Template
from cloudhp_localcloud.heat.waitcondition import SIGNAL
from cloudhp_localcloud.store import Record, Store, utcnow

log = logging.getLogger(__name__)

STACK = "heat_stack"
RESOURCE = "heat_resource"
EVENT = "heat_event"
MAX_WORKERS = 16


@dataclass
class _Handle:
    thread: threading.Thread
    cancel: threading.Event
    action: str


class Engine:
    """Runs stack actions in threads; one per app, shared by all requests."""

    def __init__(self, store: Store, config: LocalCloudConfig) -> None:
        self.store = store
        self.config = config
        self.keyring = credentials.Keyring(config.data_dir)
        self._runs: dict[str, _Handle] = {}
        self._lock = threading.Lock()
        # Written into every stack this engine acts on: a stack IN_PROGRESS under
        # another id was left by an engine that is gone (daemon restarted).
        self.id = uuid.uuid4().hex

    def owns(self, stack: Record) -> bool:
        return stack.get("engine_id") == self.id

    def is_running(self, stack_id: str) -> bool:
        with self._lock:
            handle = self._runs.get(stack_id)
            return handle is not None and handle.thread.is_alive()

    def start_create(self, stack_id: str) -> None:
        self._start(stack_id, "CREATE", None)

    def start_delete(self, stack_id: str) -> None:
        """Cancel a create in progress (if any), then delete in the background."""
        with self._lock:
            previous = self._runs.get(stack_id)
        if previous is not None and previous.thread.is_alive():
            previous.cancel.set()
        self._start(stack_id, "DELETE", previous)

    def _start(self, stack_id: str, action: str, previous: _Handle | None) -> None:
        cancel = threading.Event()
        run = _Run(self, stack_id, cancel)
        target: Callable[[], None]
        if action == "CREATE":
            target = run.create
        else:

            def target() -> None:
                if previous is not None:
                    previous.thread.join()
                run.delete()

        thread = threading.Thread(
            target=self._guard(stack_id, action, target),
            name=f"heat-{action.lower()}-{stack_id[:8]}",
            daemon=True,
        )
        with self._lock:
            self._runs[stack_id] = _Handle(thread, cancel, action)
        thread.start()

    def _guard(self, stack_id: str, action: str, target: Callable[[], None]) -> Callable[[], None]:
        """Whatever goes wrong in a run, the stack ends FAILED instead of stuck."""

        def run() -> None:
            try:
                target()
            except Exception as exc:
                log.exception("heat %s of stack %s crashed", action, stack_id)
                with contextlib.suppress(KeyError):
                    self.set_stack_status(
                        stack_id, action, "FAILED", f"Internal error: {type(exc).__name__}"
                    )

        return run

    def wait_idle(self, stack_id: str, timeout: float | None = None) -> None:
        """For tests and shutdown: block until no run of `stack_id` is alive."""
        with self._lock:
            handle = self._runs.get(stack_id)
        if handle is not None:
            handle.thread.join(timeout)

    # --- store helpers shared with the API -----------------------------------------

    def add_event(
        self,
        stack: Record,
        *,
        resource_name: str,
        physical_id: str | None,
        status: str,
        reason: str,
        resource_type: str,
    ) -> None:
        self.store.insert(
            EVENT,
            {
                "stack_id": stack["id"],
                "stack_name": stack["name"],
                "resource_name": resource_name,
                "logical_resource_id": resource_name,
                "physical_resource_id": physical_id or "",
                "resource_status": status,
                "resource_status_reason": reason,
                "resource_type": resource_type,
                "event_time": utcnow(),
            },
            project_id=stack["project_id"],
        )

    def set_stack_status(self, stack_id: str, action: str, status: str, reason: str) -> Record:
        stack = self.store.update(
            STACK,
            stack_id,
            {
                "action": action,
                "status": status,
                "stack_status_reason": reason,
                "engine_id": self.id,
                "updated_time": utcnow() if action != "CREATE" else None,
            },
        )
        self.add_event(
            stack,
            resource_name=stack["name"],
            physical_id=stack["id"],
            status=f"{action}_{status}",
            reason=reason,
            resource_type="OS::Heat::Stack",
        )
        return stack


def insert_resources(store: Store, stack: Record, template: Template) -> None:
    """One INIT_COMPLETE record per template resource, so they are listed at once."""
    for res in template.resources.values():
        store.insert(
            RESOURCE,
            {
                "stack_id": stack["id"],
                "resource_type": res.type,
                "physical_resource_id": "",
                "action": "INIT",
                "status": "COMPLETE",
                "resource_status_reason": "",
                "creation_time": utcnow(),
                "updated_time": None,
                "properties": {},
                "data": {},
            },
            name=res.name,
            project_id=stack["project_id"],
        )


class _Run:
    """One action on one stack; also the `StackContext` its resource plugins see."""

    def __init__(self, engine: Engine, stack_id: str, cancel: threading.Event) -> None:
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
            self.engine.set_stack_status(self.stack_id, "CREATE", "FAILED", failure)

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
        self.engine.set_stack_status(
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
        self.engine.add_event(
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
            self.engine.set_stack_status(self.stack_id, "DELETE", "FAILED", failure)
            return
        cred = credentials.find(self.store, self.stack_id)
        if cred is not None:
            try:
                credentials.release(self.engine.keyring, self.engine.config.auth_url, cred)
            except credentials.CredentialError as exc:
                self.engine.set_stack_status(self.stack_id, "DELETE", "FAILED", str(exc))
                return
        self.engine.set_stack_status(
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
