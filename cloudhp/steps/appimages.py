"""The application's images: built on the bastion, pushed to the cluster's registry.

There is no registry outside the cluster to pull from, so an image the bastion has is
pushed to the cluster's own registry and the stack runs that reference; an image the
bastion does not have is left as it is (the nodes pull it from wherever it names).
Each pushed tag is a hash of the image's content, so an unchanged build pushes nothing
and leaves the running tasks alone, and a changed one replaces them.
"""

from __future__ import annotations

import re
from pathlib import Path

import docker
import docker.errors

from cloudhp.apps.model import Application, Service
from cloudhp.errors import CloudhpError
from cloudhp.images.base import ensure_base
from cloudhp.progress import Reporter
from cloudhp.remote.runner import Runner
from cloudhp.steps.registry import RegistryInfo, push_image

BUILD_REPOSITORY = "cloudhp-build"


DEBIAN_TAGS = ("debian:bookworm", "debian:bookworm-slim", "debian:12", "debian:12-slim")
"""Tags a user's Dockerfile may start from that the local Debian base stands in for:
no registry is reachable here, so `FROM debian:bookworm` could not be pulled."""
_FROM = re.compile(r"(?mi)^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)")


def base_images(dockerfile: Path) -> list[str]:
    """The images a Dockerfile's FROM lines name, in order (stages included)."""
    if not dockerfile.is_file():
        return []
    return _FROM.findall(dockerfile.read_text())


def provide_debian_tags(
    engine: docker.DockerClient, wanted: list[str], reporter: Reporter
) -> list[str]:
    """Tag the local Debian base as each Debian bookworm tag in `wanted` that the
    engine lacks; the tags made. An engine that has the real image keeps it."""
    made: list[str] = []
    for ref in dict.fromkeys(r.removeprefix("docker.io/library/") for r in wanted):
        if ref not in DEBIAN_TAGS or local_image(engine, ref) is not None:
            continue
        base = ensure_base(engine, reporter)
        repository, tag = ref.split(":")
        base.tag(repository, tag)
        reporter.step(f"{ref} cannot be pulled here: tagged the local Debian base as {ref}")
        made.append(ref)
    return made


def build_service(
    engine: docker.DockerClient, service: Service, reporter: Reporter
) -> docker.models.images.Image:
    assert service.build is not None
    build = service.build
    dockerfile = build.dockerfile or "Dockerfile"
    provide_debian_tags(engine, base_images(build.context / dockerfile), reporter)
    reporter.step(f"building {service.public_name} from {build.context}")
    try:
        image, _ = engine.images.build(
            path=str(build.context),
            dockerfile=dockerfile,
            buildargs=dict(build.args),
            tag=f"{BUILD_REPOSITORY}/{service.public_name}:latest",
            rm=True,
            forcerm=True,
        )
    except docker.errors.BuildError as exc:
        tail = "\n".join(str(line.get("stream", "")).rstrip() for line in exc.build_log)[-1500:]
        raise CloudhpError(
            f"building {service.public_name} from {build.context} failed: {exc.msg}\n{tail}",
            hint="fix the Dockerfile; `docker build` in that directory shows the same",
        ) from None
    return image


def local_image(engine: docker.DockerClient, ref: str) -> docker.models.images.Image | None:
    try:
        return engine.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def content_tag(image: docker.models.images.Image) -> str:
    return str(image.id).split(":")[-1][:12]


def publish_images(
    engine: docker.DockerClient,
    lead: Runner,
    registry: RegistryInfo,
    app: Application,
    reporter: Reporter,
) -> tuple[dict[str, str], bool]:
    """The image reference each service runs, and whether anything was pushed."""
    refs: dict[str, str] = {}
    pushed = False
    for service in app.services:
        if service.build is not None:
            image = build_service(engine, service, reporter)
        else:
            assert service.image is not None
            found = local_image(engine, service.image)
            if found is None:
                refs[service.name] = service.image
                continue
            image = found
        target = f"{registry.address}/{app.project}/{service.name}:{content_tag(image)}"
        reporter.step(f"pushing {service.public_name} as {target}")
        pushed = push_image(engine, lead, str(image.id), target) or pushed
        refs[service.name] = target
    return refs, pushed
