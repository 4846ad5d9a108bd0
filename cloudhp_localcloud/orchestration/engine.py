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

What one create or delete does is run.py's; the store documents are records.py's.

If the daemon stops while a stack is IN_PROGRESS, nothing resumes it: the API marks
such a stack FAILED ("Engine went down during stack CREATE") when it is next read, as
Heat does when an engine dies.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.orchestration import credentials, records
from cloudhp_localcloud.orchestration.run import Run
from cloudhp_localcloud.store import Record, Store

log = logging.getLogger(__name__)


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
        run = Run(self, stack_id, cancel)
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
        records.add_event(
            self.store,
            stack,
            resource_name=resource_name,
            physical_id=physical_id,
            status=status,
            reason=reason,
            resource_type=resource_type,
        )

    def set_stack_status(self, stack_id: str, action: str, status: str, reason: str) -> Record:
        return records.set_stack_status(self.store, self.id, stack_id, action, status, reason)
