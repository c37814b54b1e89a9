"""DataSpec: one grammar for every source, the registry, holdout rules, fingerprints."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hide_and_seek_tf.data import load_dataset
from hide_and_seek_tf.data.sources import (
    DATA_DIR_UNUSED,
    SOURCES,
    DataSource,
    DataSpec,
    register_source,
)
from hide_and_seek_tf.training import TrainConfig


@pytest.mark.parametrize(
    "text, data_dir, canonical",
    [
        ("synthetic", None, "synthetic"),
        ("Tiny_ImageNet:/d/t.zip", None, "tiny-imagenet:/d/t.zip"),
        ("tiny-imagenet", "/d/t.zip", "tiny-imagenet:/d/t.zip"),  # the path as data_dir
        ("cub:C:/data/CUB_200_2011.tgz", None, "cub:C:/data/CUB_200_2011.tgz"),  # first colon
        ("wsol:/m/CUB", "/images", "wsol:/m/CUB"),
        ("csv:boxes.csv", None, "csv:boxes.csv"),
    ],
)
def test_forms_parse_to_one_canonical_text(text, data_dir, canonical):
    spec = DataSpec.parse(text, data_dir=data_dir)
    assert str(spec) == canonical
    assert DataSpec.parse(spec) is spec  # a parsed spec passes through


@pytest.mark.parametrize(
    "text, data_dir, match",
    [
        ("imagenet2012", None, r"`data` must be one of \[.*'cub:PATH'.*data='imagenet2012'"),
        ("cub:", None, r"`data` must be one of"),
        ("cub", None, r"`data` 'cub' needs an argument: 'cub:PATH' \(or the path as `data_dir`\)"),
        ("synthetic", "/x", r"`data_dir` is not used by `data`='synthetic'"),
        ("synthetic:8", None, r"takes no argument"),
        ("wsol:/m", None, r"needs `data_dir`"),
        ("cub:/a", "/b", r"already names its path"),
    ],
)
def test_bad_specs_name_the_argument(text, data_dir, match):
    with pytest.raises(ValueError, match=match):
        DataSpec.parse(text, data_dir=data_dir)
    with pytest.raises(TypeError, match=r"`spec` must be a string"):
        DataSpec.parse(3, name="spec")


def test_a_new_kind_is_one_registry_entry():
    def load(spec, split, **options):
        return load_dataset("synthetic", split, num_images=int(spec.arg), image_size=32)

    register_source(
        DataSource(kind="toy", form="toy:N", summary="toy", load=load, arg="name",
                   data_dir=DATA_DIR_UNUSED)
    )  # fmt: skip
    try:
        ds, info = load_dataset("toy:4", "train")
        assert info.num_examples == 4
        assert TrainConfig(data="toy:4").data_kind == "toy"
        assert DataSpec.parse("toy:4").validation_split == "val"
    finally:
        del SOURCES["toy"]


@pytest.mark.parametrize(
    "text, data_dir, split, train_split, holdout",
    [
        ("tiny-imagenet:/t.zip", None, "train_holdout", "train_minus_holdout", True),
        ("tiny-imagenet:/t.zip", None, "val", "train", False),
        ("cub:/c", None, "train_holdout", "train", True),
        ("imagenet:/i", None, "train_holdout", "train", True),
        ("wsol:/m", "/i", "val", "train", True),
        ("wsol:/m", "/i", "test", "train", False),
        ("csv:/b.csv", None, "mine", "train", True),  # every split but the trained one
        ("csv:/b.csv", None, "train", "train", False),
        ("tfds:x", None, "train[90%:]", "train[:90%]", True),
        ("tfds:x", None, "test", "train", False),
        ("synthetic", None, "val", "train", False),
    ],
)
def test_holdout_rules(text, data_dir, split, train_split, holdout):
    assert DataSpec.parse(text, data_dir).is_holdout(split, train_split) is holdout


def test_fingerprint_follows_the_files(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("image,label,x0,y0,x1,y1\n")
    spec = DataSpec.parse(f"csv:{path}", data_dir=tmp_path)
    first = spec.fingerprint()
    assert first["path"] == str(path.resolve()) and first["data_dir"] == str(tmp_path.resolve())
    os.utime(path, ns=(1, 2))
    assert spec.fingerprint() != first
    assert DataSpec.parse("cub:/c").validation_split == "test"


def test_specs_parse_without_tensorflow_and_only_tfds_specs_import_tfds():
    # A fresh process: the registry names each source's loader, imported when a spec is loaded.
    code = """
import sys
from hide_and_seek_tf.data import DataSpec, load_dataset
DataSpec.parse("cub:/nowhere/CUB_200_2011")
print(sorted({"tensorflow", "tensorflow_datasets"} & set(sys.modules)))
ds, info = load_dataset("synthetic", "val", num_images=2)
print(info.num_examples, sorted({"tensorflow", "tensorflow_datasets"} & set(sys.modules)))
"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.splitlines() == ["[]", "2 ['tensorflow']"]
