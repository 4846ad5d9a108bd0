"""OS::Heat::WaitConditionHandle and OS::Heat::WaitCondition: a server says "I am ready".

The handle is Heat's token handle: its `curl_cli` attribute is a ready-to-run curl
command that POSTs to the handle's signal URL with an `X-Auth-Token` header. Real
Heat puts a Keystone token of a stack domain user there; localcloud issues instead a
random signal token per handle, good for that handle's signal URL only. It is kept
encrypted in the handle's server-side data (to give it back through the attributes)
and as a SHA-256 digest (to check signals), and dies with the stack: a leaked
user_data gives no access to anything else in the cloud.

The signal URL is built from the stack's *signal base URL* (see api_stacks.py), so that a
server container reaches localcloud through the gateway of its Docker network.

Signals are kept as their own store documents (type "heat_signal"), so a signal never
races with the engine saving the handle's state. A signal body is
{"status": "SUCCESS"|"FAILURE", "reason": ..., "data": ..., "id": ...}; every key is
optional, as in Heat (no body means one SUCCESS). A later signal with the same id
replaces the earlier one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shlex
import time
import uuid
from typing import Any

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.resources.base import Prop, Resource
from cloudhp_localcloud.store import Record, Store, utcnow

SIGNAL = "heat_signal"
STATUSES = ("SUCCESS", "FAILURE")
MAX_TIMEOUT = 43200


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WaitConditionHandle(Resource):
    type_name = "OS::Heat::WaitConditionHandle"
    properties_schema = {}  # noqa: RUF012 - read-only class schema
    attributes = ("token", "endpoint", "curl_cli", "signal")

    def create(self) -> None:
        token = secrets.token_urlsafe(32)
        self.data = {"token": self.ctx.encrypt(token), "token_sha256": token_digest(token)}
        self.physical_id = str(uuid.uuid4())

    def delete(self) -> None:
        """Nothing outside Heat: the token dies with the resource record."""

    def attribute(self, name: str) -> Any:
        token = self.ctx.decrypt(self.data["token"])
        endpoint = self.ctx.signal_url(self.name)
        if name == "token":
            return token
        if name == "endpoint":
            return endpoint
        if name == "signal":
            return json.dumps({"url": endpoint, "token": token})
        if name == "show":
            return {"endpoint": endpoint}
        return (
            f"curl -i -X POST -H {shlex.quote('X-Auth-Token: ' + token)} "
            "-H 'Content-Type: application/json' -H 'Accept: application/json' "
            f"{endpoint}"
        )


def add_signal(store: Store, stack_id: str, handle: str, body: Any) -> Record:
    """Record one signal for the handle `handle` of stack `stack_id`.

    Raises:
        errors.StackValidationFailed: the body is not a mapping or its status is not
            SUCCESS or FAILURE (Heat: "Metadata format invalid").
    """
    if body is None or body == "":
        body = {}
    if not isinstance(body, dict):
        raise errors.StackValidationFailed("Signal data must be a JSON object")
    status = body.get("status", "SUCCESS")
    if status not in STATUSES:
        raise errors.StackValidationFailed(
            f"Metadata format invalid: status must be one of {', '.join(STATUSES)}"
        )
    with store.transaction():
        existing = store.list(SIGNAL, stack_id=stack_id, handle=handle)
        signal_id = body.get("id")
        signal_id = str(len(existing) + 1) if signal_id is None else str(signal_id)
        reason = body.get("reason")
        doc = {
            "stack_id": stack_id,
            "handle": handle,
            "signal_id": signal_id,
            "status": status,
            "reason": f"Signal {signal_id} received" if reason is None else str(reason),
            "data": body.get("data"),
            "time": utcnow(),
            "seq": time.monotonic_ns(),
        }
        for old in existing:
            if old["signal_id"] == signal_id:
                store.delete(SIGNAL, old["id"])
        return store.insert(SIGNAL, doc)


def signals(store: Store, stack_id: str, handle: str) -> list[Record]:
    return store.list(SIGNAL, stack_id=stack_id, handle=handle)


class WaitCondition(Resource):
    type_name = "OS::Heat::WaitCondition"
    properties_schema = {  # noqa: RUF012 - read-only class schema
        "handle": Prop("string", required=True),
        "count": Prop("integer", default=1),
        "timeout": Prop("number", required=True),
    }
    attributes = ("data",)
    poll_interval = 0.5

    @classmethod
    def validate_properties(cls, name: str, properties: Any) -> None:
        super().validate_properties(name, properties)
        timeout = properties.get("timeout")
        if isinstance(timeout, int | float) and not 1 <= timeout <= MAX_TIMEOUT:
            raise errors.StackValidationFailed(
                f"Property timeout: {timeout} is out of range (min: 1, max: {MAX_TIMEOUT})"
            )

    def _handle_name(self) -> str:
        ref = self.properties["handle"]
        name = self.ctx.resource_name_for(ref)
        if name is None:
            raise errors.StackValidationFailed(
                f"WaitCondition invalid Handle {ref}: no such handle in this stack"
            )
        return name

    def create(self) -> None:
        handle = self._handle_name()
        count = max(1, int(self.properties["count"]))
        timeout = float(self.properties["timeout"])
        self.physical_id = str(uuid.uuid4())
        deadline = time.monotonic() + timeout
        stack_id = self.ctx.stack["id"]
        while True:
            got = signals(self.ctx.store, stack_id, handle)
            failures = [s["reason"] for s in got if s["status"] == "FAILURE"]
            if failures:
                raise errors.WaitConditionFailure("; ".join(failures))
            successes = [s for s in got if s["status"] == "SUCCESS"]
            if len(successes) >= count:
                return
            if time.monotonic() >= deadline:
                message = f"{len(successes)} of {count} received"
                if successes:
                    message += " - " + "; ".join(s["reason"] for s in successes)
                raise errors.WaitConditionTimeout(message)
            self.ctx.wait(min(self.poll_interval, max(0.0, deadline - time.monotonic())))

    def delete(self) -> None:
        """Nothing outside Heat."""

    def attribute(self, name: str) -> Any:
        handle = self._handle_name()
        got = signals(self.ctx.store, self.ctx.stack["id"], handle)
        return json.dumps({s["signal_id"]: s["data"] for s in got if s["status"] == "SUCCESS"})
