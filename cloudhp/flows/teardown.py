"""`cloudhp teardown`: delete everything a cluster made, found by its tag alone.

No local state is read, so a cron job on another host (or after the bastion was lost)
tears a cluster down just as well (what marks a resource as the cluster's is
`cloudhp.steps.inventory`). Deletion follows dependencies (servers release ports and
volumes; ports release security groups), one routine deletes every kind, failures are
collected rather than stopping the run, and at the end everything is listed again:
whatever still carries the tag is reported as a leftover error.

A name is never taken as proof: a keypair named like the cluster's but not marked as
its own, and (with `--images`) an image that other clusters' servers boot from, are
kept and listed in the report with the reason. Such an image is handed over to those
clusters' tags, so the cluster is gone from the cloud and the last user deletes it.
The local key, when this machine has it, is extra evidence for the keypair, never a
requirement.

The cluster's Cinder volumes (those with a `cloudhp-volume` name) hold the users' data:
they are kept unless asked for (`volumes=True`) and listed with their sizes, so that
a nightly teardown and a morning init bring the data back (the next deploy finds them
by name and metadata). Kept volumes are the one exception to the leftover check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openstack.exceptions as os_exc

from cloudhp.commands.volumes import META_VOLUME
from cloudhp.errors import CloudhpError, WaitTimeout
from cloudhp.naming import cluster_tag
from cloudhp.polling import poll_until
from cloudhp.progress import Reporter
from cloudhp.steps.appcred import credential_name, delete_app_credential
from cloudhp.steps.golden_plan import image_users, kept_image_reason
from cloudhp.steps.inventory import (
    KINDS,
    Found,
    Kept,
    find_resources,
    hand_over_image,
    plan_teardown,
    servers_by_image,
)
from cloudhp.steps.keypair import read_local_key
from cloudhp.steps.volumes import cluster_volumes, metadata

BUSY_VOLUME_STATUSES = frozenset(
    {"creating", "attaching", "detaching", "reserved", "downloading", "uploading", "extending"}
)


@dataclass
class TeardownReport:
    cluster: str
    deleted: dict[str, list[str]] = field(default_factory=dict)  # kind -> names
    kept: list[Kept] = field(default_factory=list)
    kept_volumes: list[dict[str, object]] = field(default_factory=list)  # name, size_gb, id

    @property
    def counts(self) -> dict[str, int]:
        return {kind: len(names) for kind, names in self.deleted.items() if names}

    @property
    def found_nothing(self) -> bool:
        return not any(self.deleted.values())

    @property
    def changed(self) -> bool:
        """Deleting changes the cloud, and so does handing an image over."""
        return not self.found_nothing or any(k.handed_to for k in self.kept)

    def to_dict(self) -> dict[str, object]:
        return {
            "cluster": self.cluster,
            "changed": self.changed,
            "counts": self.counts,
            "deleted": {k: v for k, v in self.deleted.items() if v},
            "kept": [k.to_dict() for k in self.kept],
            "kept_volumes": self.kept_volumes,
        }


def leftovers_error(tag: str, leftovers: Sequence[Found], failures: Sequence[str]) -> CloudhpError:
    """One error naming every resource that survived, and why deleting it failed."""
    names = "; ".join(f.label() for f in plan_teardown(leftovers))
    why = ("\nerrors: " + "; ".join(failures)) if failures else ""
    return CloudhpError(
        f"teardown left {len(leftovers)} resource(s) tagged {tag}: {names}{why}",
        hint="run `cloudhp teardown` again (deletions can be slow); if they stay, delete "
        "them with the `openstack` client and check their status for the reason",
    )


@dataclass(frozen=True)
class _Kind:
    """How one kind is deleted, and how to tell it is gone (None: at once)."""

    delete: Callable[[Found], object]
    remaining: Callable[[], set[str]] | None = None


class _Deleter:
    """Deletes one kind after another, collecting failures instead of stopping."""

    def __init__(
        self, conn: Any, report: TeardownReport, reporter: Reporter, timeout: float, poll: float
    ):
        self.conn = conn
        self.cluster = report.cluster
        self.tag = cluster_tag(report.cluster)
        self.reporter = reporter
        self.timeout = timeout
        self.interval = poll
        self.failures: list[str] = []
        self.report = report
        compute, net, storage = conn.compute, conn.network, conn.block_storage
        self.kinds = {
            "stack": _Kind(
                lambda f: conn.orchestration.delete_stack(f.id),
                lambda: {st.id for st in conn.orchestration.stacks()},
            ),
            "server": _Kind(
                lambda f: compute.delete_server(f.id),
                lambda: {s.id for s in compute.servers(details=True, tags=self.tag)},
            ),
            "floating IP": _Kind(lambda f: net.delete_ip(f.id, ignore_missing=True)),
            "volume": _Kind(
                self._delete_volume, lambda: {v.id for v in storage.volumes(details=False)}
            ),
            "port": _Kind(lambda f: net.delete_port(f.id, ignore_missing=True)),
            "security group": _Kind(self._delete_group),
            "keypair": _Kind(lambda f: compute.delete_keypair(f.id)),
            "image": _Kind(lambda f: conn.image.delete_image(f.id, ignore_missing=True)),
        }

    def _until(self, done: Callable[[], bool], what: str) -> None:
        poll_until(done, timeout=self.timeout, interval=self.interval, what=what)

    def delete(self, kind: str, items: Sequence[Found]) -> None:
        """Asks for each deletion, waits until the cloud lists none of them, records them."""
        ops = self.kinds[kind]
        asked = []
        for item in items:
            try:
                ops.delete(item)
            except (os_exc.SDKException, CloudhpError) as exc:
                self.failures.append(f"{item.label()}: {exc}")
            else:
                asked.append(item)
        if asked and ops.remaining is not None:
            remaining = ops.remaining
            ids = {item.id for item in asked}
            self.reporter.step(f"deleting {len(ids)} {kind}(s)")
            try:
                self._until(lambda: not (remaining() & ids), f"deleting {len(ids)} {kind}(s)")
            except WaitTimeout as exc:
                self.failures.append(str(exc))
                return
        self.report.deleted[kind] += [item.name or item.id for item in asked]

    def keep(self, kept: Kept) -> None:
        self.report.kept.append(kept)
        self.reporter.step(f"kept {kept.item.label()}: {kept.reason}")

    def spare_shared_images(self, images: Sequence[Found]) -> list[Found]:
        """The images that may go; those other clusters' servers boot from are handed
        over to those clusters and reported as kept."""
        if not images:
            return []
        users = image_users(self.cluster, (i.id for i in images), servers_by_image(self.conn))
        free = []
        for image in images:
            if image.id not in users:
                free.append(image)
                continue
            to = tuple(users[image.id])
            try:
                hand_over_image(self.conn, image.id, self.cluster, to)
            except CloudhpError as exc:  # still tagged: the leftover check names it
                self.failures.append(f"{image.label()}: {exc.message}")
                continue
            reason = kept_image_reason(self.cluster, users[image.id])
            self.keep(Kept(image, reason, handed_to=to))
        return free

    def _delete_volume(self, item: Found) -> None:
        """Waits out transitions, then detaches the volume from whatever still holds it.

        Our servers are gone by now, so a remaining attachment is to a server that is
        not the cluster's; only the attachment of our volume is removed, the server
        itself is not touched.
        """
        storage = self.conn.block_storage
        name = item.name or item.id
        self._until(
            lambda: storage.get_volume(item.id).status not in BUSY_VOLUME_STATUSES,
            f"volume {name} settling",
        )
        volume = storage.get_volume(item.id)
        if volume.status == "in-use":
            for attachment in volume.attachments or []:
                self.reporter.step(f"detaching volume {name} from {attachment['server_id']}")
                self.conn.compute.delete_volume_attachment(
                    attachment["server_id"], item.id, ignore_missing=True
                )
            self._until(
                lambda: storage.get_volume(item.id).status in ("available", "error"),
                f"detaching volume {name}",
            )
        storage.delete_volume(item.id, ignore_missing=True)

    def _delete_group(self, item: Found) -> None:
        """Neutron refuses (409) while a port still uses the group; ports of deleted
        servers go away shortly after the servers, so a conflict is retried."""

        def deleted() -> bool:
            try:
                self.conn.network.delete_security_group(item.id, ignore_missing=True)
            except os_exc.ConflictException:
                return False
            return True

        self._until(deleted, f"deleting security group {item.name}")


def teardown(
    conn: Any,
    cluster: str,
    reporter: Reporter,
    include_images: bool = False,
    *,
    volumes: bool = False,
    key_path: Path | None = None,
    cluster_dir: Path | None = None,
    timeout: float = 600.0,
    poll: float = 2.0,
) -> TeardownReport:
    """Deletes every resource of `cluster`, then checks that nothing tagged remains.

    Args:
        conn: An openstacksdk Connection to the cluster's project.
        cluster: The cluster name; its tag is all that is needed.
        reporter: Progress.
        include_images: Also delete the cluster's golden images (slow to rebuild, so
            kept by default) that no other cluster's servers boot from.
        volumes: Also delete the cluster's Cinder volumes (kept by default: they hold
            the application's data).
        key_path: Where this machine keeps the cluster's private key, if it does: a
            keypair holding its public half is the cluster's even without the marker.
        cluster_dir: The cluster's directory on this machine, if any: its saved
            application credential is removed with the credential itself.
        timeout: Longest wait for servers or volumes to disappear, each.
        poll: Seconds between two looks at what is left.

    Returns:
        What was deleted, by kind, and what was kept and why; nothing deleted on a
        second run.

    Raises:
        CloudhpError: When anything tagged remains afterwards, naming each leftover and
            the error its deletion met.
        UsageError: For an invalid cluster name.
    """
    tag = cluster_tag(cluster)
    local_key = read_local_key(key_path) if key_path is not None else None
    with reporter.phase("teardown") as ph:
        inventory = find_resources(conn, cluster, include_images, local_key)
        deleter = _Deleter(
            conn, TeardownReport(cluster, {kind: [] for kind in KINDS}), reporter, timeout, poll
        )
        for kept in inventory.kept:
            deleter.keep(kept)
        spared = set() if volumes else _keep_volumes(conn, cluster, deleter)
        found = [f for f in inventory.found if f.id not in spared]
        if not found:
            reporter.step(f"nothing tagged {tag} found: nothing to delete")
            return _without_credential(conn, cluster, cluster_dir, deleter.report)
        counts = {kind: sum(1 for f in found if f.kind == kind) for kind in KINDS}
        reporter.step("found " + ", ".join(f"{n} {kind}(s)" for kind, n in counts.items() if n))
        by_kind = {kind: [f for f in found if f.kind == kind] for kind in KINDS}
        for kind in KINDS:
            items = by_kind[kind]
            if kind == "port":  # ports of servers may have gone with them: list them again
                items = [f for f in find_resources(conn, cluster).found if f.kind == "port"]
            if kind == "image":  # the servers are gone: who else boots from them now
                items = deleter.spare_shared_images(items)
            deleter.delete(kind, items)
        left = [f for f in find_resources(conn, cluster, include_images, local_key).found
                if f.id not in spared]  # fmt: skip
        if left:
            ph.changed = deleter.report.changed
            raise leftovers_error(tag, left, deleter.failures)
        report = _without_credential(conn, cluster, cluster_dir, deleter.report)
        ph.changed = report.changed
        if report.counts:
            reporter.step(
                "deleted " + ", ".join(f"{n} {kind}(s)" for kind, n in report.counts.items())
            )
        return report


def _keep_volumes(conn: Any, cluster: str, deleter: _Deleter) -> set[str]:
    """The ids of the cluster's named volumes, each reported kept with its size."""
    kept = set()
    for volume in cluster_volumes(conn, cluster):
        logical = metadata(volume)[META_VOLUME]
        item = Found("volume", str(volume.id), str(volume.name), str(volume.status))
        reason = f"volume {logical} of {volume.size} GiB holds data: --volumes deletes it"
        deleter.keep(Kept(item, reason))
        deleter.report.kept_volumes.append(
            {"name": logical, "size_gb": int(volume.size), "id": str(volume.id)}
        )
        kept.add(str(volume.id))
    return kept


def _without_credential(
    conn: Any, cluster: str, cluster_dir: Path | None, report: TeardownReport
) -> TeardownReport:
    """The application credential goes last: this very teardown may be running on it."""
    if delete_app_credential(conn, cluster, cluster_dir):
        report.deleted["application credential"] = [credential_name(cluster)]
    return report
