"""`cloudhp teardown`: delete everything a cluster made, found by its tag alone.

No local state is read, so a cron job on another host (or after the bastion was lost)
tears a cluster down just as well. What marks a resource as the cluster's:

- servers, floating IPs, ports, security groups, images: the tag `cloudhp-cluster=<name>`
  (Nova, Neutron and Glance tags);
- volumes: the metadata key `cloudhp-cluster` with the cluster's name (Cinder has no tags);
- the keypair: its exact name `<name>-key` (Nova keypairs have neither).

Every listing is filtered by the cloud AND checked again here (tag present, project is
ours), because deleting on the word of a filter that a cloud might ignore, or that an
admin token widens to all projects, could delete someone else's resources. Deletion
follows dependencies (servers release ports and volumes; ports release security groups),
failures are collected rather than stopping the run, and at the end everything is listed
again: whatever still carries the tag is reported as a leftover error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import openstack.exceptions as os_exc

from cloudhp.cloud.calls import poll_until
from cloudhp.errors import CloudhpError, WaitTimeout
from cloudhp.naming import TAG_KEY, cluster_tag
from cloudhp.progress import Reporter
from cloudhp.steps.keypair import find_keypair, keypair_name

KINDS = ("stack", "server", "floating IP", "volume", "port", "security group", "keypair", "image")
"""Deletion order: each kind may hold on to the ones after it, never to those before."""

GONE_IMAGE_STATUSES = frozenset({"deleted", "pending_delete"})
BUSY_VOLUME_STATUSES = frozenset(
    {"creating", "attaching", "detaching", "reserved", "downloading", "uploading", "extending"}
)


@dataclass(frozen=True)
class Found:
    """A resource that carries the cluster's marker."""

    kind: str
    id: str
    name: str
    status: str = ""
    attached_to: tuple[str, ...] = ()  # volumes: the servers they are attached to

    def label(self) -> str:
        return f"{self.kind} {self.name or '(unnamed)'} ({self.id})"


@dataclass
class TeardownReport:
    cluster: str
    deleted: dict[str, list[str]] = field(default_factory=dict)  # kind -> names

    @property
    def counts(self) -> dict[str, int]:
        return {kind: len(names) for kind, names in self.deleted.items() if names}

    @property
    def found_nothing(self) -> bool:
        return not any(self.deleted.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "cluster": self.cluster,
            "changed": not self.found_nothing,
            "counts": self.counts,
            "deleted": {k: v for k, v in self.deleted.items() if v},
        }


# --------------------------------------------------------------------------- pure logic


def plan_teardown(found: Iterable[Found]) -> list[Found]:
    """The order to delete in: by kind (KINDS), then by name, so runs are reproducible.

    Raises:
        ValueError: For a kind this module does not know how to delete.
    """
    items = list(found)
    for item in items:
        if item.kind not in KINDS:
            raise ValueError(f"unknown resource kind {item.kind!r}")
    return sorted(items, key=lambda f: (KINDS.index(f.kind), f.name, f.id))


def has_tag(tags: Iterable[str] | None, tag: str) -> bool:
    return tag in (tags or [])


def is_cluster_volume(metadata: dict[str, str] | None, cluster: str) -> bool:
    return (metadata or {}).get(TAG_KEY) == cluster


def leftovers_error(tag: str, leftovers: Sequence[Found], failures: Sequence[str]) -> CloudhpError:
    """One error naming every resource that survived, and why deleting it failed."""
    names = "; ".join(f.label() for f in plan_teardown(leftovers))
    why = ("\nerrors: " + "; ".join(failures)) if failures else ""
    return CloudhpError(
        f"teardown left {len(leftovers)} resource(s) tagged {tag}: {names}{why}",
        hint="run `cloudhp teardown` again (deletions can be slow); if they stay, delete "
        "them with the `openstack` client and check their status for the reason",
    )


# --------------------------------------------------------------------------- finding


def _server_tags(conn: Any, server: Any) -> list[str]:
    if server.tags is not None:
        return list(server.tags)
    return list(server.fetch_tags(conn.compute).tags or [])  # microversion < 2.26 views


MISSING_SERVICE = (os_exc.ServiceDisabledException, os_exc.EndpointNotFound)
"""What openstacksdk raises for a service the catalog lacks (a cloud without Cinder)."""


def _if_service(find: Callable[[], list[Found]]) -> list[Found]:
    """A kind whose service the cloud does not have cannot have left anything behind."""
    try:
        return find()
    except MISSING_SERVICE:
        return []


def _stack_tags(stack: Any) -> list[str]:
    tags = stack.tags or []
    return tags.split(",") if isinstance(tags, str) else list(tags)


def find_cluster_resources(conn: Any, cluster: str, include_images: bool = False) -> list[Found]:
    """Everything that carries the cluster's marker in the current project, in plan order."""
    tag = cluster_tag(cluster)
    project_id = conn.current_project_id
    net = conn.network

    def servers() -> list[Found]:
        return [
            Found("server", s.id, s.name, s.status or "")
            for s in conn.compute.servers(details=True, tags=tag)
            if has_tag(_server_tags(conn, s), tag)
        ]

    def floating_ips() -> list[Found]:
        return [
            Found("floating IP", f.id, f.floating_ip_address or "", f.status or "")
            for f in net.ips(tags=tag, project_id=project_id)
            if has_tag(f.tags, tag) and f.project_id == project_id
        ]

    def volumes() -> list[Found]:
        # Cinder filters metadata inconsistently across releases: list, then check here.
        return [
            Found(
                "volume",
                v.id,
                v.name or "",
                v.status or "",
                tuple(a.get("server_id", "") for a in v.attachments or []),
            )
            for v in conn.block_storage.volumes(details=True)
            if is_cluster_volume(v.metadata, cluster)
        ]

    def ports() -> list[Found]:
        return [
            Found("port", p.id, p.name or "", p.status or "")
            for p in net.ports(tags=tag, project_id=project_id)
            if has_tag(p.tags, tag) and p.project_id == project_id
        ]

    def security_groups() -> list[Found]:
        return [
            Found("security group", g.id, g.name)
            for g in net.security_groups(tags=tag, project_id=project_id)
            if has_tag(g.tags, tag) and g.project_id == project_id
        ]

    def keypairs() -> list[Found]:
        keypair = find_keypair(conn, keypair_name(cluster))
        return [] if keypair is None else [Found("keypair", keypair.name, keypair.name)]

    def images() -> list[Found]:
        return [
            Found("image", i.id, i.name or "", i.status or "")
            for i in conn.image.images(tag=tag, owner=project_id)
            if has_tag(i.tags, tag)
            and i.owner == project_id
            and i.status not in GONE_IMAGE_STATUSES
        ]

    def stacks() -> list[Found]:
        # A golden-image builder stack left by an interrupted run owns a server.
        return [
            Found("stack", st.id, st.name or "", st.status or "")
            for st in conn.orchestration.stacks()
            if has_tag(_stack_tags(st), tag)
        ]

    finders = [stacks, servers, floating_ips, volumes, ports, security_groups, keypairs]
    if include_images:
        finders.append(images)
    return plan_teardown(found for find in finders for found in _if_service(find))


def _find_cluster_resources_safe(conn: Any, cluster: str, include_images: bool) -> list[Found]:
    try:
        return find_cluster_resources(conn, cluster, include_images)
    except os_exc.SDKException as exc:
        raise CloudhpError(f"cannot list the cluster's resources: {exc}") from None


# --------------------------------------------------------------------------- deleting


class _Deleter:
    """Deletes one kind after another, collecting failures instead of stopping."""

    def __init__(self, conn: Any, cluster: str, reporter: Reporter, timeout: float, poll: float):
        self.conn = conn
        self.cluster = cluster
        self.tag = cluster_tag(cluster)
        self.reporter = reporter
        self.timeout = timeout
        self.interval = poll
        self.failures: list[str] = []
        self.report = TeardownReport(cluster, {kind: [] for kind in KINDS})

    def _try(self, item: Found, action: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
        """Runs action(*args, **kwargs); a failure is recorded for the final report."""
        try:
            action(*args, **kwargs)
        except (os_exc.SDKException, CloudhpError) as exc:
            self.failures.append(f"{item.label()}: {exc}")
            return False
        return True

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        poll_until(done, timeout=self.timeout, interval=self.interval, what=what)

    def _done(self, item: Found) -> None:
        self.report.deleted[item.kind].append(item.name or item.id)

    def stacks(self, items: Sequence[Found]) -> None:
        heat = self.conn.orchestration
        asked = [st for st in items if self._try(st, heat.delete_stack, st.id)]
        if not asked:
            return
        self.reporter.step(f"deleting {len(asked)} stack(s)")
        ids = {st.id for st in asked}

        def all_gone() -> bool:
            return not ({st.id for st in heat.stacks()} & ids)

        try:
            poll_until(
                all_gone,
                timeout=self.timeout,
                interval=self.interval,
                what=f"deleting {len(ids)} stack(s)",
            )
        except WaitTimeout as exc:
            self.failures.append(str(exc))
            return
        for st in asked:
            self._done(st)

    def servers(self, items: Sequence[Found]) -> None:
        compute = self.conn.compute
        asked = [s for s in items if self._try(s, compute.delete_server, s.id)]
        if not asked:
            return
        self.reporter.step(f"deleting {len(asked)} server(s)")
        ids = {s.id for s in asked}

        def all_gone() -> bool:
            left = {s.id for s in compute.servers(details=True, tags=self.tag)} & ids
            return not left

        try:
            poll_until(
                all_gone,
                timeout=self.timeout,
                interval=self.interval,
                what=f"deleting {len(ids)} server(s)",
            )
        except WaitTimeout as exc:
            self.failures.append(str(exc))
            return
        for s in asked:
            self._done(s)

    def floating_ips(self, items: Sequence[Found]) -> None:
        for f in items:
            if self._try(f, self.conn.network.delete_ip, f.id, ignore_missing=True):
                self._done(f)

    def volumes(self, items: Sequence[Found]) -> None:
        storage = self.conn.block_storage
        deleted = []
        for v in items:
            ok = self._try(v, self._detach, v)
            if ok and self._try(v, storage.delete_volume, v.id, ignore_missing=True):
                deleted.append(v)
        if not deleted:
            return
        self.reporter.step(f"deleting {len(deleted)} volume(s)")
        ids = {v.id for v in deleted}

        def all_gone() -> bool:
            return not ({v.id for v in storage.volumes(details=False)} & ids)

        try:
            poll_until(
                all_gone,
                timeout=self.timeout,
                interval=self.interval,
                what=f"deleting {len(ids)} volume(s)",
            )
        except WaitTimeout as exc:
            self.failures.append(str(exc))
            return
        for v in deleted:
            self._done(v)

    def _detach(self, item: Found) -> None:
        """Waits out transitions, then detaches the volume from whatever still holds it.

        Our servers are gone by now, so a remaining attachment is to a server that is
        not the cluster's; only the attachment of our volume is removed, the server
        itself is not touched.
        """
        storage = self.conn.block_storage

        def settled() -> bool:
            return storage.get_volume(item.id).status not in BUSY_VOLUME_STATUSES

        poll_until(
            settled,
            timeout=self.timeout,
            interval=self.interval,
            what=f"volume {item.name or item.id} settling",
        )
        volume = storage.get_volume(item.id)
        if volume.status != "in-use":
            return
        for attachment in volume.attachments or []:
            self.reporter.step(f"detaching volume {item.name} from {attachment['server_id']}")
            self.conn.compute.delete_volume_attachment(
                attachment["server_id"], item.id, ignore_missing=True
            )

        def detached() -> bool:
            return storage.get_volume(item.id).status in ("available", "error")

        poll_until(
            detached,
            timeout=self.timeout,
            interval=self.interval,
            what=f"detaching volume {item.name or item.id}",
        )

    def ports(self, items: Sequence[Found]) -> None:
        for p in items:
            if self._try(p, self.conn.network.delete_port, p.id, ignore_missing=True):
                self._done(p)

    def security_groups(self, items: Sequence[Found]) -> None:
        for g in items:
            if self._try(g, self._delete_group, g.id):
                self._done(g)

    def _delete_group(self, group_id: str) -> None:
        """Neutron refuses (409) while a port still uses the group; ports of deleted
        servers go away shortly after the servers, so a conflict is retried."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.conn.network.delete_security_group(group_id, ignore_missing=True)
                return
            except os_exc.ConflictException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(self.interval)

    def keypairs(self, items: Sequence[Found]) -> None:
        for k in items:
            if self._try(k, self.conn.compute.delete_keypair, k.id):
                self._done(k)

    def images(self, items: Sequence[Found]) -> None:
        for i in items:
            if self._try(i, self.conn.image.delete_image, i.id, ignore_missing=True):
                self._done(i)


def teardown(
    conn: Any,
    cluster: str,
    reporter: Reporter,
    include_images: bool = False,
    *,
    timeout: float = 600.0,
    poll: float = 2.0,
) -> TeardownReport:
    """Deletes every resource of `cluster`, then checks that nothing tagged remains.

    Args:
        conn: An openstacksdk Connection to the cluster's project.
        cluster: The cluster name; its tag is all that is needed.
        reporter: Progress.
        include_images: Also delete the cluster's golden images (slow to rebuild, so
            kept by default).
        timeout: Longest wait for servers or volumes to disappear, each.
        poll: Seconds between two looks at what is left.

    Returns:
        What was deleted, by kind; empty on a second run.

    Raises:
        CloudhpError: When anything tagged remains afterwards, naming each leftover and
            the error its deletion met.
        UsageError: For an invalid cluster name.
    """
    tag = cluster_tag(cluster)
    with reporter.phase("teardown") as ph:
        found = _find_cluster_resources_safe(conn, cluster, include_images)
        if not found:
            reporter.step(f"nothing tagged {tag} found: nothing to delete")
            return TeardownReport(cluster, {kind: [] for kind in KINDS})
        counts = {kind: sum(1 for f in found if f.kind == kind) for kind in KINDS}
        reporter.step("found " + ", ".join(f"{n} {kind}(s)" for kind, n in counts.items() if n))
        deleter = _Deleter(conn, cluster, reporter, timeout, poll)
        by_kind = {kind: [f for f in found if f.kind == kind] for kind in KINDS}
        deleter.stacks(by_kind["stack"])
        deleter.servers(by_kind["server"])
        deleter.floating_ips(by_kind["floating IP"])
        deleter.volumes(by_kind["volume"])
        # Ports created for servers may have gone with them: list them again.
        ports = [f for f in _find_cluster_resources_safe(conn, cluster, False) if f.kind == "port"]
        deleter.ports(ports)
        deleter.security_groups(by_kind["security group"])
        deleter.keypairs(by_kind["keypair"])
        deleter.images(by_kind["image"])
        report = deleter.report
        ph.changed = not report.found_nothing
        left = _find_cluster_resources_safe(conn, cluster, include_images)
        if left:
            raise leftovers_error(tag, left, deleter.failures)
        reporter.step("deleted " + ", ".join(f"{n} {kind}(s)" for kind, n in report.counts.items()))
        return report
