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
