"""Image recipes: a folder with a Dockerfile (taking `ARG BASE`) and the files it copies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

RECIPES_DIR = Path(__file__).parent / "recipes"

CLUSTER_IMAGES: tuple[str, ...] = ("sampleapp", "haproxy", "registry")
"""Recipe images every node of a cluster holds (loaded into the golden image): the
sample app, the ingress and the cluster registry, none of which can be pulled."""
REPOSITORY = "cloudhp"


@dataclass(frozen=True)
class Recipe:
    name: str
    directory: Path

    @property
    def repository(self) -> str:
        return f"{REPOSITORY}/{self.name}"

    def files(self) -> list[Path]:
        return sorted(p for p in self.directory.rglob("*") if p.is_file())

    def digest(self, base_id: str) -> str:
        """A short hash of every file of the recipe and of the base image it builds on."""
        h = hashlib.sha256(base_id.encode())
        for path in self.files():
            h.update(str(path.relative_to(self.directory)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
        return h.hexdigest()[:12]

    def tag(self, base_id: str) -> str:
        return f"{self.repository}:{self.digest(base_id)}"


RECIPES: dict[str, Recipe] = {
    d.name: Recipe(d.name, d) for d in sorted(RECIPES_DIR.iterdir()) if (d / "Dockerfile").exists()
}


def recipe(name: str) -> Recipe:
    from cloudhp.errors import NotFoundError

    try:
        return RECIPES[name]
    except KeyError:
        raise NotFoundError(
            f"no image recipe named {name!r}", hint=f"known recipes: {', '.join(RECIPES)}"
        ) from None
