"""The Debian bookworm base every cloudhp image starts from.

`debian:bookworm` is used when the engine has it or can pull it. Where no registry is
reachable, a minimal rootfs is made with debootstrap from Debian's package mirror and
imported with `docker import` (about a minute), tagged with a hash of how it was made.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker
import docker.errors

from cloudhp.errors import EnvironmentProblem
from cloudhp.progress import Reporter

UPSTREAM = "debian:bookworm"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
VARIANT = "minbase"
# Trimmed after bootstrap: caches and docs that only make every image bigger.
TRIM = ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"]


def debootstrap_tag() -> str:
    recipe = f"{SUITE} {VARIANT} {MIRROR} trim={','.join(TRIM)}"
    return f"cloudhp/debian:{SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ensure_base(client: docker.DockerClient, reporter: Reporter) -> docker.models.images.Image:
    """Return the base image, building it if neither upstream nor our build exists."""
    for ref in (UPSTREAM, debootstrap_tag()):
        try:
            return client.images.get(ref)
        except docker.errors.ImageNotFound:
            pass
    try:
        reporter.step(f"pulling {UPSTREAM}")
        return client.images.pull(UPSTREAM)
    except docker.errors.APIError:
        reporter.step(f"{UPSTREAM} cannot be pulled; bootstrapping it with debootstrap")
    return _debootstrap(client, reporter)


def _debootstrap(client: docker.DockerClient, reporter: Reporter) -> docker.models.images.Image:
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem(
            f"{UPSTREAM} cannot be pulled and debootstrap is not installed",
            hint="install it with `apt-get install -y debootstrap` (root), then run again",
        )
    with tempfile.TemporaryDirectory(prefix="cloudhp-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        command = ["debootstrap", f"--variant={VARIANT}", SUITE, str(rootfs), MIRROR]
        reporter.step("debootstrap " + SUITE)
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
            raise EnvironmentProblem(
                f"debootstrap failed with exit code {proc.returncode}:\n{tail}",
                hint=f"check that {MIRROR} is reachable and that you are root",
            )
        for rel in TRIM:
            target = rootfs / rel
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        reporter.step("docker import")
        archive = Path(tmp) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(rootfs, arcname=".")
        repository, tag = debootstrap_tag().split(":")
        with archive.open("rb") as data:
            client.api.import_image_from_data(
                data.read(), repository=repository, tag=tag, changes=['CMD ["/bin/bash"]']
            )
    return client.images.get(debootstrap_tag())
