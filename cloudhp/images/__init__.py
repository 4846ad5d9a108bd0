"""Container images cloudhp builds on this machine, with no registry.

Every image is built from a Debian bookworm base (`debian:bookworm` when the engine has
it or can pull it, otherwise a debootstrap rootfs imported with `docker import`) and a
recipe folder under `recipes/`. Tags carry a hash of the recipe and the base, so a
build runs once and is reused until one of its inputs changes.
"""

from cloudhp.images.build import BuiltImage, ensure_image, ensure_images
from cloudhp.images.recipes import CLUSTER_IMAGES, RECIPES, Recipe, recipe

__all__ = [
    "CLUSTER_IMAGES",
    "RECIPES",
    "BuiltImage",
    "Recipe",
    "ensure_image",
    "ensure_images",
    "recipe",
]
