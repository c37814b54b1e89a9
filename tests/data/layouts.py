"""Tiny copies of the official dataset layouts, generated for tests (and the read benchmark).

Each writer makes a few images of varying sizes (one grayscale; ImageNet adds a CMYK JPEG and a
PNG named .JPEG) and the metadata files in the exact official formats, and returns what a test
needs to check the reader against.
"""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import numpy as np
import tensorflow as tf


def image_bytes(
    width: int,
    height: int,
    seed: int,
    *,
    gray: bool = False,
    fmt: str = "jpeg",
) -> tuple[bytes, np.ndarray]:
    """(file bytes, the RGB source pixels): a PNG decodes to them exactly, a JPEG within a few
    levels (the content is smooth), whatever its colour model."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=(1, 1, 1 if gray else 3))
    ramp = np.linspace(0, 30, width)[None, :, None] + np.linspace(0, 20, height)[:, None, None]
    pixels = np.clip(base + ramp, 0, 255).astype(np.uint8)
    if fmt == "png":
        data = tf.io.encode_png(pixels).numpy()
    elif fmt == "cmyk":
        from PIL import Image  # PIL writes CMYK JPEGs; TensorFlow cannot

        buf = io.BytesIO()
        Image.fromarray(pixels).convert("CMYK").save(buf, "JPEG", quality=95)
        data = buf.getvalue()
    else:
        data = tf.io.encode_jpeg(pixels, quality=95).numpy()
    return data, np.broadcast_to(pixels, (height, width, 3))


def _write(files: dict[str, bytes], root: Path) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _text(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


# ----------------------------------------------------------------------------------------------
# CUB-200-2011
# ----------------------------------------------------------------------------------------------

CUB_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross")
CUB_PER_CLASS = 8  # 6 train (5 held out + 1), 2 test
CUB_GRAY = 5  # image id of the grayscale image


def cub_files(per_class: int = CUB_PER_CLASS, size: int = 40) -> tuple[dict[str, bytes], dict]:
    """The files of a CUB_200_2011 folder (root-relative) and the truth: {image_id: dict}."""
    files: dict[str, bytes] = {}
    images, labels, splits, boxes, truth = [], [], [], [], {}
    image_id = 0
    for c, name in enumerate(CUB_CLASSES):
        for i in range(per_class):
            image_id += 1
            width, height = size + 3 * i + c, size - 6 + 2 * i
            data, pixels = image_bytes(width, height, image_id, gray=image_id == CUB_GRAY)
            rel = f"{name}/{name.split('.')[1]}_{i:04d}_{1000 + image_id}.jpg"
            files[f"images/{rel}"] = data
            is_train = i < per_class - 2
            x, y, w, h = 1.0 + i, 2.5, width - 3.0 - i, height - 4.0
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {c + 1}")
            splits.append(f"{image_id} {int(is_train)}")
            boxes.append(f"{image_id} {x} {y} {w} {h}")
            truth[image_id] = {
                "path": rel, "label": c, "train": is_train, "xywh": (x, y, w, h),
                "pixels": pixels,
            }  # fmt: skip
    files["classes.txt"] = _text([f"{c + 1} {n}" for c, n in enumerate(CUB_CLASSES)])
    files["images.txt"] = _text(images)
    files["image_class_labels.txt"] = _text(labels)
    files["train_test_split.txt"] = _text(splits)
    files["bounding_boxes.txt"] = _text(boxes)
    return files, truth


def write_cub(files: dict[str, bytes], directory: Path, as_tgz: bool) -> Path:
    """CUB_200_2011/ under `directory`, or CUB_200_2011.tgz as distributed (with the top-level
    attributes.txt the official archive has beside the folder)."""
    directory.mkdir(parents=True, exist_ok=True)
    if not as_tgz:
        root = directory / "CUB_200_2011"
        _write(files, root)
        return root
    path = directory / "CUB_200_2011.tgz"
    with tarfile.open(path, "w:gz") as tar:
        members = {"attributes.txt": b"1 has_bill_shape::curved\n"}
        members.update({f"CUB_200_2011/{rel}": data for rel, data in files.items()})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# ----------------------------------------------------------------------------------------------
# ILSVRC 2012 CLS-LOC (ImageNet Object Localization Challenge layout)
# ----------------------------------------------------------------------------------------------

IMAGENET_WNIDS = ("n01440764", "n01443537", "n01484850")
IMAGENET_NAMES = ("tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark")
IMAGENET_TRAIN_PER_CLASS = 14
IMAGENET_BOXED_PER_CLASS = 12  # train images with a box: 10 held out, 2 left to train on
IMAGENET_NUM_VAL = 6
IMAGENET_CMYK = "val/ILSVRC2012_val_00000002.JPEG"
IMAGENET_PNG = "train/n01443537/n01443537_13.JPEG"
IMAGENET_GRAY = "val/ILSVRC2012_val_00000004.JPEG"


def imagenet_files(size: int = 40, xml: bool = True) -> tuple[dict[str, bytes], dict]:
    """Files of the Kaggle ImageNet localization folder (root-relative) and the truth by id.

    Train image k of each class has a box when k < IMAGENET_BOXED_PER_CLASS; val images have one to
    three. With `xml`, PASCAL VOC XMLs are written for val (Annotations/CLS-LOC/val).
    """
    files: dict[str, bytes] = {}
    truth: dict[str, dict] = {}
    files["LOC_synset_mapping.txt"] = _text(
        [f"{w} {n}" for w, n in zip(IMAGENET_WNIDS, IMAGENET_NAMES, strict=True)]
    )
    train_rows = ["ImageId,PredictionString"]
    seed = 0
    for c, wnid in enumerate(IMAGENET_WNIDS):
        for k in range(IMAGENET_TRAIN_PER_CLASS):
            seed += 1
            rel = f"train/{wnid}/{wnid}_{k}.JPEG"
            width, height = size + 2 * k, size + 2 * c
            fmt = "png" if rel == IMAGENET_PNG else "jpeg"
            data, pixels = image_bytes(width, height, seed, fmt=fmt)
            files[f"ILSVRC/Data/CLS-LOC/{rel}"] = data
            boxes = []
            if k < IMAGENET_BOXED_PER_CLASS:
                boxes = [(k, 1, width - 1 - k, height - 2)]
                if k == 1:
                    boxes.append((2, 3, 10, 12))
                train_rows.append(
                    f"{wnid}_{k}," + " ".join(f"{wnid} {' '.join(map(str, b))}" for b in boxes)
                )
            truth[rel] = {"label": c, "boxes": boxes, "pixels": pixels, "size": (width, height)}
    files["LOC_train_solution.csv"] = _text(train_rows)
    val_rows = ["ImageId,PredictionString"]
    for i in range(1, IMAGENET_NUM_VAL + 1):
        seed += 1
        name = f"ILSVRC2012_val_{i:08d}"
        rel = f"val/{name}.JPEG"
        c = i % 3
        width, height = size + 4 * i, size + 3 * (i % 2)
        fmt = "cmyk" if rel == IMAGENET_CMYK else "jpeg"
        data, pixels = image_bytes(width, height, seed, gray=rel == IMAGENET_GRAY, fmt=fmt)
        files[f"ILSVRC/Data/CLS-LOC/{rel}"] = data
        boxes = [(i, 2, width - 1, height - 1 - i)] + [(0, 0, 5 + j, 6 + j) for j in range(i % 3)]
        wnid = IMAGENET_WNIDS[c]
        val_rows.append(f"{name}," + " ".join(f"{wnid} {' '.join(map(str, b))} " for b in boxes))
        if xml:
            files[f"ILSVRC/Annotations/CLS-LOC/val/{name}.xml"] = _voc_xml(
                name, wnid, width, height, boxes
            )
        truth[rel] = {"label": c, "boxes": boxes, "pixels": pixels, "size": (width, height)}
    files["LOC_val_solution.csv"] = _text(val_rows)
    return files, truth


def _voc_xml(name: str, wnid: str, width: int, height: int, boxes) -> bytes:
    objects = "".join(
        f"<object><name>{wnid}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
        f"<ymax>{y1}</ymax></bndbox></object>"
        for x0, y0, x1, y1 in boxes
    )
    return (
        f"<annotation><folder>val</folder><filename>{name}</filename><source><database>ILSVRC_2012"
        f"</database></source><size><width>{width}</width><height>{height}</height><depth>3"
        f"</depth></size><segmented>0</segmented>{objects}</annotation>\n"
    ).encode()


def write_files(files: dict[str, bytes], root: Path) -> Path:
    """Writes root-relative `files` under `root`; returns `root`."""
    _write(files, root)
    return root


# ----------------------------------------------------------------------------------------------
# clovaai/wsolevaluation metadata
# ----------------------------------------------------------------------------------------------

WSOL_SPLITS = {"train": 4, "val": 2, "test": 2}  # images per class
WSOL_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross")


def wsol_files(size: int = 40, train_boxes: bool = True) -> tuple[dict[str, bytes], dict, dict]:
    """(metadata files, image files, truth by (split, path)) in wsolevaluation's layout: one
    folder per split with image_ids.txt, class_labels.txt, image_sizes.txt, localization.txt."""
    meta: dict[str, bytes] = {}
    images: dict[str, bytes] = {}
    truth: dict[tuple[str, str], dict] = {}
    seed = 100
    for split, per_class in WSOL_SPLITS.items():
        ids, labels, sizes, boxes = [], [], [], []
        for c, name in enumerate(WSOL_CLASSES):
            for i in range(per_class):
                seed += 1
                rel = f"{name}/{split}_{i}.jpg"
                width, height = size + 7 * i, size + 3 * c
                data, pixels = image_bytes(
                    width, height, seed, gray=(split, c, i) == ("test", 1, 0)
                )
                images[rel] = data
                box_list = [(i, 1, width - 1, height - 2 - i)]  # x1 = W - 1
                if i == 1:
                    box_list.append((3, 4, width, 9))  # x1 = W: wsolevaluation's x + w edge
                ids.append(rel)
                labels.append(f"{rel},{c}")
                sizes.append(f"{rel},{width},{height}")
                boxes += [f"{rel},{x0},{y0},{x1},{y1}" for x0, y0, x1, y1 in box_list]
                expected = [(x0, y0, min(x1, width - 1), min(y1, height - 1))
                            for x0, y0, x1, y1 in box_list]  # fmt: skip
                truth[(split, rel)] = {"label": c, "boxes": expected, "pixels": pixels}
        meta[f"{split}/image_ids.txt"] = _text(ids)
        meta[f"{split}/class_labels.txt"] = _text(labels)
        meta[f"{split}/image_sizes.txt"] = _text(sizes)
        if split != "train" or train_boxes:
            meta[f"{split}/localization.txt"] = _text(boxes)
    return meta, images, truth


# ----------------------------------------------------------------------------------------------
# CSV
# ----------------------------------------------------------------------------------------------

CSV_LABELS = ("cat", "dog")


def csv_files(size: int = 40) -> tuple[dict[str, bytes], dict]:
    """A user's folder: images under photos/ and data.csv (image,label,x0,y0,x1,y1,split), with
    an image of two boxes, a box-less training image and a grayscale PNG."""
    files: dict[str, bytes] = {}
    truth: dict[str, dict] = {}
    rows = [["image", "label", "x0", "y0", "x1", "y1", "split"]]
    seed = 200
    for split, per_class in (("train", 6), ("val", 2), ("test", 2)):
        for c, label in enumerate(CSV_LABELS):
            for i in range(per_class):
                seed += 1
                fmt = "png" if (split, c, i) == ("val", 0, 1) else "jpeg"
                rel = f"photos/{split}/{label}_{i}.{'png' if fmt == 'png' else 'jpg'}"
                width, height = size + 6 * i, size + 4 * c
                data, pixels = image_bytes(width, height, seed, gray=fmt == "png", fmt=fmt)
                files[rel] = data
                boxes = [(i, 1, width - 2, height - 1)]
                if i == 1:
                    boxes.append((2.4, 3.6, 12.5, 14.0))  # rounded half up: 2, 4, 13, 14
                if (split, c, i) == ("train", 1, 5):
                    boxes = []
                if boxes:
                    rows += [[rel, label, *map(str, b), split] for b in boxes]
                else:
                    rows.append([rel, label, "", "", "", "", split])
                expected = [tuple(float(np.floor(v + 0.5)) for v in b) for b in boxes]
                truth[rel] = {"label": c, "split": split, "boxes": expected, "pixels": pixels}
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    files["data.csv"] = buf.getvalue().encode()
    return files, truth
