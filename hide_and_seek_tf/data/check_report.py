"""`hide-and-seek-data check SPEC`: what a dataset holds and what is wrong with it, before a long run.

For each split it loads the split as training would (every image's header read, boxes checked:
`hide_and_seek_tf.data.checks`), with unreadable images counted instead of stopping the scan,
and reports: images, classes, boxes per image, box areas in the evaluation's size bins
(`metrics.SIZE_BINS`, the fraction of the image a box covers), clipped boxes, the images by
format and colour model (grayscale, CMYK, PNG), unreadable files and the largest image. Sources
whose files are not scanned (TFDS, synthetic data) are iterated instead (decoded images).

The exit status is 1 when a split cannot be loaded (a malformed annotation, a missing file, a box
entirely outside its image, with `strict_boxes` a box past it) or holds an unreadable image, else 0.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import numpy as np

from hide_and_seek_tf.data.checks import scan_progress
from hide_and_seek_tf.data.csv_source import read_csv_table
from hide_and_seek_tf.data.sources import DataSpec, load_dataset
from hide_and_seek_tf.data.wsol import read_wsol_metadata
from hide_and_seek_tf.metrics import SIZE_BINS, size_bin, size_bin_label


@dataclasses.dataclass
class SplitReport:
    """What `check_split` found in one split (`error` set when it could not be loaded)."""

    split: str
    error: str | None = None
    images: int = 0
    classes: int = 0
    box_counts: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    area_fractions: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    clipped_boxes: int = 0
    clipped_examples: tuple[str, ...] = ()
    kinds: dict[str, int] | None = None  # None: not scanned from the files
    unreadable: int = 0
    unreadable_examples: tuple[tuple[str, str], ...] = ()
    largest: tuple[str, int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.unreadable == 0


def default_splits(spec: DataSpec) -> list[str]:
    """The splits a check covers when none are named: the source's own, without the derived
    holdout splits (their images are in "train")."""
    if spec.kind == "wsol":
        return sorted(read_wsol_metadata(spec.path).splits)
    if spec.kind == "csv":
        names = read_csv_table(spec.path).split_names
        return [n for n in names if n not in ("train_holdout", "train_minus_holdout")]
    validation = spec.validation_split
    return ["train"] + ([validation] if validation else [])


def check_split(
    spec: DataSpec,
    split: str,
    *,
    classes: Any = None,
    strict_boxes: bool = False,
    max_image_pixels: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SplitReport:
    """Loads one split with unreadable images counted (not fatal) and reports what it holds."""
    report = SplitReport(split)
    try:
        with scan_progress(progress or (lambda done, total: None)):
            ds, info = load_dataset(
                spec,
                split,
                classes=classes,
                strict_boxes=strict_boxes,
                skip_bad_images=True,
                max_image_pixels=max_image_pixels,
            )
    except (FileNotFoundError, ValueError, TypeError) as err:
        report.error = str(err)
        return report
    report.classes = info.num_classes
    report.clipped_boxes = info.num_clipped_boxes
    report.clipped_examples = info.clipped_boxes
    scan = info.scan
    if scan is not None:
        report.images = scan.num_images
        report.box_counts = np.asarray(scan.box_counts, np.int64)
        report.area_fractions = np.asarray(scan.area_fractions, np.float64)
        report.kinds = dict(scan.kinds)
        report.unreadable = scan.num_bad
        report.unreadable_examples = scan.bad
        report.largest = scan.largest
        return report
    # Not scanned from files (TFDS, synthetic): iterate the decoded elements.
    counts, fractions = [], []
    largest = None
    total = info.num_examples or 0
    for k, element in enumerate(ds.as_numpy_iterator(), start=1):
        height, width = element["image"].shape[:2]
        boxes = element["boxes"]
        counts.append(len(boxes))
        areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
        fractions.extend((areas / (width * height)).tolist())
        if largest is None or width * height > largest[1] * largest[2]:
            largest = (element["id"].decode(), int(width), int(height))
        if progress:
            progress(k, max(total, k))
    report.images = len(counts)
    report.box_counts = np.asarray(counts, np.int64)
    report.area_fractions = np.asarray(fractions, np.float64)
    report.largest = largest
    return report


def format_split(report: SplitReport) -> str:
    """The lines `hide-and-seek-data check` prints for one split."""
    if report.error is not None:
        return f"{report.split}: error: {report.error}"
    counts = report.box_counts
    boxes = int(counts.sum())
    lines = [f"{report.split}: {report.images:,} images, {report.classes:,} classes"]
    if len(counts):
        spread = Counter(counts.tolist())
        shown = ", ".join(f"{n}: {spread[n]:,}" for n in sorted(spread)[:6])
        more = ", ..." if len(spread) > 6 else ""
        lines.append(
            f"  boxes: {boxes:,} ({boxes / len(counts):.2f} per image, max {counts.max()}); "
            f"images by box count {{{shown}{more}}}"
        )
    # The evaluation's size breakdown bins, so the two reports line up.
    bins = np.bincount(size_bin(report.area_fractions), minlength=len(SIZE_BINS) - 1)
    labels = [size_bin_label(r) for r in zip(SIZE_BINS[:-1], SIZE_BINS[1:], strict=True)]
    lines.append(
        "  box area / image area: "
        + ", ".join(f"{label} {n:,}" for label, n in zip(labels, bins, strict=True))
    )
    clipped = f"  clipped boxes (past the image): {report.clipped_boxes:,}"
    if report.clipped_examples:
        clipped += f", e.g. {report.clipped_examples[0]}"
    lines.append(clipped)
    if report.kinds is not None:
        kinds = report.kinds
        gray = sum(n for k, n in kinds.items() if k.endswith(("_gray", "_gray_alpha")))
        cmyk = kinds.get("jpeg_cmyk", 0)
        png = sum(n for k, n in kinds.items() if k.startswith("png_"))
        lines.append(
            f"  grayscale {gray:,}, CMYK {cmyk:,}, PNG {png:,} "
            f"({', '.join(f'{k} {n:,}' for k, n in sorted(kinds.items()))})"
        )
        unreadable = f"  unreadable: {report.unreadable:,}"
        if report.unreadable_examples:
            unreadable += "; " + "; ".join(f"{p}: {why}" for p, why in report.unreadable_examples)
        lines.append(unreadable)
    else:
        lines.append("  formats: not scanned (images come decoded from this source)")
    if report.largest is not None:
        where, width, height = report.largest
        lines.append(f"  largest image: {width} x {height} ({width * height:,} pixels), {where}")
    return "\n".join(lines)


class _Bar:
    """A one-line progress bar on a terminal (nothing when the stream is not one)."""

    def __init__(self, label: str, stream: TextIO, enabled: bool):
        self.label, self.stream, self.enabled = label, stream, enabled
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or not total:
            return
        filled = int(30 * done / total)
        self.stream.write(
            f"\r{self.label} [{'=' * filled}{'.' * (30 - filled)}] {done:,}/{total:,}"
        )
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def run_check(
    spec: DataSpec,
    splits: Sequence[str] | None = None,
    *,
    classes: Any = None,
    strict_boxes: bool = False,
    max_image_pixels: int | None = None,
    out: TextIO | None = None,
    progress: bool | None = None,
) -> int:
    """Checks the splits of `spec`, printing a report per split; returns the exit status."""
    out = out or sys.stdout
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        names = list(splits) if splits else default_splits(spec)
    except (FileNotFoundError, ValueError) as err:
        print(f"{spec}: error: {err}", file=out)
        return 1
    print(f"{spec}" + (f" (images under {spec.data_dir})" if spec.data_dir else ""), file=out)
    status = 0
    for name in names:
        bar = _Bar(f"scanning {name}", sys.stderr, progress)
        try:
            report = check_split(
                spec,
                name,
                classes=classes,
                strict_boxes=strict_boxes,
                max_image_pixels=max_image_pixels,
                progress=bar,
            )
        finally:
            bar.close()
        print(format_split(report), file=out)
        status = status or (0 if report.ok else 1)
    return status


__all__ = ["SIZE_BINS", "SplitReport", "check_split", "default_splits", "format_split", "run_check"]
