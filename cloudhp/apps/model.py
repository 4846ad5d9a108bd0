"""One model for what the user deploys, whichever way they described it.

A compose file (`cloudhp.apps.compose`) and a platform-style definition
(`cloudhp.apps.definition`) both become `Service`s, so rendering the stack, routing and
naming are written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Build:
    """A directory the bastion builds; the image is pushed to the cluster's registry."""

    context: Path
    dockerfile: str | None = None
    args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PublishedPort:
    """A port published in host mode on the node running the task (not HTTP-routed)."""

    published: int
    target: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class BlockVolume:
    """A named volume on its own Cinder volume (see `cloudhp.apps.volumes`): created once,
    attached to the node its one task runs on, and bind-mounted into that task."""

    project: str
    name: str
    size_gb: int
    volume_type: str | None = None
    filesystem: str = "ext4"

    @property
    def logical(self) -> str:
        """`<project>_<volume>`: its name in `cloudhp volumes`, node labels and paths."""
        return f"{self.project}_{self.name}"


@dataclass(frozen=True)
class Service:
    project: str
    name: str
    image: str | None
    build: Build | None = None
    environment: tuple[tuple[str, str], ...] = ()
    container_port: int | None = None  # the HTTP port the ingress routes to
    hosts: tuple[str, ...] = ()
    replicas: int = 1
    memory_reservation_mb: int | None = None
    memory_limit_mb: int | None = None
    health_path: str | None = None
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    published_ports: tuple[PublishedPort, ...] = ()
    depends_on: tuple[str, ...] = ()
    passthrough: tuple[tuple[str, Any], ...] = ()  # Swarm-accepted keys, copied as they are
    block_volumes: tuple[BlockVolume, ...] = ()  # bind-mounted from where they are mounted

    @property
    def public_name(self) -> str:
        """The name users see in URLs and in `cloudhp services`."""
        return f"{self.project}-{self.name}"

    @property
    def swarm_name(self) -> str:
        """The name `docker stack deploy -c - <project>` gives the service."""
        return f"{self.project}_{self.name}"

    @property
    def context_root(self) -> str:
        """The first path segment the ingress routes on; not stripped, so the app is told."""
        return "/" + self.public_name

    @property
    def routed(self) -> bool:
        return self.container_port is not None


@dataclass(frozen=True)
class Application:
    """A project's services in start order (dependencies first), and what was not kept."""

    project: str
    services: tuple[Service, ...]
    warnings: tuple[str, ...] = ()
    source: Path | None = None

    @property
    def block_volumes(self) -> tuple[BlockVolume, ...]:
        """The Cinder-backed volumes, which deploy makes ready before the stack."""
        return tuple(v for s in self.services for v in s.block_volumes)


def with_context_root(
    environment: tuple[tuple[str, str], ...], routed: bool, root: str
) -> tuple[tuple[str, str], ...]:
    """CONTEXT_ROOT tells a routed service the path it is served under (the path is not
    stripped), unless the user set it."""
    if not routed or any(k == "CONTEXT_ROOT" for k, _ in environment):
        return environment
    return (*environment, ("CONTEXT_ROOT", root))
