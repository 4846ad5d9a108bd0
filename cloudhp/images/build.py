"""Build recipe images on the local engine, once per recipe hash."""

from __future__ import annotations

from dataclasses import dataclass

import docker
import docker.errors

from cloudhp.errors import EnvironmentProblem
from cloudhp.images.base import ensure_base
from cloudhp.images.recipes import recipe
from cloudhp.progress import Reporter


@dataclass(frozen=True)
class BuiltImage:
    name: str
    tag: str
    id: str
    built: bool  # False when an image with this recipe hash already existed

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "tag": self.tag, "id": self.id, "built": self.built}


def ensure_image(client: docker.DockerClient, name: str, reporter: Reporter) -> BuiltImage:
    """Return the image for recipe `name`, building it only if its hash is new."""
    rec = recipe(name)
    base = ensure_base(client, reporter)
    tag = rec.tag(base.id)
    try:
        image = client.images.get(tag)
        if f"{rec.repository}:latest" not in image.tags:
            image.tag(rec.repository, "latest")
        return BuiltImage(name, tag, image.id, built=False)
    except docker.errors.ImageNotFound:
        pass
    reporter.step(f"building {tag}")
    try:
        for chunk in client.api.build(
            path=str(rec.directory),
            tag=tag,
            buildargs={"BASE": base.tags[0] if base.tags else base.id},
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "error" in chunk:
                raise EnvironmentProblem(
                    f"building image {tag} failed: {chunk['error'].strip()}",
                    hint="the recipe's RUN steps need Debian's package mirror to be reachable",
                )
            line = chunk.get("stream", "").strip()
            if line.startswith("Step "):
                reporter.step(f"{name}: {line}")
    except docker.errors.APIError as exc:
        raise EnvironmentProblem(f"building image {tag} failed: {exc.explanation}") from exc
    image = client.images.get(tag)
    # `:latest` names the newest build for people (examples, `service create`); the
    # cluster itself always uses the hash tag.
    image.tag(rec.repository, "latest")
    return BuiltImage(name, tag, image.id, built=True)


def ensure_images(
    client: docker.DockerClient, names: list[str], reporter: Reporter
) -> list[BuiltImage]:
    return [ensure_image(client, name, reporter) for name in names]
