"""The golden image's builder: the Heat stack `<cluster>-golden` and its server.

`cloudhp.steps.golden` decides whether a build is needed and snapshots the builder;
this module creates, waits for, reuses and deletes the stack.

The stack's name is all an earlier run leaves to find it by, but a name is no proof of
ownership: a user may keep a stack of their own called `<cluster>-golden`. So a stack
is reused or deleted only when it carries the cluster's tag (which cloudhp sets when it
creates one); any other stack of that name is refused with a ConflictError that says
how to get it out of the way, and is never touched.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import openstack.exceptions as os_exc
from openstack.orchestration.util import template_format

from cloudhp.cloud.calls import cloud_call
from cloudhp.context import ClusterContext
from cloudhp.errors import CloudhpError, ConflictError, EnvironmentProblem, GoldenBuildFailed
from cloudhp.naming import tag_list
from cloudhp.polling import poll
from cloudhp.steps.golden_plan import (
    SCRIPT_FAILURE,
    console_tail,
    existing_stack_action,
    stack_output,
)

# Package data (heat/ at the top of the repo links here), so installed copies carry it.
TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "heat" / "golden-image.yaml"

BOOT_MARGIN = 300
"""Extra seconds cloudhp waits for the stack beyond the wait condition's own timeout."""
DELETE_TIMEOUT = 600

RESUME_HINT = "run `cloudhp init` again to resume; check the cloud's status if it happens again"


def read_template() -> str:
    try:
        return TEMPLATE_PATH.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvironmentProblem(
            f"the golden image template {TEMPLATE_PATH} is missing",
            hint="run cloudhp from its source tree or a complete installation",
        ) from None


def _find_stack(ctx: ClusterContext, name_or_id: str) -> Any | None:
    with cloud_call(f"looking up stack {name_or_id}"):
        return ctx.conn.orchestration.find_stack(name_or_id, ignore_missing=True)


def foreign_stack_error(ctx: ClusterContext, stack: Any) -> ConflictError:
    """Why a stack of the builder's name is left alone, and the two ways out."""
    tags = tag_list(stack.tags)
    carries = f"its tags are {', '.join(tags)}" if tags else "it has no tags"
    return ConflictError(
        f"a Heat stack named {stack.name} ({stack.id}) exists that cloudhp did not create "
        f"for cluster {ctx.spec.name}: {carries}, not {ctx.tag}; cloudhp builds the golden "
        "image in a stack of that name and never deletes a stack it did not make",
        hint=f"if it is a stale one of yours, delete it (`openstack stack delete {stack.id}`) "
        "and run again; otherwise choose another cluster name (`--name`)",
    )


def find_own_stack(ctx: ClusterContext, stack_name: str) -> Any | None:
    """The cluster's builder stack, or None when there is no stack of that name.

    Raises:
        ConflictError: A stack of that name exists without the cluster's tag.
    """
    stack = _find_stack(ctx, stack_name)
    if stack is not None and not _is_ours(ctx, stack):
        raise foreign_stack_error(ctx, stack)
    return stack


def _is_ours(ctx: ClusterContext, stack: Any) -> bool:
    return ctx.tag in tag_list(stack.tags)


def ensure_stack(
    ctx: ClusterContext,
    stack_name: str,
    parameters: dict[str, str],
    timeout: int,
    poll_interval: float,
) -> Any:
    """A CREATE_COMPLETE builder stack, reusing a complete one from an interrupted run."""
    orchestration, step = ctx.conn.orchestration, ctx.reporter.step
    stack = find_own_stack(ctx, stack_name)
    if stack is not None:
        build_id = (stack.parameters or {}).get("build_id")
        action = existing_stack_action(stack.status or "", build_id, parameters["build_id"])
        if action == "reuse":
            step(f"reusing the complete builder stack {stack_name} of an interrupted run")
            return stack
        step(f"removing the stale builder stack {stack_name} ({stack.status})")
        remove_stack(ctx, stack_name, poll_interval)
    template = template_format.parse(read_template())
    with cloud_call(f"creating stack {stack_name}"):
        created = orchestration.create_stack(
            name=stack_name,
            template=template,
            parameters=parameters,
            timeout_mins=math.ceil((timeout + BOOT_MARGIN) / 60),
            is_rollback_disabled=True,
            tags=ctx.tags,
        )
    step(f"stack {stack_name} created; waiting for the builder to signal")

    def fetch() -> Any:
        with cloud_call(f"reading stack {stack_name}"):
            return orchestration.get_stack(created.id)

    def tick(current: Any, elapsed: float) -> None:
        step(f"stack {stack_name} {current.status} ({elapsed:.0f}s)")

    stack = poll(
        fetch,
        lambda s: s.status != "CREATE_IN_PROGRESS",
        timeout=timeout + BOOT_MARGIN,
        interval=poll_interval,
        on_tick=tick,
        what=f"stack {stack_name}",
        hint=RESUME_HINT,
    )
    if stack.status != "CREATE_COMPLETE":
        reason = stack.status_reason or "Heat gave no reason"
        # The builder's own FAILURE signal says all; otherwise (a timeout, a server in
        # ERROR) its console is the only clue.
        console = "" if SCRIPT_FAILURE in reason else _builder_console(ctx, stack)
        raise GoldenBuildFailed(
            f"building the golden image failed: stack {stack_name} is {stack.status}: "
            f"{reason}" + (f"\nbuilder console:\n{console}" if console else ""),
            hint="fix the cause and run again; the builder stack has been deleted",
        )
    return stack


def builder_server_id(ctx: ClusterContext, stack: Any) -> str:
    """The builder server, from the stack's output or, failing that, its resources."""
    server_id = stack_output(stack.outputs, "server_id")
    if server_id:
        return str(server_id)
    with cloud_call(f"listing the resources of stack {stack.name}"):
        for res in ctx.conn.orchestration.resources(stack):
            if res.name == "server" and res.physical_resource_id:
                return str(res.physical_resource_id)
    raise GoldenBuildFailed(f"stack {stack.name} has no builder server")


def _builder_console(ctx: ClusterContext, stack: Any) -> str:
    """The end of the builder's console, best effort, to explain a failure."""
    try:
        server_id = builder_server_id(ctx, stack)
        output = ctx.conn.compute.get_server_console_output(server_id, length=60)
    except (CloudhpError, os_exc.SDKException):
        return ""
    return console_tail(str(output.get("output") or ""))


def remove_stack(
    ctx: ClusterContext, stack_name: str, poll_interval: float, *, spare_foreign: bool = False
) -> None:
    """Deletes the cluster's builder stack, if any, and waits until it is gone.

    Args:
        spare_foreign: When nothing needs the name (the image exists already), a stack
            of that name that is not the cluster's is left alone with a note instead of
            being refused.

    Raises:
        ConflictError: A stack of that name is not the cluster's (and not spared).
    """
    stack = _find_stack(ctx, stack_name)
    if stack is None:
        return
    if not _is_ours(ctx, stack):
        refusal = foreign_stack_error(ctx, stack)
        if not spare_foreign:
            raise refusal
        ctx.reporter.step(f"left alone: {refusal.message}")
        return
    orchestration = ctx.conn.orchestration
    if stack.status != "DELETE_IN_PROGRESS":
        ctx.reporter.step(f"deleting stack {stack_name}")
        with cloud_call(f"deleting stack {stack_name}"):
            orchestration.delete_stack(stack.id, ignore_missing=True)

    def fetch() -> Any | None:
        try:
            return orchestration.get_stack(stack.id)
        except os_exc.NotFoundException:
            return None
        except os_exc.SDKException as exc:
            raise CloudhpError(f"reading stack {stack_name} failed: {exc}") from None

    last = poll(
        fetch,
        lambda s: s is None or s.status == "DELETE_FAILED",
        timeout=DELETE_TIMEOUT,
        interval=poll_interval,
        on_tick=lambda s, t: ctx.reporter.step(
            f"stack {stack_name} {getattr(s, 'status', 'gone')} ({t:.0f}s)"
        ),
        what=f"deleting stack {stack_name}",
        hint=RESUME_HINT,
    )
    if last is not None:
        raise CloudhpError(
            f"stack {stack_name} could not be deleted: {last.status_reason}",
            hint=f"delete it with `openstack stack delete {stack_name}`; `cloudhp teardown` "
            "also removes it",
        )
