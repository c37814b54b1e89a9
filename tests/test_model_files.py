"""A model file from someone else loads only where Keras's safe mode holds: a `.keras` archive, and
a Keras without the published safe-mode bypasses (docs/training.md: --model)."""

import re
from pathlib import Path

import keras
import pytest
from packaging.requirements import Requirement

from hide_and_seek_tf import cam_head
from hide_and_seek_tf.cam_head import load_classifier
from hide_and_seek_tf.models import build_model

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]
# The last release of each advisory docs/training.md names, and the first release with all of them fixed.
VULNERABLE = ("3.8.0", "3.10.0", "3.11.2", "3.12.0", "3.13.2")
FIXED = "3.14.0"


def _keras_requirements() -> list[Requirement]:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (REPO / "requirements.txt").read_text().splitlines()
    declared += [line for line in lines if re.match(r"keras\b", line)]
    found = [Requirement(text) for text in declared if Requirement(text).name == "keras"]
    assert len(found) == 2, declared
    return found


def test_the_declared_keras_excludes_releases_with_safe_mode_bypasses():
    for requirement in _keras_requirements():
        assert not [v for v in VULNERABLE if requirement.specifier.contains(v)], requirement
        assert requirement.specifier.contains(FIXED), requirement
        assert requirement.specifier.contains(keras.__version__), "the installed Keras is older"


def test_a_model_file_is_refused_under_an_older_keras(tmp_path, monkeypatch):
    path = tmp_path / "model.keras"
    build_model("small_gap", 3, input_shape=(32, 32, 3)).save(path)
    assert load_classifier(path).output_shape == (None, 3)
    monkeypatch.setattr(cam_head.keras, "__version__", "3.13.2")
    with pytest.raises(ValueError, match=r"3\.14.*keras==3\.13\.2"):
        load_classifier(path)


def test_legacy_hdf5_is_refused_even_when_named_keras(tmp_path):
    h5 = tmp_path / "model.h5"
    build_model("small_gap", 3, input_shape=(32, 32, 3)).save(h5)
    renamed = tmp_path / "model.keras"
    h5.rename(renamed)
    for path in (h5.with_name("copy.h5"), renamed):
        if not path.exists():
            path.write_bytes(renamed.read_bytes())
        with pytest.raises(ValueError, match=rf"\.keras` \(zip\) archive. Received: {path}"):
            load_classifier(path)
