"""The image tier: the stage image built here from Debian's packages, run under podman.

One build per session (``bodywork image build``'s module, the Debian builder, its cache in
/var/cache/bodywork-image or $BODYWORK_IMAGE_CACHE, so a warm build takes seconds); every
container runs with runc and explicit rlimits and no network (``image_helpers``).

A registry of our own (Debian's ``docker-registry``, on loopback, plain HTTP) takes pushes.
Needs root, mmdebstrap, buildah, podman, runc and docker-registry (``scripts/setup-image``);
without them the tier is left out, except in CI where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.image_helpers import Image, Registry, local_registry, missing, tier_image

MISSING = missing()
if MISSING and not os.environ.get("CI"):
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header() -> str | None:
    if MISSING and not os.environ.get("CI"):
        return f"image tier (tests/image) left out: {MISSING}"
    return None


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    if MISSING:
        pytest.fail(f"{MISSING}: CI must run every tier", pytrace=False)
    with tier_image(tmp_path_factory.mktemp("podman")) as built:
        yield built


@pytest.fixture
def registry(image: Image, tmp_path: Path) -> Iterator[Registry]:
    with local_registry(tmp_path, image.env) as served:
        yield served
