"""Copying images from the local engine into a node's engine, as there is no registry."""

from __future__ import annotations

import docker

from cloudhp.remote.ssh import SSHRunner


def load_into_node(client: docker.DockerClient, runner: SSHRunner, tag: str) -> bool:
    """Stream `docker save` into the node's `docker load`; False when it already had it.

    Tags carry a hash of the recipe, so a node holding the tag holds that very image.
    """
    if runner.run(["docker", "image", "inspect", tag], check=False).exited == 0:
        return False
    image = client.images.get(tag)
    runner.run_with_input(["docker", "load", "-q"], image.save(chunk_size=1 << 20, named=True))
    return True
