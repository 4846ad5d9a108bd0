"""Step 4 of `cloudhp init`: the golden image every node boots from.

A Heat stack (`heat/golden-image.yaml`) boots one builder server from the base image;
its user data makes Docker ready, loads the cluster's images from the bastion's
artifact server (cloudhp.steps.artifacts) and signals a wait condition. The server is then
snapshotted with Nova's createImage and the stack is deleted, whatever happened, so no
builder is ever left running.

The image's name carries a hash of everything that went into it (the template, the
base image, the flavor, the Docker images and `VERSION`), so it is built once and
reused by every later run, and by other clusters of the project, until an input
changes. Nodes then boot with their images already loaded instead of each one pulling
them over SSH.

Leftovers of an interrupted run are finished or cleaned: a snapshot still saving is
waited for, a failed one deleted; a builder stack is reused when complete and
otherwise deleted and rebuilt (its artifact URLs died with the run that made it).
Those verdicts, the inputs hash and the stack's parameters are pure functions in
`cloudhp.steps.golden_plan`; this module does the cloud I/O around them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openstack.exceptions as os_exc
from openstack.orchestration.util import template_format

from cloudhp.cloud.calls import cloud_call
from cloudhp.context import ClusterContext
from cloudhp.errors import (
    CloudhpError,
    ConflictError,
    EnvironmentProblem,
    GoldenBuildFailed,
)
from cloudhp.naming import resource_name
from cloudhp.polling import poll
from cloudhp.steps.artifacts import serve_images
from cloudhp.steps.golden_plan import (
    GOLDEN_TAG,
    HASH_PROPERTY,
    IMAGE_BUSY,
    SCRIPT_FAILURE,
    SIGNAL_TIMEOUT,
    SNAPSHOT_TIMEOUT,
    GoldenInputs,
    console_tail,
    existing_image_action,
    existing_stack_action,
    golden_inputs,
    idle_seconds,
    stack_output,
    stack_parameters,
)
from cloudhp.steps.keypair import keypair_name

if TYPE_CHECKING:
    import docker

    from cloudhp.images import BuiltImage

# Package data (heat/ at the top of the repo links here), so installed copies carry it.
TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "heat" / "golden-image.yaml"

BOOT_MARGIN = 300
"""Extra seconds cloudhp waits for the stack beyond the wait condition's own timeout."""
DELETE_TIMEOUT = 600
POLL_INTERVAL = 3.0


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class GoldenResult:
    image_id: str
    name: str
    built: bool  # False when an image with these inputs already existed
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "image_id": self.image_id,
            "name": self.name,
            "built": self.built,
            "seconds": round(self.seconds, 1),
        }


# --------------------------------------------------------------------------- I/O


def read_template() -> str:
    try:
        return TEMPLATE_PATH.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvironmentProblem(
            f"the golden image template {TEMPLATE_PATH} is missing",
            hint="run cloudhp from its source tree or a complete installation",
        ) from None


RESUME_HINT = "run `cloudhp init` again to resume; check the cloud's status if it happens again"


def _current_inputs(ctx: ClusterContext, images: Sequence[BuiltImage]) -> GoldenInputs | None:
    """The build inputs; before preflight, the spec's names are looked up directly."""
    template = read_template()
    if ctx.resolved is not None:
        return golden_inputs(template, ctx.resolved.image_id, ctx.resolved.flavor_id, images)
    try:
        base = ctx.conn.image.find_image(ctx.spec.image, ignore_missing=True)
        flavor = ctx.conn.compute.find_flavor(ctx.spec.flavor, ignore_missing=True)
    except os_exc.SDKException:
        return None  # preflight explains it properly
    if base is None or flavor is None:
        return None
    return golden_inputs(template, base.id, flavor.id, images)


def _images_named(ctx: ClusterContext, name: str) -> list[Any]:
    with cloud_call(f"listing images named {name}"):
        return [i for i in ctx.conn.image.images(name=name) if i.name == name]


def find_golden(
    ctx: ClusterContext,
    images: Sequence[BuiltImage],
    docker_client: docker.DockerClient | None = None,
) -> GoldenResult | None:
    """The ready golden image for these inputs, or None if it must be built.

    Works before preflight (looking up the spec's image and flavor by name), so that
    preflight can count the builder server in the quota only when one is needed.
    """
    inputs = _current_inputs(ctx, images)
    if inputs is None:
        return None
    digest = inputs.digest()
    for image in _images_named(ctx, inputs.name):
        action = existing_image_action(
            image.status or "", image.tags or [], image.properties or {}, digest
        )
        if action == "reuse":
            return GoldenResult(image.id, inputs.name, built=False, seconds=0.0)
    return None


def ensure_golden_image(
    ctx: ClusterContext,
    images: Sequence[BuiltImage],
    docker_client: docker.DockerClient,
    *,
    key_name: str | None = None,
    security_groups: Sequence[str] = (),
    timeout: int = SIGNAL_TIMEOUT,
    poll_interval: float = POLL_INTERVAL,
) -> GoldenResult:
    """Returns the golden image for `images`, building it only if its inputs are new.

    Args:
        ctx: A context that went through preflight (image, flavor, network, bastion).
        images: The Docker images the nodes need (cloudhp.images.CLUSTER_IMAGES).
        docker_client: The local engine the images are streamed from.
        key_name: Keypair for the builder; None uses the cluster's keypair if it
            exists, "" none at all.
        security_groups: Groups for the builder; empty means the project's default.
        timeout: Seconds the builder has to signal before the stack fails.
        poll_interval: Seconds between status polls.

    Returns:
        The image's id and name, whether it was built now, and how long it took.

    Raises:
        GoldenBuildFailed: The stack failed (with Heat's reason) or the snapshot failed.
        ConflictError: An image of the golden name exists that cloudhp did not make.
        WaitTimeout: The stack or snapshot took longer than allowed.
    """
    start = time.monotonic()
    resolved = ctx.need_resolved()
    inputs = golden_inputs(read_template(), resolved.image_id, resolved.flavor_id, images)
    digest, name = inputs.digest(), inputs.name
    stack_name = resource_name(ctx.spec.name, "golden")
    step = ctx.reporter.step

    existing = _existing_golden(ctx, name, digest, poll_interval)
    if existing is not None:
        _remove_stack(ctx, stack_name, poll_interval)  # a builder a crash left behind
        step(f"golden image {name} is up to date")
        return GoldenResult(existing, name, built=False, seconds=time.monotonic() - start)

    if key_name is None:
        key_name = _cluster_keypair(ctx)
    step(f"building golden image {name}")
    failure: BaseException | None = None
    try:
        with serve_images(ctx, images, docker_client) as server:
            parameters = stack_parameters(
                resolved,
                server.urls,
                build_id=digest,
                cluster=ctx.spec.name,
                key_name=key_name,
                security_groups=security_groups,
                timeout=timeout,
            )
            stack = _ensure_stack(ctx, stack_name, parameters, timeout, poll_interval)
            server_id = _builder_server_id(ctx, stack)
            summary = stack_output(stack.outputs, "images")
            if summary:
                step(f"builder loaded: {summary}")
        image_id = _snapshot(ctx, server_id, name, digest, poll_interval)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            _remove_stack(ctx, stack_name, poll_interval)
        except CloudhpError as cleanup:
            if failure is None:
                raise
            step(f"the builder stack could not be deleted either: {cleanup.message}")
    seconds = time.monotonic() - start
    step(f"golden image {name} built in {seconds:.0f}s")
    return GoldenResult(image_id, name, built=True, seconds=seconds)


def _cluster_keypair(ctx: ClusterContext) -> str:
    name = keypair_name(ctx.spec.name)
    with cloud_call("looking up the cluster keypair"):
        found = ctx.conn.compute.find_keypair(name, ignore_missing=True)
    return name if found is not None else ""


def _existing_golden(
    ctx: ClusterContext, name: str, digest: str, poll_interval: float
) -> str | None:
    """The id of a usable golden image, after finishing or clearing earlier attempts."""
    conn = ctx.conn
    for image in _images_named(ctx, name):
        action = existing_image_action(
            image.status or "",
            image.tags or [],
            image.properties or {},
            digest,
            idle_seconds(image.updated_at),
        )
        if action == "reuse":
            return str(image.id)
        if action == "foreign":
            raise ConflictError(
                f"an image named {name} ({image.id}) exists that cloudhp did not build",
                hint=f"delete or rename it (`openstack image delete {image.id}`) and run again",
            )
        if action == "wait":
            ctx.reporter.step(f"an earlier run's snapshot {image.id} is {image.status}; waiting")
            image = _wait_image(ctx, image.id, poll_interval, fail=False)
            action = "adopt" if image is not None and image.status == "active" else "delete"
        if action == "adopt":
            _tag_golden(ctx, image.id)
            return str(image.id)
        ctx.reporter.step(f"deleting the failed snapshot {image.id} ({image.status})")
        with cloud_call(f"deleting image {image.id}"):
            conn.image.delete_image(image.id, ignore_missing=True)
    return None


def _find_stack(ctx: ClusterContext, name_or_id: str) -> Any | None:
    with cloud_call(f"looking up stack {name_or_id}"):
        return ctx.conn.orchestration.find_stack(name_or_id, ignore_missing=True)


def _ensure_stack(
    ctx: ClusterContext,
    stack_name: str,
    parameters: dict[str, str],
    timeout: int,
    poll_interval: float,
) -> Any:
    """A CREATE_COMPLETE builder stack, reusing a complete one from an interrupted run."""
    orchestration, step = ctx.conn.orchestration, ctx.reporter.step
    stack = _find_stack(ctx, stack_name)
    if stack is not None:
        build_id = (stack.parameters or {}).get("build_id")
        action = existing_stack_action(stack.status or "", build_id, parameters["build_id"])
        if action == "reuse":
            step(f"reusing the complete builder stack {stack_name} of an interrupted run")
            return stack
        step(f"removing the stale builder stack {stack_name} ({stack.status})")
        _remove_stack(ctx, stack_name, poll_interval)
    template = template_format.parse(read_template())
    with cloud_call(f"creating stack {stack_name}"):
        created = orchestration.create_stack(
            name=stack_name,
            template=template,
            parameters=parameters,
            timeout_mins=math.ceil((timeout + BOOT_MARGIN) / 60),
            is_rollback_disabled=True,
            tags=[ctx.tag],
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


def _builder_server_id(ctx: ClusterContext, stack: Any) -> str:
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
        server_id = _builder_server_id(ctx, stack)
        output = ctx.conn.compute.get_server_console_output(server_id, length=60)
    except (CloudhpError, os_exc.SDKException):
        return ""
    return console_tail(str(output.get("output") or ""))


def _snapshot(
    ctx: ClusterContext, server_id: str, name: str, digest: str, poll_interval: float
) -> str:
    """createImage on the builder, waited for until active, then tagged as golden."""
    metadata = {HASH_PROPERTY: digest, "cloudhp_built_by": ctx.spec.name}
    ctx.reporter.step(f"snapshotting the builder {server_id} as {name}")
    with cloud_call(f"creating image {name} from server {server_id}"):
        image = ctx.conn.compute.create_server_image(server_id, name, metadata=metadata)
    active = _wait_image(ctx, image.id, poll_interval, fail=True)
    assert active is not None
    _tag_golden(ctx, image.id)
    return str(image.id)


def _tag_golden(ctx: ClusterContext, image_id: str) -> None:
    """Marks a finished snapshot as a golden image: only tagged ones are ever reused.

    The cluster tag goes on too, so `cloudhp teardown --images` finds it; any cluster
    of the project reuses the image by its name and the golden tag alone.
    """
    images: Any = ctx.conn.image  # Glance v2: the only image API with tags
    with cloud_call(f"tagging image {image_id}"):
        images.add_tag(image_id, ctx.tag)
        images.add_tag(image_id, GOLDEN_TAG)


def _wait_image(ctx: ClusterContext, image_id: str, poll_interval: float, *, fail: bool) -> Any:
    """Waits until an image leaves queued/saving; None or an error when it died."""

    def fetch() -> Any | None:
        try:
            return ctx.conn.image.get_image(image_id)
        except os_exc.NotFoundException:
            return None
        except os_exc.SDKException as exc:
            raise CloudhpError(f"reading image {image_id} failed: {exc}") from None

    image = poll(
        fetch,
        lambda i: i is None or i.status not in IMAGE_BUSY,
        timeout=SNAPSHOT_TIMEOUT,
        interval=poll_interval,
        on_tick=lambda i, t: ctx.reporter.step(
            f"image {image_id} {getattr(i, 'status', 'gone')} ({t:.0f}s)"
        ),
        what=f"image {image_id}",
        hint=RESUME_HINT,
    )
    if fail and (image is None or image.status != "active"):
        state = "gone" if image is None else image.status
        if image is not None:
            with cloud_call(f"deleting image {image_id}"):
                ctx.conn.image.delete_image(image_id, ignore_missing=True)
        raise GoldenBuildFailed(
            f"the snapshot {image_id} of the golden image builder is {state}",
            hint="the cloud's image service could not store it; check its quota and run again",
        )
    return image


def _remove_stack(ctx: ClusterContext, stack_name: str, poll_interval: float) -> None:
    """Deletes the builder stack, if any, and waits until it is gone."""
    stack = _find_stack(ctx, stack_name)
    if stack is None:
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
