"""Benchmark: read speed of every file source (images/s and Mpixel/s), on generated data.

One pool of generated JPEGs (smooth gradients plus texture, quality 90) is written in each layout:
Tiny ImageNet (zip and folder), CUB-200-2011 (folder and .tgz), ILSVRC CLS-LOC (Kaggle layout),
wsolevaluation metadata and a CSV, at 64 x 64 (Tiny ImageNet's size, so per-pixel rates compare)
and at a CUB-like size. Each row iterates the whole train split through `load_dataset` (index
parsed once before timing; decode is a parallel tf.data map), median of `--repeats`, rows
interleaved. "setup" is the annotation parsing of `load_dataset`, the first time.

    python benchmarks/bench_data_read.py [--num-images 512] [--size 320x240] [--repeats 5] [--markdown]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf.data import load_dataset  # noqa: E402

CLASSES = 8


def _jpeg(rng: np.random.Generator, width: int, height: int) -> bytes:
    ramp = np.linspace(0, 120, width)[None, :, None] + np.linspace(0, 80, height)[:, None, None]
    texture = rng.normal(0, 12, size=(height, width, 3))
    pixels = np.clip(rng.integers(20, 60, size=(1, 1, 3)) + ramp + texture, 0, 255)
    return tf.io.encode_jpeg(pixels.astype(np.uint8), quality=90).numpy()


def _pool(num: int, width: int, height: int) -> list[tuple[int, int, int, bytes]]:
    """(class, index, width, height, bytes): sizes vary by up to 10% as in real data (not at
    64 x 64, Tiny ImageNet's fixed size)."""
    rng = np.random.default_rng(0)
    low = 1.0 if (width, height) == (64, 64) else 0.9
    out = []
    for i in range(num):
        w = int(width * rng.uniform(low, 1.0))
        h = int(height * rng.uniform(low, 1.0))
        out.append((i % CLASSES, i // CLASSES, w, h, _jpeg(rng, w, h)))
    return out


def _text(lines) -> str:
    return "\n".join(lines) + "\n"


def write_layouts(pool, root: Path) -> dict[str, tuple[str, str | None]]:
    """Every layout over the same images; returns row name -> (spec, data_dir)."""
    specs: dict[str, tuple[str, str | None]] = {}
    wnids = [f"n{c:08d}" for c in range(CLASSES)]
    # Tiny ImageNet: only for 64 x 64 pools (its reader insists on that size).
    if all((w, h) == (64, 64) for _, _, w, h, _ in pool):
        tiny = {"wnids.txt": _text(wnids).encode()}
        boxes: dict[int, list[str]] = {c: [] for c in range(CLASSES)}
        for c, k, w, h, data in pool:
            tiny[f"train/{wnids[c]}/images/{wnids[c]}_{k}.JPEG"] = data
            boxes[c].append(f"{wnids[c]}_{k}.JPEG\t1\t2\t{w - 2}\t{h - 3}")
        for c in range(CLASSES):
            tiny[f"train/{wnids[c]}/{wnids[c]}_boxes.txt"] = _text(boxes[c]).encode()
        tiny["val/val_annotations.txt"] = b""
        zpath = root / "tiny-imagenet-200.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as zf:
            for rel, data in tiny.items():
                zf.writestr(f"tiny-imagenet-200/{rel}", data)
                (root / "tiny" / "tiny-imagenet-200" / rel).parent.mkdir(
                    parents=True, exist_ok=True
                )
                (root / "tiny" / "tiny-imagenet-200" / rel).write_bytes(data)
        specs["tiny-imagenet (zip)"] = (f"tiny-imagenet:{zpath}", None)
        specs["tiny-imagenet (folder)"] = (f"tiny-imagenet:{root / 'tiny'}", None)
    # CUB_200_2011 folder and .tgz.
    cub = {}
    names = [f"{c + 1:03d}.Bird_{c}" for c in range(CLASSES)]
    rows = {"images": [], "labels": [], "split": [], "boxes": []}
    for i, (c, k, w, h, data) in enumerate(pool, start=1):
        rel = f"{names[c]}/Bird_{k:04d}.jpg"
        cub[f"images/{rel}"] = data
        rows["images"].append(f"{i} {rel}")
        rows["labels"].append(f"{i} {c + 1}")
        rows["split"].append(f"{i} 1")
        rows["boxes"].append(f"{i} 1.0 2.0 {w - 3}.0 {h - 4}.0")
    cub["classes.txt"] = _text(f"{c + 1} {n}" for c, n in enumerate(names)).encode()
    cub["images.txt"] = _text(rows["images"]).encode()
    cub["image_class_labels.txt"] = _text(rows["labels"]).encode()
    cub["train_test_split.txt"] = _text(rows["split"]).encode()
    cub["bounding_boxes.txt"] = _text(rows["boxes"]).encode()
    for rel, data in cub.items():
        (root / "CUB_200_2011" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "CUB_200_2011" / rel).write_bytes(data)
    with tarfile.open(root / "CUB_200_2011.tgz", "w:gz") as tar:
        for rel, data in cub.items():
            info = tarfile.TarInfo(f"CUB_200_2011/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    specs["cub (folder)"] = (f"cub:{root / 'CUB_200_2011'}", None)
    specs["cub (.tgz)"] = (f"cub:{root / 'CUB_200_2011.tgz'}", None)
    # ILSVRC CLS-LOC: every train image boxed.
    ilsvrc = root / "ilsvrc"
    lines = ["ImageId,PredictionString"]
    for c, k, w, h, data in pool:
        path = ilsvrc / "ILSVRC/Data/CLS-LOC/train" / wnids[c] / f"{wnids[c]}_{k}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        lines.append(f"{wnids[c]}_{k},{wnids[c]} 1 2 {w - 2} {h - 3}")
    (ilsvrc / "LOC_synset_mapping.txt").write_text(_text(f"{w} class {w}" for w in wnids))
    (ilsvrc / "LOC_train_solution.csv").write_text(_text(lines))
    specs["imagenet"] = (f"imagenet:{ilsvrc}", None)
    # wsolevaluation metadata and a CSV over the CUB images.
    meta = root / "wsol" / "train"
    meta.mkdir(parents=True)
    ids, labels, sizes, locs, csv_rows = [], [], [], [], ["image,label,x0,y0,x1,y1"]
    for c, k, w, h, _ in pool:
        rel = f"{names[c]}/Bird_{k:04d}.jpg"
        ids.append(rel)
        labels.append(f"{rel},{c}")
        sizes.append(f"{rel},{w},{h}")
        locs.append(f"{rel},1,2,{w - 2},{h - 3}")
        csv_rows.append(f"images/{rel},{names[c]},1,2,{w - 2},{h - 3}")
    for name, body in (("image_ids", ids), ("class_labels", labels), ("image_sizes", sizes),
                       ("localization", locs)):  # fmt: skip
        (meta / f"{name}.txt").write_text(_text(body))
    specs["wsol"] = (f"wsol:{root / 'wsol'}", str(root / "CUB_200_2011" / "images"))
    (root / "CUB_200_2011" / "boxes.csv").write_text(_text(csv_rows))
    specs["csv"] = (f"csv:{root / 'CUB_200_2011' / 'boxes.csv'}", None)
    return specs


def _read_all(ds: tf.data.Dataset) -> tuple[int, int]:
    count = pixels = 0
    for e in ds.prefetch(tf.data.AUTOTUNE):
        count += 1
        pixels += int(e["image"].shape[0]) * int(e["image"].shape[1])
    return count, pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=512)
    parser.add_argument("--size", default="320x240", help="WxH of the large pool")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}, "
        f"{args.num_images} images per layout, median of {args.repeats}"
    )
    print("| source | image size | setup s | images/s | Mpixel/s |")
    print("|---|---|---:|---:|---:|")
    for w, h in ((64, 64), (width, height)):
        with tempfile.TemporaryDirectory() as tmp:
            specs = write_layouts(_pool(args.num_images, w, h), Path(tmp))
            loaded, setup = {}, {}
            for name, (spec, data_dir) in specs.items():
                start = time.perf_counter()
                loaded[name] = load_dataset(spec, "train", data_dir=data_dir)[0]
                setup[name] = time.perf_counter() - start
            times: dict[str, list[float]] = {name: [] for name in specs}
            pixels = {}
            for _ in range(args.repeats):
                for name, ds in loaded.items():
                    start = time.perf_counter()
                    count, pixels[name] = _read_all(ds)
                    times[name].append(time.perf_counter() - start)
                    assert count == args.num_images, (name, count)
            for name in specs:
                t = statistics.median(times[name])
                label = "64x64" if (w, h) == (64, 64) else f"~{w}x{h} (90-100%)"
                print(
                    f"| {name} | {label} | {setup[name]:.2f} | {args.num_images / t:,.0f} | "
                    f"{pixels[name] / t / 1e6:.1f} |"
                )


if __name__ == "__main__":
    main()
