"""Shared test fixtures and settings."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY_IMAGENET_SUBSET = SHARED_DATA / "tiny-imagenet-200-subset.zip"


@pytest.fixture(autouse=True, scope="session")
def _private_mean_cache(tmp_path_factory):
    """Keeps the dataset-mean cache of training runs out of the user's ~/.cache during tests."""
    os.environ["HIDE_AND_SEEK_CACHE"] = str(tmp_path_factory.mktemp("mean_cache"))
    yield


@pytest.fixture
def tiny_imagenet_subset() -> Path:
    """The real Tiny ImageNet subset kept beside the project; skips when it is absent."""
    if not TINY_IMAGENET_SUBSET.exists():
        pytest.skip(f"real data not found at {TINY_IMAGENET_SUBSET}")
    return TINY_IMAGENET_SUBSET


@pytest.fixture(scope="session")
def fake_tiny_imagenet():
    """`make(directory, as_zip=True, **layout)`: writes the fake Tiny ImageNet of
    tests/fake_tiny_imagenet.py (its default layout, or `tiny_imagenet_files(**layout)`) and
    returns the zip or the folder."""
    from tests.fake_tiny_imagenet import tiny_imagenet_files, write_tiny_imagenet

    def make(directory: Path, as_zip: bool = True, **layout) -> Path:
        return write_tiny_imagenet(tiny_imagenet_files(**layout), directory, as_zip)

    return make
