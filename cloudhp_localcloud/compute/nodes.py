"""The Docker objects behind Nova servers and their snapshots, and how to reach them.

Each Nova server is a node container (cloudhp.images.nodecontainers) named
`lc-server-<server id>` (dockerlabels.server_container) with its nested engine's
data in the volume `lc-server-<server id>-docker`. A snapshot is the image
`cloudhp/lc-image:<image id>` plus the volume `lc-image-<image id>-docker`
(snapshots.py says why both). Everything here is one Docker call or a short
sequence of them, with no server state: lifecycle.py keeps that.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from cloudhp.images.nodecontainers import remove_node
from cloudhp_localcloud import dockerlabels

log = logging.getLogger(__name__)

IMAGE_REPOSITORY = "cloudhp/lc-image"

_local = threading.local()
_node_image: str | None = None
_node_image_guard = threading.Lock()


def container_name(server_id: str) -> str:
    return dockerlabels.server_container(server_id)


def volume_name(server_id: str) -> str:
    return f"{container_name(server_id)}-docker"


def image_volume_name(image_id: str) -> str:
    return f"lc-image-{image_id}-docker"


def image_tag(image_id: str) -> str:
    return f"{IMAGE_REPOSITORY}:{image_id}"


def client() -> docker.DockerClient:
    """A Docker client per thread: docker-py's session is not meant to be shared."""
    found = getattr(_local, "client", None)
    if found is None:
        found = docker.from_env(timeout=300)
        _local.client = found
    return found


class _BuildLog:
    """Where building the node image reports its progress: our log.

    cloudhp.images takes a cloudhp.progress Reporter, a module the local cloud does not
    import; building calls only its `step`, so this is passed untyped.
    """

    def step(self, message: str) -> None:
        log.info("node image: %s", message)


def known_node_image() -> str | None:
    """The node image tag if already resolved in this process (never builds)."""
    return _node_image


def node_image() -> str:
    """The tag of cloudhp's node image, built on first use (minutes, once)."""
    global _node_image
    with _node_image_guard:
        if _node_image is None:
            from cloudhp.images.build import ensure_image

            reporter: Any = _BuildLog()
            _node_image = ensure_image(client(), "node", reporter).tag
        return _node_image


def get_container(server_id: str) -> Container | None:
    try:
        return client().containers.get(container_name(server_id))
    except docker.errors.NotFound:
        return None


def power_off(container: Container, *, graceful: bool, timeout: int = 10) -> None:
    """Stop a node container whatever its state: a clean shutdown (SIGTERM, SIGKILL
    after `timeout`) when `graceful`, else SIGKILL at once.

    A paused (frozen) container is always killed: it cannot run a shutdown, and the
    engine delivers SIGKILL while thawing it, so no process of it runs again (a
    stop would thaw it for `timeout` seconds first). One that is already dead is left.
    """
    container.reload()
    if container.status not in ("running", "paused", "restarting"):
        return
    try:
        if graceful and container.status == "running":
            container.stop(timeout=timeout)
        else:
            container.kill()
    except docker.errors.APIError:
        container.reload()
        if container.status in ("running", "paused", "restarting"):
            raise  # it did not die: the caller reports the failure
        log.debug("container %s died while being stopped", container.name)


def remove_container(dclient: docker.DockerClient, server_id: str) -> None:
    remove_node(dclient, container_name(server_id))


def ensure_volume(dclient: docker.DockerClient, name: str, labels: dict[str, str]) -> None:
    try:
        dclient.volumes.get(name)
    except docker.errors.NotFound:
        dclient.volumes.create(name, labels=labels)


def copy_volume(dclient: docker.DockerClient, source: str, target: str, image: str) -> None:
    """Copy a Docker data volume with a short-lived helper, keeping xattrs and whiteouts.

    overlay2 marks deletions with 0:0 character devices and opaque directories with
    trusted.* xattrs; `cp -a` keeps both only with CAP_SYS_ADMIN (and CAP_MKNOD).
    """
    helper = dclient.containers.run(
        image,
        ["sh", "-c", "cp -a /from/. /to/"],
        entrypoint=[],
        detach=True,
        cap_add=["SYS_ADMIN", "MKNOD"],
        security_opt=["apparmor=unconfined", "seccomp=unconfined"],
        network_mode="none",
        volumes={source: {"bind": "/from", "mode": "ro"}, target: {"bind": "/to", "mode": "rw"}},
        labels=dockerlabels.labels("helper"),
    )
    try:
        code = helper.wait()["StatusCode"]
        output = helper.logs().decode(errors="replace")
    finally:
        # v=True: an image committed from a node may declare anonymous volumes.
        helper.remove(force=True, v=True)
    if code != 0:
        raise RuntimeError(f"copying volume {source} to {target} failed: {output[-500:]}")
    log.debug("copied volume %s to %s", source, target)


def remove_image_artifacts(image_id: str) -> None:
    """Remove a snapshot's docker image and volume (missing ones are fine)."""
    dclient = client()
    try:
        dclient.images.remove(image_tag(image_id), force=True)
    except docker.errors.ImageNotFound:
        log.debug("image %s had no docker image left", image_id)
    except docker.errors.APIError as exc:  # a container still uses it: keep going
        log.warning("could not remove image %s: %s", image_id, exc)
    with contextlib.suppress(docker.errors.NotFound):
        dclient.volumes.get(image_volume_name(image_id)).remove(force=True)
