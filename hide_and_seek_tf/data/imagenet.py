"""ILSVRC 2012 CLS-LOC in the layout of the ImageNet Object Localization Challenge (Kaggle).

Layout (PATH is the folder holding the LOC files; the image tree may sit under PATH/ILSVRC/, as in
the Kaggle download, or directly under PATH)::

    LOC_synset_mapping.txt                 <wnid> <names>     one line per class: the class order
    LOC_train_solution.csv                 ImageId,PredictionString   (boxed train images only)
    LOC_val_solution.csv                   ImageId,PredictionString
    [ILSVRC/]Data/CLS-LOC/train/<wnid>/<wnid>_<index>.JPEG
    [ILSVRC/]Data/CLS-LOC/val/ILSVRC2012_val_<8 digits>.JPEG
    [ILSVRC/]Annotations/CLS-LOC/{train/<wnid>,val}/<image>.xml   PASCAL VOC (optional)

A PredictionString repeats `wnid x0 y0 x1 y1` (space-separated), one group per box. Boxes are
read as inclusive pixel corners, as Choe et al. (CVPR 2020) and the REFERENCE's IoU treat them.
Where a LOC_*_solution.csv is missing, the PASCAL VOC XML files of that split are read instead
(`<object><name>`, `<bndbox>`; `<size>` lets boxes be checked against the image at once). When
both exist the CSV is used.

Splits:
    "train": every image under Data/CLS-LOC/train/<wnid>/ (1,281,167); most have no box and come
        with zero boxes (n = 0): fine for training, refused by evaluation.
    "val": the 50,000 annotated validation images (one or more boxes each), in file order.
    "train_holdout": the last `HOLDOUT_PER_CLASS` train images *with a box* of each class by image
        index (as many per class as wsolevaluation's ImageNet `val`), for choosing thresholds.
    "train_minus_holdout": "train" without them.
Train splits are interleaved across classes. Element ids are paths under Data/CLS-LOC
("train/n01440764/n01440764_10026.JPEG", "val/ILSVRC2012_val_00000001.JPEG", wsolevaluation's
form). A few ILSVRC files are CMYK JPEGs or PNGs named .JPEG: both decode (see `file_records`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import tensorflow as tf

from hide_and_seek_tf.data.elements import DatasetInfo, resolve_classes
from hide_and_seek_tf.data.file_records import (
    FolderListing,
    Record,
    annotation_error,
    by_class,
    cap,
    check_present,
    check_records,
    corner_box,
    dataset_info,
    file_stamp,
    interleave,
    no_images_error,
    parse_numbers,
    records_dataset,
    select,
    split_holdout,
)

SPLITS: tuple[str, ...] = ("train", "val", "train_holdout", "train_minus_holdout")
#: Boxed train images per class held out for choosing thresholds (wsolevaluation's ImageNet val
#: has 10 per class).
HOLDOUT_PER_CLASS: int = 10
_SYNSETS = "LOC_synset_mapping.txt"
_SOLUTION = {"train": "LOC_train_solution.csv", "val": "LOC_val_solution.csv"}
_TRAIN_NAME = re.compile(r"^(n\d+)_(\d+)\.[A-Za-z]+$")
_IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")


@dataclasses.dataclass(frozen=True)
class ImageNetLayout:
    """Where the parts of an ILSVRC copy are."""

    root: Path  # holds LOC_synset_mapping.txt
    data: Path  # .../Data/CLS-LOC
    annotations: Path  # .../Annotations/CLS-LOC (may not exist)


def find_layout(path: str | os.PathLike) -> ImageNetLayout:
    """Locates LOC_synset_mapping.txt and Data/CLS-LOC under `path`.

    Raises:
        FileNotFoundError: `path` or one of the parts is missing (the message lists what is looked
            for).
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"ImageNet not found at {root}.")
    if not (root / _SYNSETS).is_file():
        raise FileNotFoundError(
            f"Missing {root / _SYNSETS}: not the ImageNet Object Localization Challenge layout "
            "(LOC_synset_mapping.txt, LOC_*_solution.csv, [ILSVRC/]Data/CLS-LOC/)."
        )
    for base in (root / "ILSVRC", root):
        if (base / "Data" / "CLS-LOC").is_dir():
            return ImageNetLayout(root, base / "Data" / "CLS-LOC", base / "Annotations" / "CLS-LOC")
    raise FileNotFoundError(
        f"Missing {root / 'ILSVRC' / 'Data' / 'CLS-LOC'} (or {root / 'Data' / 'CLS-LOC'}): the "
        "ImageNet images."
    )


def _synsets(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    wnids, names = [], []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        wnid, _, words = line.strip().partition(" ")
        if not re.fullmatch(r"n\d+", wnid):
            raise annotation_error(f"{path} line {lineno}", "'<wnid> <names>'", line)
        if wnid in wnids:
            raise ValueError(f"Malformed annotation at {path} line {lineno}: {wnid} repeats.")
        wnids.append(wnid)
        names.append(words.split(",")[0].strip() or wnid)
    if not wnids:
        raise ValueError(f"No classes in {path}.")
    return tuple(wnids), tuple(names)


_ROW = "'ImageId,PredictionString' with PredictionString repeating 'wnid x0 y0 x1 y1'"


def _solution(path: Path, label_of: dict[str, int]) -> dict[str, tuple[int, list, str, str]]:
    """ImageId -> (label, boxes, where, line) from a LOC_*_solution.csv."""
    out: dict[str, tuple[int, list, str, str]] = {}
    # utf-8-sig: a copy saved by a spreadsheet starts with a byte-order mark.
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            where = f"{path} line {lineno}"
            if lineno == 1:
                if line.replace(" ", "") != "ImageId,PredictionString":
                    raise annotation_error(where, "the header 'ImageId,PredictionString'", line)
                continue
            if not line.strip():
                continue
            image_id, sep, prediction = line.partition(",")
            tokens = prediction.split()
            if not sep or not image_id or not tokens or len(tokens) % 5:
                raise annotation_error(where, _ROW, line)
            if image_id in out:
                raise ValueError(f"Malformed annotation at {where}: {image_id} is listed twice.")
            labels, boxes = set(), []
            for k in range(0, len(tokens), 5):
                wnid = tokens[k]
                if wnid not in label_of:
                    raise ValueError(
                        f"Malformed annotation at {where}: wnid {wnid!r} is not in "
                        f"{_SYNSETS}. Received: {line!r}"
                    )
                labels.add(label_of[wnid])
                values = parse_numbers(tokens[k + 1 : k + 5], where, _ROW, line)
                boxes.append(corner_box(values, where, line))
            if len(labels) != 1:
                raise ValueError(
                    f"Malformed annotation at {where}: the boxes name more than one class "
                    f"(CLS-LOC images have one). Received: {line!r}"
                )
            out[image_id] = (labels.pop(), boxes, where, line)
    return out


def _voc(path: Path, label_of: dict[str, int]) -> tuple[int, list, tuple[int, int]]:
    """(label, boxes, (width, height)) of one PASCAL VOC XML file."""
    where = str(path)
    try:
        tree = ET.parse(path)
    except ET.ParseError as err:
        raise ValueError(f"Malformed annotation {where}: not XML ({err}).") from None
    root = tree.getroot()
    try:
        size = (int(root.findtext("size/width")), int(root.findtext("size/height")))
    except (TypeError, ValueError):
        raise ValueError(
            f"Malformed annotation {where}: expected <size><width> and <height>."
        ) from None
    labels, boxes = set(), []
    for k, obj in enumerate(root.iter("object"), start=1):
        wnid = obj.findtext("name")
        at = f"{where} object {k}"
        if wnid not in label_of:
            raise ValueError(f"Malformed annotation at {at}: wnid {wnid!r} is not in {_SYNSETS}.")
        fields = [obj.findtext(f"bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax")]
        text = " ".join(str(v) for v in fields)
        if None in fields:
            raise annotation_error(at, "<bndbox> with xmin, ymin, xmax, ymax", text)
        labels.add(label_of[wnid])
        boxes.append(corner_box(parse_numbers(fields, at, "numbers", text), at, text))
    if len(labels) > 1:
        raise ValueError(f"Malformed annotation {where}: the objects name more than one class.")
    return (labels.pop() if labels else -1), boxes, size


@dataclasses.dataclass(frozen=True)
class _Notes:
    wnids: tuple[str, ...]
    names: tuple[str, ...]
    solutions: dict[str, dict | None]  # split -> parsed CSV, or None when absent


@functools.lru_cache(maxsize=4)
def _read_notes(root: str, stamps: tuple) -> _Notes:
    root_path = Path(root)
    wnids, names = _synsets(root_path / _SYNSETS)
    label_of = {w: i for i, w in enumerate(wnids)}
    solutions = {}
    for split, name in _SOLUTION.items():
        path = root_path / name
        solutions[split] = _solution(path, label_of) if path.is_file() else None
    return _Notes(wnids, names, solutions)


def _notes(layout: ImageNetLayout) -> _Notes:
    stamps = tuple(
        file_stamp(layout.root / n) if (layout.root / n).is_file() else None
        for n in (_SYNSETS, *_SOLUTION.values())
    )
    return _read_notes(str(layout.root), stamps)


def _train_records(layout: ImageNetLayout, notes: _Notes, kept: tuple[int, ...]) -> list[Record]:
    label_of = {w: i for i, w in enumerate(notes.wnids)}
    solution = notes.solutions["train"]
    records = []
    for label in kept:
        wnid = notes.wnids[label]
        folder = layout.data / "train" / wnid
        if not folder.is_dir():
            raise FileNotFoundError(
                f"Missing {folder}: {_SYNSETS} lists {wnid} (restrict `classes` to those present)."
            )
        for name in os.listdir(folder):
            match = _TRAIN_NAME.match(name)
            if not match or not name.lower().endswith(_IMAGE_EXTENSIONS):
                continue
            image_id = name.rsplit(".", 1)[0]
            rel = f"train/{wnid}/{name}"
            boxes, where, size = [], str(folder / name), None
            if solution is not None:
                if image_id in solution:
                    box_label, boxes, where, _ = solution[image_id]
                    if box_label != label:
                        raise ValueError(
                            f"Malformed annotation at {where}: {image_id} is in {wnid}'s folder "
                            f"but its boxes name {notes.wnids[box_label]}."
                        )
            else:
                xml = layout.annotations / "train" / wnid / f"{image_id}.xml"
                if xml.is_file():
                    box_label, boxes, size = _voc(xml, label_of)
                    where = str(xml)
                    if box_label not in (-1, label):
                        raise ValueError(f"Malformed annotation {xml}: its objects are not {wnid}.")
            records.append(Record(rel, label, boxes, rel, where, size, int(match.group(2))))
    records.sort(key=lambda r: (r.label, r.key))  # by image index, whatever the listing order
    if solution is not None:
        listed = {r.id.rsplit("/", 1)[-1].rsplit(".", 1)[0] for r in records}
        wanted = {notes.wnids[i] for i in kept}
        for image_id, (_, _, where, _) in solution.items():
            if image_id.split("_")[0] in wanted and image_id not in listed:
                raise ValueError(
                    f"{where} lists {image_id!r}, missing from {layout.data / 'train'}."
                )
    return records


def _val_records(layout: ImageNetLayout, notes: _Notes) -> list[Record]:
    folder = layout.data / "val"
    solution = notes.solutions["val"]
    records = []
    if solution is not None:
        names = os.listdir(folder) if folder.is_dir() else []
        present = {name.rsplit(".", 1)[0]: name for name in names}
        for image_id, (label, boxes, where, line) in solution.items():
            if image_id not in present:
                raise ValueError(f"{where} lists {image_id!r}, missing from {folder}.")
            rel = f"val/{present[image_id]}"
            lines = [(where, line)] * len(boxes)
            records.append(Record(rel, label, boxes, rel, where, None, image_id, lines))
    else:
        xml_dir = layout.annotations / "val"
        if not xml_dir.is_dir():
            raise FileNotFoundError(
                f"No val annotations: neither {layout.root / _SOLUTION['val']} nor {xml_dir}."
            )
        label_of = {w: i for i, w in enumerate(notes.wnids)}
        listing = FolderListing(layout.data)
        for name in sorted(os.listdir(xml_dir)):
            if not name.endswith(".xml"):
                continue
            image_id = name[: -len(".xml")]
            label, boxes, size = _voc(xml_dir / name, label_of)
            if label < 0:
                raise ValueError(f"Malformed annotation {xml_dir / name}: no <object>.")
            rel = f"val/{image_id}.JPEG"
            records.append(Record(rel, label, boxes, rel, str(xml_dir / name), size, image_id))
        check_present(records, listing, str(layout.data))
    records.sort(key=lambda r: r.key)
    return records


def _split_records(
    layout: ImageNetLayout,
    split: str,
    classes: Any = None,
    max_per_class: int | None = None,
    num_images: int | None = None,
) -> tuple[list[Record], tuple[int, ...], _Notes]:
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}. Received: split={split!r}")
    notes = _notes(layout)
    where = str(layout.root / _SYNSETS)
    if split == "val":
        groups, kept = select(
            _val_records(layout, notes),
            notes.wnids,
            classes=classes,
            max_per_class=max_per_class,
            where=where,
        )
        records = sorted((r for g in groups for r in g), key=lambda r: r.key)
    else:
        kept = resolve_classes(notes.wnids, classes, where)
        train = _train_records(layout, notes, kept)
        groups = split_holdout(
            by_class(train, len(notes.wnids)), split, HOLDOUT_PER_CLASS, boxed_only=True
        )
        groups, kept = select(
            [r for g in groups for r in g],
            notes.wnids,
            classes=classes,
            max_per_class=max_per_class,
            where=where,
        )
        records = interleave(groups)
    records = cap(records, num_images)
    if not records:
        raise no_images_error(split, layout.root, classes)
    return records, kept, notes


def imagenet_image_ids(spec: Any, split: str, **options: Any) -> list[str]:
    """The ids (paths under Data/CLS-LOC) of a split, from the annotations and file listing."""
    records, _, _ = _split_records(
        find_layout(spec.path),
        split,
        options.get("classes"),
        options.get("max_per_class"),
        options.get("num_images"),
    )
    return [r.id for r in records]


def load_imagenet(spec: Any, split: str, **options: Any) -> tuple[tf.data.Dataset, DatasetInfo]:
    """ILSVRC 2012 CLS-LOC as element dicts (the `imagenet:PATH` source of `load_dataset`).

    Args:
        spec: a `DataSpec` "imagenet:PATH", PATH the folder with LOC_synset_mapping.txt.
        split: one of `SPLITS`.
        **options: `classes` (None, K or a list of wnids), `max_per_class`, `num_images`,
            `image_size`, `strict_boxes`, `skip_bad_images`, `max_image_pixels`.

    Returns:
        (dataset, info); `info.wnids` the wnids, `info.class_names` their first synonym,
        `info.num_without_boxes` the images without a box (train).

    Raises:
        FileNotFoundError / ValueError: a missing part, a malformed line or XML (named with its
            line), an unknown wnid, an image listed but missing, an unreadable image, a box
            entirely outside its image, an XML `<size>` that differs from the image's header
            (see `data.checks`).
    """
    layout = find_layout(spec.path)
    records, kept, notes = _split_records(
        layout,
        split,
        options.get("classes"),
        options.get("max_per_class"),
        options.get("num_images"),
    )
    records, checked = check_records(records, options, source=str(spec), root=layout.data)
    ds = records_dataset(records, root=layout.data, image_size=options.get("image_size"))
    info = dataset_info(
        "imagenet", records, notes.wnids, notes.names, kept, options.get("image_size"), checked
    )
    return ds, info
