"""Only what cloudhp made goes, on a real localcloud: a keypair that merely bears the
cluster's name, a stranger's stack named like the golden builder, and a golden image
another cluster boots from all survive, and the report says why."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openstack.exceptions as os_exc
import pytest
from cluster_support import boot, ready
from openstack.connection import Connection

from cloudhp.context import ClusterContext
from cloudhp.errors import ConflictError
from cloudhp.flows.teardown import teardown
from cloudhp.images import BuiltImage
from cloudhp.keys import ensure_keypair
from cloudhp.naming import cluster_tag, resource_name
from cloudhp.progress import RecordingReporter
from cloudhp.steps.golden import ensure_golden_image, read_template
from cloudhp.steps.golden_plan import GOLDEN_TAG, HASH_PROPERTY, golden_inputs
from cloudhp.steps.inventory import Found
from cloudhp.steps.keypair import ensure_cloud_keypair, find_keypair, keypair_name

pytestmark = pytest.mark.docker

MakeCtx = Callable[..., ClusterContext]
STRANGER_TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "resources": {"handle": {"type": "OS::Heat::WaitConditionHandle"}},
}


def never_built() -> list[BuiltImage]:
    """Docker images no golden image was ever made of, so its name is this test's alone."""
    digest = uuid.uuid4().hex
    return [BuiltImage("ownership", f"cloudhp/ownership:{digest[:12]}", f"sha256:{digest}", False)]


def exists(get: Callable[[str], Any], rid: str) -> bool:
    try:
        get(rid)
    except os_exc.NotFoundException:
        return False
    return True


@pytest.fixture
def stranger_stack(conn: Connection) -> Iterator[Callable[[str], Any]]:
    """Makes an untagged stack of the given name, as a user would; deleted afterwards."""
    made: list[Any] = []

    def make(name: str) -> Any:
        made.append(conn.orchestration.create_stack(name=name, template=STRANGER_TEMPLATE))
        deadline = time.monotonic() + 60
        while (stack := conn.orchestration.get_stack(made[-1].id)).status.endswith("PROGRESS"):
            assert time.monotonic() < deadline, stack.status
            time.sleep(0.5)
        assert stack.status == "CREATE_COMPLETE", stack.status_reason
        return stack

    yield make
    for stack in made:
        conn.orchestration.delete_stack(stack, ignore_missing=True)


def test_a_keypair_that_only_bears_the_cluster_s_name_survives_teardown(
    make_ctx: MakeCtx, conn: Connection, tmp_path: Path
) -> None:
    ctx = make_ctx()
    c = ctx.spec.name
    name = keypair_name(c)
    alice = ensure_keypair(tmp_path / "alice", comment="alice@laptop")
    conn.compute.create_keypair(name=name, public_key=alice.public_key)
    try:
        ensure_keypair(ctx.key_path)  # this host has a key of the cluster: another one
        for key_path in (None, ctx.key_path):  # a credentials-only host; the bastion
            reporter = RecordingReporter()
            report = teardown(conn, c, reporter, key_path=key_path, poll=0.5)
            assert report.found_nothing and not report.changed
            [kept] = report.kept
            assert kept.item == Found("keypair", name, name)
            assert f"comment is 'alice@laptop', not {cluster_tag(c)}" in kept.reason
            assert reporter.steps[0] == f"kept keypair {name} ({name}): {kept.reason}"
            assert find_keypair(conn, name) is not None
    finally:
        conn.compute.delete_keypair(name, ignore_missing=True)


def test_cloudhp_s_keypair_goes_from_a_host_without_its_key_and_an_old_one_with_it(
    make_ctx: MakeCtx, conn: Connection
) -> None:
    ctx = make_ctx()
    c = ctx.spec.name
    name, _ = ensure_cloud_keypair(ctx)
    assert conn.compute.get_keypair(name).public_key.split()[2:] == [cluster_tag(c)]
    report = teardown(conn, c, RecordingReporter(), poll=0.5)  # no local key at all
    assert report.deleted["keypair"] == [name] and report.kept == []

    # One imported before the marker (comment "cloudhp-<name>") is known by the key alone.
    local = ensure_keypair(ctx.key_path, comment=f"cloudhp-{c}")
    conn.compute.create_keypair(name=name, public_key=local.public_key)
    kept = teardown(conn, c, RecordingReporter(), poll=0.5)
    assert [k.item for k in kept.kept] == [Found("keypair", name, name)]
    gone = teardown(conn, c, RecordingReporter(), key_path=ctx.key_path, poll=0.5)
    assert gone.deleted["keypair"] == [name] and find_keypair(conn, name) is None


def test_a_stranger_s_stack_named_like_the_builder_stops_init_untouched(
    make_ctx: MakeCtx,
    conn: Connection,
    engine: Any,
    stranger_stack: Callable[[str], Any],
) -> None:
    ctx = ready(make_ctx)
    stack = stranger_stack(resource_name(ctx.spec.name, "golden"))
    with pytest.raises(ConflictError) as err:
        ensure_golden_image(ctx, never_built(), engine, poll_interval=1)
    assert err.value.message.startswith(
        f"a Heat stack named {stack.name} ({stack.id}) exists that cloudhp did not create "
        f"for cluster {ctx.spec.name}: it has no tags, not {ctx.tag};"
    )
    assert f"openstack stack delete {stack.id}" in (err.value.hint or "")
    assert "--name" in (err.value.hint or "")
    assert conn.orchestration.get_stack(stack.id).status == "CREATE_COMPLETE"
    assert not any("building" in s for s in ctx.reporter.steps)  # type: ignore[attr-defined]


def _golden_snapshot(conn: Connection, ctx: ClusterContext, images: list[BuiltImage]) -> Any:
    """What cluster `ctx`'s init leaves: a golden image of `images`, tagged for it."""
    res = ctx.need_resolved()
    inputs = golden_inputs(read_template(), res.image_id, res.flavor_id, images)
    server = boot(conn, ctx, resource_name(ctx.spec.name, "manager", 1), tagged=True)
    conn.compute.wait_for_server(server, wait=300, interval=1)
    image = conn.compute.create_server_image(
        server, inputs.name, metadata={HASH_PROPERTY: inputs.digest()}, wait=True, timeout=300
    )
    for tag in (ctx.tag, GOLDEN_TAG):
        conn.image.add_tag(image, tag)
    return conn.image.get_image(image.id)


def test_a_golden_image_another_cluster_boots_from_outlives_its_builder_s_teardown(
    make_ctx: MakeCtx,
    conn: Connection,
    engine: Any,
    stranger_stack: Callable[[str], Any],
) -> None:
    images = never_built()
    a = ready(make_ctx)
    golden = _golden_snapshot(conn, a, images)

    # Cluster b's init reuses a's image; a stranger's stack of b's builder name is spared.
    b = ready(make_ctx)
    stack = stranger_stack(resource_name(b.spec.name, "golden"))
    reused = ensure_golden_image(b, images, engine, poll_interval=1)
    assert (reused.image_id, reused.built) == (golden.id, False)
    assert exists(conn.orchestration.get_stack, stack.id)
    assert any(
        s.startswith(f"left alone: a Heat stack named {stack.name}")
        for s in b.reporter.steps  # type: ignore[attr-defined]
    )
    worker = boot(conn, b, resource_name(b.spec.name, "worker", 1), True, image_id=golden.id)
    conn.compute.wait_for_server(worker, wait=300, interval=1)

    reporter = RecordingReporter()
    report = teardown(conn, a.spec.name, reporter, include_images=True, poll=0.5)
    assert report.counts == {"server": 1}
    [kept] = report.kept
    assert (kept.item.kind, kept.item.id, kept.handed_to) == ("image", golden.id, (b.spec.name,))
    assert kept.reason.startswith(
        f"servers of other clusters boot from it (cluster {b.spec.name}: {worker.name})"
    )
    assert f"kept image {golden.name} ({golden.id}): {kept.reason}" in reporter.steps
    after = conn.image.get_image(golden.id)
    assert after.status == "active"
    assert set(after.tags) == {b.tag, GOLDEN_TAG}  # b's now, so b's teardown finds it

    # The last cluster using it takes it along.
    last = teardown(conn, b.spec.name, RecordingReporter(), include_images=True, poll=0.5)
    assert last.deleted["image"] == [golden.name] and last.kept == []
    assert not exists(conn.image.get_image, golden.id)
