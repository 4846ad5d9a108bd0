"""A stack's documents in the store, and the two writes every status change makes.

heat_stack      project_id, name = stack name; status, reason, engine_id, outputs
heat_resource   one per template resource, from the start (INIT_COMPLETE)
heat_event      one per status change, stack or resource (what `--wait` follows)
heat_signal     resources/waitcondition.py
heat_credential credentials.py (never rendered)
"""

from __future__ import annotations

from cloudhp_localcloud.orchestration.template import Template
from cloudhp_localcloud.store import Record, Store, utcnow

STACK = "heat_stack"
RESOURCE = "heat_resource"
EVENT = "heat_event"


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


def add_event(
    store: Store,
    stack: Record,
    *,
    resource_name: str,
    physical_id: str | None,
    status: str,
    reason: str,
    resource_type: str,
) -> None:
    store.insert(
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


def set_stack_status(
    store: Store, engine_id: str, stack_id: str, action: str, status: str, reason: str
) -> Record:
    """The stack's new status, stamped with the engine acting on it, and its event."""
    stack = store.update(
        STACK,
        stack_id,
        {
            "action": action,
            "status": status,
            "stack_status_reason": reason,
            "engine_id": engine_id,
            "updated_time": utcnow() if action != "CREATE" else None,
        },
    )
    add_event(
        store,
        stack,
        resource_name=stack["name"],
        physical_id=stack["id"],
        status=f"{action}_{status}",
        reason=reason,
        resource_type="OS::Heat::Stack",
    )
    return stack
