"""The local Docker engine, with one clear error when it is not there."""

from __future__ import annotations

import docker
import docker.errors

from cloudhp.errors import EnvironmentProblem


def local_engine() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        raise EnvironmentProblem(
            f"cannot reach the local Docker engine: {exc}",
            hint="start Docker (`systemctl start docker`) and run as root or a docker-group user",
        ) from exc
    return client
