"""Nova's createImage: a server's container and its engine volume become an image.

A snapshot is `docker commit` of the container plus a `cp -a` copy of its
/var/lib/docker volume into `lc-image-<image id>-docker`: the nested engine's overlay2
data lives in a volume, which a commit does not capture, and the copy must keep
xattrs and whiteout devices, hence a helper container with CAP_SYS_ADMIN
(nodes.copy_volume). A server booted from such an image gets its engine volume
cloned from the image's (lifecycle.boot). The image record is Glance's
(image/images.py); its docker references are the private fields "_docker_image" and
"_docker_volume".
"""

from __future__ import annotations

import logging

from cloudhp_localcloud import dockerlabels
from cloudhp_localcloud.compute import nodes
from cloudhp_localcloud.compute.serverstate import server_lock, set_server
from cloudhp_localcloud.store import Store, utcnow

log = logging.getLogger(__name__)


def snapshot(store: Store, server_id: str, image_id: str) -> None:
    """createImage: commit the container and copy its engine volume into the image's."""
    try:
        store.update("image", image_id, {"status": "saving", "updated_at": utcnow()})
    except KeyError:
        return
    dclient = nodes.client()
    tag = nodes.image_tag(image_id)
    volume = nodes.image_volume_name(image_id)
    labels = dockerlabels.labels("image", image=image_id)
    try:
        with server_lock(server_id):
            container = nodes.get_container(server_id)
            if container is None:
                raise RuntimeError("the server's container is gone")
            container.reload()
            paused = container.status == "running"
            if paused:  # a consistent copy of the nested engine's files
                container.pause()
            try:
                repository, tag_name = tag.split(":")
                committed = container.commit(
                    repository=repository,
                    tag=tag_name,
                    conf={"Labels": labels},
                    pause=False,
                )
                nodes.ensure_volume(dclient, volume, labels)
                nodes.copy_volume(dclient, nodes.volume_name(server_id), volume, tag)
            finally:
                if paused:
                    container.unpause()
        size = int(committed.attrs.get("Size") or 0)
    except Exception as exc:
        log.warning("snapshot of server %s failed: %s", server_id, exc)
        nodes.remove_image_artifacts(image_id)
        store.delete("image", image_id)  # Nova deletes a failed snapshot's image
        return
    finally:
        set_server(store, server_id, task_state=None)
    try:
        store.update(
            "image",
            image_id,
            {
                "status": "active",
                "size": size,
                "virtual_size": size,
                "_docker_image": tag,
                "_docker_volume": volume,
                "updated_at": utcnow(),
            },
        )
    except KeyError:  # deleted while saving
        nodes.remove_image_artifacts(image_id)
