"""Shared fixtures: the local Docker engine and the images built from our recipes."""

from __future__ import annotations

import pytest

from cloudhp.progress import RecordingReporter


@pytest.fixture(scope="session")
def engine():
    from cloudhp.images.engine import local_engine

    return local_engine()


@pytest.fixture(scope="session")
def images(engine):
    """Build (or reuse) every recipe image once per test session."""
    from cloudhp.images import RECIPES, ensure_images

    built = ensure_images(engine, sorted(RECIPES), RecordingReporter())
    return {b.name: b for b in built}
