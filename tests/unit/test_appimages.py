"""Which base images a user's Dockerfile asks for, so that the Debian tags this machine
cannot pull are provided from the local Debian base before the build."""

from __future__ import annotations

from pathlib import Path

from cloudhp.steps.appimages import base_images


def test_every_stage_base_is_found_in_order(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "# syntax comment\n"
        "FROM debian:bookworm-slim AS build\n"
        "RUN make\n"
        "  from --platform=linux/amd64 debian:bookworm\n"
        "FROM build\n"
    )
    assert base_images(dockerfile) == ["debian:bookworm-slim", "debian:bookworm", "build"]


def test_a_missing_dockerfile_names_no_base(tmp_path: Path) -> None:
    assert base_images(tmp_path / "Dockerfile") == []
