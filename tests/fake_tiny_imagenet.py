"""The one fake Tiny ImageNet the tests use: a small layout of real JPEGs, written as the official
zip (stored members) or as an extracted folder. The `fake_tiny_imagenet` fixture (conftest.py)
writes it; tests that edit files before writing use `tiny_imagenet_files` and `write_tiny_imagenet`.

The default layout is built to catch reader mistakes: wnids.txt is not sorted (labels must follow
the file, not the alphabet), train images are listed out of numeric order, one train and one val
JPEG are grayscale, and every box is a distinct function of its class and index.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

WNIDS = ("n03000003", "n01000001", "n02000002")
WORDS = {"n03000003": "teapot, tea kettle", "n01000001": "cat", "n02000002": "red fox, Vulpes"}
TRAIN_INDICES = (10, 0, 2, 1)  # listed out of order; numeric order is 0, 1, 2, 10
GRAY_TRAIN = "n01000001_2.JPEG"
GRAY_VAL = "val_4.JPEG"
NUM_VAL = 6

Box = tuple[int, int, int, int]


def train_box(class_index: int, image_index: int) -> Box:
    return (image_index, class_index, 40 + class_index, 50 + image_index)


def val_box(i: int) -> Box:
    return (i, 2 * i, 63, 30 + i)


def tiny_imagenet_files(
    *,
    wnids: Sequence[str] = WNIDS,
    words: Mapping[str, str] | None = WORDS,
    train_indices: Sequence[int] = TRAIN_INDICES,
    num_val: int = NUM_VAL,
    gray: Sequence[str] = (GRAY_TRAIN, GRAY_VAL),
    train_boxes: Callable[[np.random.Generator, int, int], Box] | None = None,
    val_boxes: Callable[[np.random.Generator, int], Box] | None = None,
    quality: int = 95,
    seed: int = 0,
) -> dict[str, bytes]:
    """A Tiny ImageNet layout, root-relative path -> bytes, with random 64 x 64 JPEGs.

    Val image i is of class `wnids[i % len(wnids)]`. `train_boxes(rng, c, i)` and
    `val_boxes(rng, i)` give the boxes (default `train_box` and `val_box`); images and boxes are
    drawn from one generator in file order, so a seed gives the same bytes every time.
    """
    rng = np.random.default_rng(seed)
    train_boxes = train_boxes or (lambda _, c, i: train_box(c, i))
    val_boxes = val_boxes or (lambda _, i: val_box(i))

    def jpeg(name: str) -> bytes:
        pixels = rng.integers(0, 256, size=(64, 64, 1 if name in gray else 3), dtype=np.uint8)
        return tf.io.encode_jpeg(pixels, quality=quality).numpy()

    files = {"wnids.txt": ("\n".join(wnids) + "\n").encode()}
    if words is not None:  # with a line for a wnid the dataset does not use, as the real file
        entries = [("n09999999", "unused"), *words.items()]
        files["words.txt"] = "".join(f"{w}\t{names}\n" for w, names in entries).encode()
    for c, wnid in enumerate(wnids):
        lines = []
        for i in train_indices:
            name = f"{wnid}_{i}.JPEG"
            files[f"train/{wnid}/images/{name}"] = jpeg(name)
            lines.append("\t".join([name, *map(str, train_boxes(rng, c, i))]))
        files[f"train/{wnid}/{wnid}_boxes.txt"] = ("\n".join(lines) + "\n").encode()
    lines = []
    for i in range(num_val):
        name = f"val_{i}.JPEG"
        files[f"val/images/{name}"] = jpeg(name)
        lines.append("\t".join([name, wnids[i % len(wnids)], *map(str, val_boxes(rng, i))]))
    files["val/val_annotations.txt"] = ("\n".join(lines) + "\n").encode()
    return files


def write_tiny_imagenet(files: Mapping[str, bytes], directory: Path, as_zip: bool) -> Path:
    """Writes `files` as DIRECTORY/tiny-imagenet-200.zip (stored members, as the official one) or
    as the folder DIRECTORY/tiny-imagenet-200; returns the zip or the folder."""
    directory.mkdir(parents=True, exist_ok=True)
    if as_zip:
        path = directory / "tiny-imagenet-200.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for rel, data in files.items():
                zf.writestr(f"tiny-imagenet-200/{rel}", data)
        return path
    root = directory / "tiny-imagenet-200"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root
