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
otherwise deleted and rebuilt (its artifact URLs died with the run that made it),
but only if it carries the cluster's tag (`cloudhp.steps.golden_stack`, which runs the
stack). Those verdicts, the inputs hash and the stack's parameters are pure functions
in `cloudhp.steps.golden_plan`; this module does the image's cloud I/O around them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openstack.exceptions as os_exc

from cloudhp.cloud.calls import cloud_call
from cloudhp.context import ClusterContext
from cloudhp.errors import CloudhpError, ConflictError, GoldenBuildFailed
from cloudhp.naming import resource_name
from cloudhp.polling import poll
from cloudhp.steps.artifacts import serve_images
from cloudhp.steps.golden_plan import (
    GOLDEN_TAG,
    HASH_PROPERTY,
    IMAGE_BUSY,
    SIGNAL_TIMEOUT,
    SNAPSHOT_TIMEOUT,
    GoldenInputs,
    existing_image_action,
    golden_inputs,
    idle_seconds,
    stack_output,
    stack_parameters,
)
from cloudhp.steps.golden_stack import (
    RESUME_HINT,
    builder_server_id,
    ensure_stack,
    find_own_stack,
    read_template,
    remove_stack,
)
from cloudhp.steps.keypair import keypair_name

if TYPE_CHECKING:
    import docker

    from cloudhp.images import BuiltImage

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
        ConflictError: An image of the golden name, or a stack of the builder's name,
            exists that cloudhp did not make for this cluster (neither is touched).
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
        # A builder a crash left behind; a stranger's stack of that name is in no way.
        remove_stack(ctx, stack_name, poll_interval, spare_foreign=True)
        step(f"golden image {name} is up to date")
        return GoldenResult(existing, name, built=False, seconds=time.monotonic() - start)

    find_own_stack(ctx, stack_name)  # refuses a stranger's stack before any work is done
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
            stack = ensure_stack(ctx, stack_name, parameters, timeout, poll_interval)
            server_id = builder_server_id(ctx, stack)
            summary = stack_output(stack.outputs, "images")
            if summary:
                step(f"builder loaded: {summary}")
        image_id = _snapshot(ctx, server_id, name, digest, poll_interval)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            remove_stack(ctx, stack_name, poll_interval)
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
