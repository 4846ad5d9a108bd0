"""The golden image's decisions, apart from the cloud: what goes into its name, what
the builder stack is given, what to do with leftovers of an earlier run, and whether
teardown may delete an image other clusters boot from.

`cloudhp.steps.golden` does the I/O and asks these functions at each turn, so every verdict
(reuse, adopt, wait, delete, refuse a foreign image) is unit-tested without a cloud.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from cloudhp.naming import cluster_tag

if TYPE_CHECKING:
    from cloudhp.context import Resolved
    from cloudhp.images import BuiltImage

VERSION = "1"
"""Bump when the build procedure changes in a way the hashed inputs do not show."""

GOLDEN_TAG = "cloudhp-golden"
HASH_PROPERTY = "cloudhp_inputs_hash"
NAME_PREFIX = "cloudhp-golden-"

SIGNAL_TIMEOUT = 1200
"""Seconds the wait condition gives the builder to boot, load the images and signal."""
SNAPSHOT_TIMEOUT = 1800
"""Seconds a snapshot may take; one unchanged for longer will never finish."""

IMAGE_BUSY = frozenset({"queued", "saving", "uploading", "importing"})
"""Glance statuses of an image still being written, so worth waiting for."""


@dataclass(frozen=True)
class GoldenInputs:
    """Everything the golden image's content depends on, and nothing else.

    The keypair, network and security groups are left out on purpose: they shape the
    builder, not the snapshot (the builder's authorized_keys are removed before it).
    """

    template: str
    base_image_id: str
    flavor_id: str
    docker_images: tuple[str, ...]  # "<tag>@<id>", sorted
    version: str = VERSION

    def digest(self) -> str:
        document = json.dumps(
            {
                "template": self.template,
                "base_image_id": self.base_image_id,
                "flavor_id": self.flavor_id,
                "docker_images": list(self.docker_images),
                "version": self.version,
            },
            sort_keys=True,
        )
        return hashlib.sha256(document.encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        return golden_image_name(self.digest())


def golden_inputs(
    template: str, base_image_id: str, flavor_id: str, images: Sequence[BuiltImage]
) -> GoldenInputs:
    """The inputs of a build; the order in which images are given does not matter."""
    refs = tuple(sorted({f"{i.tag}@{i.id}" for i in images}))
    return GoldenInputs(template, base_image_id, flavor_id, refs)


def golden_image_name(digest: str) -> str:
    return f"{NAME_PREFIX}{digest}"


def stack_parameters(
    resolved: Resolved,
    image_urls: Sequence[str],
    *,
    build_id: str,
    cluster: str,
    key_name: str | None = None,
    security_groups: Sequence[str] = (),
    timeout: int = SIGNAL_TIMEOUT,
) -> dict[str, str]:
    """The template's parameters, as strings, the way `openstack stack create` sends them."""
    for url in image_urls:
        if "," in url or any(c.isspace() for c in url):
            raise ValueError(f"artifact URL {url!r} cannot go into a comma-delimited list")
    return {
        "image": resolved.image_id,
        "flavor": resolved.flavor_id,
        "key_name": key_name or "",
        "network": resolved.network_id,
        "security_groups": ",".join(security_groups),
        "image_urls": ",".join(image_urls),
        "timeout": str(int(timeout)),
        "build_id": build_id,
        "cluster": cluster,
    }


StackAction = Literal["reuse", "wait", "delete", "wait-delete"]


def existing_stack_action(status: str, build_id: str | None, wanted: str) -> StackAction:
    """What to do with a builder stack found from an earlier run.

    A complete stack of the same build holds a server with the images loaded: reuse it.
    Anything else in progress is stale, because its artifact URLs died with the run
    that made it; failed stacks and other builds are deleted.
    """
    if status == "DELETE_IN_PROGRESS":
        return "wait-delete"
    if status == "CREATE_COMPLETE" and build_id == wanted:
        return "reuse"
    return "delete"


ImageAction = Literal["reuse", "adopt", "wait", "delete", "foreign"]


def existing_image_action(
    status: str,
    tags: Sequence[str],
    properties: dict[str, Any],
    digest: str,
    idle_seconds: float = 0.0,
) -> ImageAction:
    """What to do with an image already named like the golden image.

    Ours means it carries our hash property (set atomically by createImage); an image
    of that name without it was made by someone else and is never touched. A snapshot
    still queued or saving is waited for unless it has not changed for longer than a
    snapshot may take: then its builder is long gone and it will never finish.
    """
    ours = properties.get(HASH_PROPERTY) == digest
    if status == "active" and GOLDEN_TAG in tags and ours:
        return "reuse"
    if not ours:
        return "foreign"
    if status == "active":
        return "adopt"  # snapshot finished after its run was interrupted before tagging
    if status in IMAGE_BUSY and idle_seconds <= SNAPSHOT_TIMEOUT:
        return "wait"
    return "delete"


def idle_seconds(updated_at: str | None, now: datetime | None = None) -> float:
    """Seconds since an API timestamp ("2024-05-01T10:00:00Z"); 0 when unknown."""
    if not updated_at:
        return 0.0
    try:
        then = datetime.fromisoformat(updated_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, ((now or datetime.now(UTC)) - then).total_seconds())


def stack_output(outputs: Sequence[dict[str, Any]] | None, key: str) -> Any:
    for output in outputs or ():
        if output.get("output_key") == key:
            return output.get("output_value")
    return None


SCRIPT_FAILURE = "golden image build failed while"
"""How the builder's user data words a FAILURE signal (heat/golden-image.yaml)."""

_KEY_LINE = re.compile(r"(ssh|ecdsa|sk)-[\w@.-]+ AAAA|BEGIN SSH HOST KEY|END SSH HOST KEY")


def console_tail(console: str, lines: int = 8) -> str:
    """The builder's own log lines if it printed any, else the end of its console.

    Host key lines are left out: they are long, and say nothing about a failure.
    """
    kept = [line for line in console.splitlines() if line.strip() and not _KEY_LINE.search(line)]
    ours = [line for line in kept if "cloudhp-golden:" in line]
    return "\n".join((ours or kept)[-lines:])


@dataclass(frozen=True)
class ServerImage:
    """A server as teardown's image decision sees it."""

    name: str
    image_id: str  # "" when booted from a volume, which holds its own copy of the image
    clusters: tuple[str, ...]  # the clusters its cloudhp-cluster tags name


def image_users(
    cluster: str, image_ids: Iterable[str], servers: Iterable[ServerImage]
) -> dict[str, dict[str, list[str]]]:
    """Which of `cluster`'s images other clusters' servers boot from: image id ->
    cluster -> its servers (sorted). An image missing from the result may be deleted.

    A golden image is shared by name with every cluster of the same inputs but carries
    only the tags of the clusters it was given to, so the tag alone would let one
    cluster's teardown delete the image under another's nodes (which then cannot be
    rebuilt, nor the cluster grown from it). The cluster's own servers do not count:
    they are deleted first. Nor do servers outside any cluster: cloudhp keeps no
    account of them, and the cloud keeps running them without their image.
    """
    wanted = set(image_ids)
    users: dict[str, dict[str, list[str]]] = {}
    for server in servers:
        if server.image_id not in wanted:
            continue
        for other in server.clusters:
            if other != cluster:
                users.setdefault(server.image_id, {}).setdefault(other, []).append(server.name)
    return {
        image: {c: sorted(names) for c, names in sorted(by_cluster.items())}
        for image, by_cluster in users.items()
    }


def _some(names: Sequence[str], shown: int = 3) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def kept_image_reason(cluster: str, users: Mapping[str, Sequence[str]]) -> str:
    """Why an image was kept, and what became of it (handed over to its users' tags)."""
    uses = "; ".join(f"cluster {c}: {_some(names)}" for c, names in sorted(users.items()))
    tags = ", ".join(cluster_tag(c) for c in sorted(users))
    return (
        f"servers of other clusters boot from it ({uses}); it is now tagged {tags} instead "
        f"of {cluster_tag(cluster)}, so the teardown --images of the last of them deletes it"
    )
