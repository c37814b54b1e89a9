"""Your own data: one CSV file, one row per box (the `csv:FILE` source).

Columns (a header row names them; any order)::

    image    path of the image, relative to the CSV's folder (or to `data_dir` when given)
    label    class name (any text); the classes are the sorted distinct names of the whole file
    x0, y0   top-left corner of the box, pixels (inclusive; numbers, rounded half up)
    x1, y1   bottom-right corner of the box, pixels (inclusive: a box of one pixel has x1 = x0)
    split    optional: the split the image belongs to (any name, e.g. train / val / test)

An image with several boxes has several rows (same image, label and split). A row whose four box
fields are empty is an image without a box: it trains, but evaluation refuses it by name. Without a
`split` column every image is in "train". When the file has a "train" split and does not name
them itself, "train_holdout" (the last `HOLDOUT_PER_CLASS` boxed train images of each class, in
file order) and "train_minus_holdout" (the rest) are derived, for choosing CAM thresholds on images
the model did not train on. Evaluation refuses to score any split that shares an image with the
images the model trained on. Example::

    image,label,x0,y0,x1,y1,split
    photos/cat_01.jpg,cat,12,30,180,200,train
    photos/cat_02.jpg,cat,0,0,99,120,train
    photos/cat_02.jpg,cat,140,10,230,96,train
    photos/dog_07.png,dog,,,,,train
    photos/dog_11.jpg,dog,40,22,310,240,val

The file may start with a UTF-8 byte-order mark and use CRLF line ends (as spreadsheets save it).
Malformed rows, inverted boxes, boxes entirely outside their image, and unreadable or missing
images are errors naming the file and line; a box that extends past its image is clipped to it and
counted (`data.checks`). Absolute image paths are used as they are.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from pathlib import Path
from typing import Any

import tensorflow as tf

from hide_and_seek_tf.data.elements import DatasetInfo
from hide_and_seek_tf.data.file_records import (
    FolderListing,
    Record,
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

REQUIRED_COLUMNS = ("image", "label", "x0", "y0", "x1", "y1")
OPTIONAL_COLUMNS = ("split",)
#: Boxed train images per class in the derived "train_holdout".
HOLDOUT_PER_CLASS: int = 5
DEFAULT_SPLIT = "train"
_DERIVED = ("train_holdout", "train_minus_holdout")


@dataclasses.dataclass(frozen=True)
class CsvTable:
    """The parsed file: images in order of first appearance, with their split."""

    path: Path
    class_ids: tuple[str, ...]
    records: tuple[Record, ...]
    splits: tuple[str, ...]  # per record
    split_names: tuple[str, ...]  # in order of appearance, derived ones last


@functools.lru_cache(maxsize=4)
def _read(path_text: str, stamp: tuple) -> CsvTable:
    path = Path(path_text)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty: expected a header row {list(REQUIRED_COLUMNS)}.")
        columns = [c.strip().lower() for c in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        if missing or unknown or len(set(columns)) != len(columns):
            raise ValueError(
                f"Malformed header at {path} line 1: expected the columns "
                f"{list(REQUIRED_COLUMNS)} and optionally {list(OPTIONAL_COLUMNS)}, each once. "
                f"Received: {header!r}"
            )
        at = {c: columns.index(c) for c in columns}
        images: dict[str, dict] = {}
        for row in reader:
            lineno = reader.line_num
            where = f"{path} line {lineno}"
            if not any(cell.strip() for cell in row):
                continue
            line = ",".join(row)
            if len(row) != len(columns):
                raise ValueError(
                    f"Malformed row at {where}: expected {len(columns)} fields "
                    f"({','.join(columns)}). Received: {line!r}"
                )
            cell = {c: row[i].strip() for c, i in at.items()}
            image, label = cell["image"], cell["label"]
            split = cell.get("split", DEFAULT_SPLIT)
            if not image or not label or not split:
                raise ValueError(
                    f"Malformed row at {where}: `image`, `label`"
                    + (" and `split`" if "split" in at else "")
                    + f" must not be empty. Received: {line!r}"
                )
            corners = [cell[c] for c in ("x0", "y0", "x1", "y1")]
            if all(corners):
                box = corner_box(
                    parse_numbers(corners, where, "numbers x0, y0, x1, y1", line), where, line
                )
            elif any(corners):
                raise ValueError(
                    f"Malformed row at {where}: give all four of x0, y0, x1, y1, or none (an "
                    f"image without a box). Received: {line!r}"
                )
            else:
                box = None
            entry = images.get(image)
            if entry is None:
                images[image] = {
                    "label": label, "split": split, "boxes": [] if box is None else [box],
                    "where": where, "boxless": box is None,
                    "lines": [] if box is None else [(where, line)],
                }  # fmt: skip
                continue
            if (entry["label"], entry["split"]) != (label, split):
                raise ValueError(
                    f"Malformed row at {where}: {image!r} is listed at {entry['where']} with "
                    f"label {entry['label']!r} and split {entry['split']!r}. Received: {line!r}"
                )
            if box is None or entry["boxless"]:
                raise ValueError(
                    f"Malformed row at {where}: {image!r} has both box rows and a row without a "
                    f"box (first at {entry['where']}). Received: {line!r}"
                )
            entry["boxes"].append(box)
            entry["lines"].append((where, line))
    if not images:
        raise ValueError(f"No rows in {path}.")
    class_ids = tuple(sorted({e["label"] for e in images.values()}))
    label_of = {c: i for i, c in enumerate(class_ids)}
    records, splits = [], []
    for order, (image, e) in enumerate(images.items()):
        records.append(
            Record(
                image, label_of[e["label"]], e["boxes"], image, e["where"], None, order, e["lines"]
            )
        )
        splits.append(e["split"])
    names = list(dict.fromkeys(splits))
    if DEFAULT_SPLIT in names and not any(n in names for n in _DERIVED):
        names += list(_DERIVED)
    return CsvTable(path, class_ids, tuple(records), tuple(splits), tuple(names))


def read_csv_table(path: str | Path) -> CsvTable:
    """Parses a CSV of boxes (cached while the file is unchanged).

    Raises:
        FileNotFoundError: no such file; ValueError: a malformed header or row (naming the line).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"CSV file not found: {path}.")
    return _read(str(path.resolve()), file_stamp(path))


def _split_records(spec: Any, options: dict[str, Any], split: str):
    table = read_csv_table(spec.path)
    if split not in table.split_names:
        raise ValueError(
            f"`split` must be one of {list(table.split_names)} (the splits of {table.path}). "
            f"Received: split={split!r}"
        )
    base = DEFAULT_SPLIT if split in _DERIVED and split not in table.splits else split
    chosen = [r for r, s in zip(table.records, table.splits, strict=True) if s == base]
    if base != split:
        groups = split_holdout(
            by_class(chosen, len(table.class_ids)), split, HOLDOUT_PER_CLASS, boxed_only=True
        )
        chosen = sorted((r for g in groups for r in g), key=lambda r: r.key)
    groups, kept = select(
        chosen,
        table.class_ids,
        classes=options.get("classes"),
        max_per_class=options.get("max_per_class"),
        where=str(table.path),
    )
    if split.startswith("train"):
        records = interleave(groups)
    else:
        records = sorted((r for g in groups for r in g), key=lambda r: r.key)
    records = cap(records, options.get("num_images"))
    if not records:
        raise no_images_error(split, table.path, options.get("classes"))
    return records, kept, table


def csv_image_ids(spec: Any, split: str, **options: Any) -> list[str]:
    """The ids (image paths as written) of a split."""
    records, _, _ = _split_records(spec, options, split)
    return [r.id for r in records]


def csv_validation_split(spec: Any) -> str | None:
    """The split training monitors: "val" if the file has it, else "test", else None."""
    names = read_csv_table(spec.path).split_names
    return next((s for s in ("val", "test") if s in names), None)


def load_csv(spec: Any, split: str, **options: Any) -> tuple[tf.data.Dataset, DatasetInfo]:
    """A split of a CSV of boxes as element dicts (the `csv:FILE` source of `load_dataset`).

    Args:
        spec: a `DataSpec` "csv:FILE"; its `data_dir`, when given, is the image root (default:
            FILE's folder).
        split: a split of the file (see the module docstring).
        **options: `classes` (None, K or a list of label names), `max_per_class`, `num_images`,
            `image_size`, `strict_boxes`, `skip_bad_images`, `max_image_pixels`.

    Raises:
        FileNotFoundError / ValueError: a malformed header or row (naming file and line), an
            unknown split, a listed image that is missing, an unreadable image, a box entirely
            outside its image (see `data.checks`).
    """
    records, kept, table = _split_records(spec, options, split)
    root = spec.image_root or table.path.parent
    check_present(records, FolderListing(root), str(root))
    records, checked = check_records(records, options, source=str(spec), root=root)
    ds = records_dataset(records, root=root, image_size=options.get("image_size"))
    info = dataset_info(
        "csv", records, table.class_ids, table.class_ids, kept, options.get("image_size"), checked
    )
    return ds, info
