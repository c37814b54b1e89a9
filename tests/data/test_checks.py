"""The data checks on the real datasets' quirks, for every file source: bad images and boxes past the
image are found from headers while loading (one line naming the file, before any pipeline runs),
clipped or skipped when asked and counted."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf import protocol
from hide_and_seek_tf.data import check_report, checks, load_dataset
from hide_and_seek_tf.data.checks import BadImage, header_of_bytes
from hide_and_seek_tf.data.sources import DataSpec
from tests.data.layouts import (
    IMAGENET_CMYK,
    IMAGENET_GRAY,
    IMAGENET_WNIDS,
    cub_files,
    image_bytes,
    imagenet_files,
    write_cub,
    write_files,
    wsol_files,
)
from tests.data.quirks import DAMAGES, FORMS, png_declaring, with_icc_and_exif, write_form
from tests.fake_tiny_imagenet import tiny_imagenet_files, write_tiny_imagenet


def _ids(ds) -> list[str]:
    return [e["id"].decode() for e in ds.as_numpy_iterator()]


# === Headers ===
@pytest.mark.parametrize(
    "fmt, gray, kind", [("jpeg", False, "jpeg_rgb"), ("jpeg", True, "jpeg_gray"),
                        ("cmyk", False, "jpeg_cmyk"), ("png", False, "png_rgb")],
)  # fmt: skip
def test_a_header_gives_the_size_and_colour_model(fmt, gray, kind):
    data, pixels = image_bytes(37, 23, 1, gray=gray, fmt=fmt)
    header = header_of_bytes(data)
    assert (header.width, header.height, header.kind) == (37, 23, kind)


def test_icc_and_exif_orientation_0_are_skipped_to_the_frame_and_decode():
    data, pixels = image_bytes(41, 19, 2)
    quirky = with_icc_and_exif(data, orientation=0)
    header = header_of_bytes(quirky)
    assert (header.width, header.height) == (41, 19)
    decoded = tf.io.decode_image(quirky, channels=3).numpy()
    np.testing.assert_array_equal(decoded, tf.io.decode_image(data, channels=3).numpy())


@pytest.mark.parametrize(
    "damage, reason",
    [("truncated", "truncated JPEG"), ("zero-bytes", "empty file"),
     ("not-an-image", "not a JPEG, PNG, GIF or BMP")],
)  # fmt: skip
def test_damaged_bytes_say_why(damage, reason):
    data, _ = image_bytes(30, 20, 3)
    with pytest.raises(BadImage, match=reason):
        header_of_bytes(DAMAGES[damage](data))


def test_a_small_png_declaring_a_huge_size_is_refused_from_its_header(monkeypatch):
    bomb = png_declaring(20_000, 20_000)
    assert len(bomb) < 200
    header = header_of_bytes(bomb)  # the header alone is fine ...
    assert (header.width, header.height) == (20_000, 20_000)
    with pytest.raises(BadImage, match=r"20000 x 20000 = 400,000,000 pixels.*before decoding"):
        checks.check_pixels(header, checks.max_image_pixels())  # ... the default limit refuses it
    # The largest ILSVRC val image passes the default limit.
    checks.check_pixels(checks.ImageHeader("jpeg", 4288, 5005, "rgb"), checks.max_image_pixels())
    monkeypatch.setenv(checks.MAX_PIXELS_ENV, "1000")
    assert checks.max_image_pixels() == 1000
    monkeypatch.setenv(checks.MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=r"HIDE_AND_SEEK_MAX_IMAGE_PIXELS.*'lots'"):
        checks.max_image_pixels()


# === Bad images, every source ===
@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("form", FORMS)
def test_a_bad_image_fails_in_one_line_naming_it_or_is_skipped(tmp_path, form, damage):
    spec, data_dir, split, victim = write_form(form, tmp_path, DAMAGES[damage])
    with pytest.raises(ValueError) as caught:
        load_dataset(spec, split, data_dir=data_dir)  # no pipeline has run: it is the load
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(
        rf"Unreadable image \S*{re.escape(victim)} \(listed at \S+ line \d+\)", message
    )
    ds, info = load_dataset(spec, split, data_dir=data_dir, skip_bad_images=True)
    assert info.num_skipped_images == 1 and victim in info.skipped_images[0]
    ids = _ids(ds)
    assert len(ids) == info.num_examples and not any(victim.endswith(i) for i in ids)


def test_a_corrupt_zip_entry_is_named(tmp_path):
    files = tiny_imagenet_files()
    path = write_tiny_imagenet(files, tmp_path, as_zip=True)
    name = "tiny-imagenet-200/val/images/val_2.JPEG"
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.file_size // 2] ^= 0xFF  # the CRC no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"Unreadable image \S*val_2\.JPEG .*corrupt zip entry"):
        load_dataset(f"tiny-imagenet:{path}", "val")


def test_the_pixel_limit_is_a_setting(tmp_path):
    spec, data_dir, split, _ = write_form("csv", tmp_path)
    with pytest.raises(ValueError, match=r"above the limit of 100 "):
        load_dataset(spec, split, max_image_pixels=100)
    with pytest.raises(ValueError, match=r"none of the \d+ images can be read"):
        load_dataset(spec, split, max_image_pixels=100, skip_bad_images=True)  # all over 100 px
    _, info = load_dataset(spec, split, max_image_pixels=40 * 44, skip_bad_images=True)
    assert 0 < info.num_skipped_images < info.scan.num_images


# === Boxes past the image ===
def test_cub_boxes_1_2_and_33_px_past_the_edge_are_clipped_as_wsolevaluation_does(tmp_path, caplog):
    files, truth = cub_files()
    lines = files["bounding_boxes.txt"].decode().splitlines()
    past = {1: ("x", 1), 2: ("x", 2), 3: ("y", 33)}  # image id: (axis, pixels past the edge)
    for image_id, (axis, extra) in past.items():
        height, width = truth[image_id]["pixels"].shape[:2]
        x, y = 3.0, 4.0
        w = width - x + extra if axis == "x" else 10.0
        h = height - y + extra if axis == "y" else 10.0
        lines[image_id - 1] = f"{image_id} {x} {y} {w} {h}"  # floats with .0, as the real file
        truth[image_id]["wsol_box"] = (x, y, min(x + w, width - 1), min(y + h, height - 1))
    files["bounding_boxes.txt"] = ("\n".join(lines) + "\n").encode()
    path = write_cub(files, tmp_path, as_tgz=False)
    with caplog.at_level("WARNING", logger="hide_and_seek_tf.data"):
        ds, info = load_dataset(f"cub:{path}", "train")
    assert info.num_clipped_boxes == 3
    (warning,) = [r.getMessage() for r in caplog.records]  # one line per load
    assert "clipped 3 box(es)" in warning and "\n" not in warning
    elements = {e["id"].decode(): e for e in ds.as_numpy_iterator()}
    for image_id in past:
        (box,) = elements[truth[image_id]["path"]]["boxes"]
        wsol = truth[image_id]["wsol_box"]
        # Clipped to the last pixel: wsolevaluation's x1 = min(x + w, W - 1), the same for y.
        k = 2 if past[image_id][0] == "x" else 3
        assert box[k] == wsol[k]
    with pytest.raises(ValueError, match=r"bounding_boxes\.txt line 1 extends past the"):
        load_dataset(f"cub:{path}", "train", strict_boxes=True)


@pytest.mark.parametrize("form", ["wsol", "csv", "tiny-zip", "imagenet"])
def test_a_box_past_the_image_is_clipped_and_counted_in_every_source(tmp_path, form):
    root = tmp_path / "plain"
    spec, data_dir, split, _ = write_form(form, root)
    _, plain = load_dataset(spec, split, data_dir=data_dir)
    if form == "wsol":
        meta, images, _ = wsol_files()
        lines = meta["val/localization.txt"].decode().splitlines()
        path, x0, y0, _, y1 = lines[0].split(",")
        lines[0] = f"{path},{x0},{y0},10000,{y1}"
        meta["val/localization.txt"] = ("\n".join(lines) + "\n").encode()
        spec = f"wsol:{write_files(meta, tmp_path / 'meta')}"
        data_dir = str(write_files(images, tmp_path / "images"))
        where = "localization.txt line 1"
    elif form == "csv":
        csv_path = Path(spec.split(":", 1)[1])
        lines = csv_path.read_text().splitlines()
        k = next(k for k, line in enumerate(lines) if line.endswith(",val"))
        row = lines[k].split(",")
        row[4] = "10000"  # x1
        lines[k] = ",".join(row)
        csv_path.write_text("\n".join(lines) + "\n")
        where = f"data.csv line {k + 1}"
    elif form == "tiny-zip":
        files = tiny_imagenet_files(val_boxes=lambda _, i: (1, 2, 64 if i == 1 else 60, 63))
        spec = f"tiny-imagenet:{write_tiny_imagenet(files, tmp_path / 'past', as_zip=True)}"
        where = "val_annotations.txt line 2"
    else:
        files, _ = imagenet_files(xml=False)
        lines = files["LOC_val_solution.csv"].decode().splitlines()
        name, prediction = lines[1].split(",")
        wnid, x0, y0, x1, y1 = prediction.split()[:5]
        lines[1] = f"{name},{wnid} {x0} {y0} {int(x1) + 1} {y1} " + " ".join(prediction.split()[5:])
        files["LOC_val_solution.csv"] = ("\n".join(lines) + "\n").encode()
        spec = f"imagenet:{write_files(files, tmp_path / 'past')}"
        where = "LOC_val_solution.csv line 2"
    ds, info = load_dataset(spec, split, data_dir=data_dir)
    assert info.num_clipped_boxes == plain.num_clipped_boxes + 1
    assert any(where in example for example in info.clipped_boxes)
    for element in ds.as_numpy_iterator():
        height, width = element["image"].shape[:2]
        assert (element["boxes"][:, 2] <= width - 1).all()
        assert (element["boxes"][:, 3] <= height - 1).all()
    with pytest.raises(ValueError, match=rf"{re.escape(where)} extends past the"):
        load_dataset(spec, split, data_dir=data_dir, strict_boxes=True)


def test_a_box_entirely_outside_its_image_is_an_error_naming_the_line(tmp_path):
    files = tiny_imagenet_files(val_boxes=lambda _, i: (70, 2, 80, 10) if i == 3 else (1, 2, 9, 9))
    spec = f"tiny-imagenet:{write_tiny_imagenet(files, tmp_path, as_zip=False)}"
    with pytest.raises(ValueError, match=r"val_annotations\.txt line 4 lies entirely outside"):
        load_dataset(spec, "val", skip_bad_images=True)  # not an unreadable image: no skipping


# === CSV as spreadsheets save it ===
def test_a_csv_with_a_bom_and_crlf_loads_as_the_plain_one(tmp_path):
    spec, _, split, _ = write_form("csv", tmp_path)
    path = Path(spec.split(":", 1)[1])

    def elements():
        ds, _ = load_dataset(spec, split)
        return [(e["id"], e["label"], e["boxes"].tolist()) for e in ds.as_numpy_iterator()]

    plain = elements()
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert elements() == plain and plain


def test_csv_paths_resolve_against_its_folder_data_dir_or_as_absolute(tmp_path):
    spec, _, split, _ = write_form("csv", tmp_path / "here")
    path = Path(spec.split(":", 1)[1])
    ids = _ids(load_dataset(spec, split)[0])
    moved = tmp_path / "elsewhere.csv"
    moved.write_text(path.read_text())
    assert _ids(load_dataset(f"csv:{moved}", split, data_dir=str(path.parent))[0]) == ids
    absolute = tmp_path / "absolute.csv"
    absolute.write_text(path.read_text().replace("photos/", f"{path.parent}/photos/"))
    assert [i.rsplit("/", 3)[-3:] for i in _ids(load_dataset(f"csv:{absolute}", split)[0])] == [
        i.rsplit("/", 3)[-3:] for i in ids
    ]


# === ImageNet as it is ===
def test_imagenet_val_as_distributed(tmp_path):
    files, truth = imagenet_files(xml=False)
    # Edited copies of the synset list: a byte-order mark, CRLF, and the duplicate name "crane".
    synsets = [f"{w} crane" if k != 1 else f"{w} goldfish" for k, w in enumerate(IMAGENET_WNIDS)]
    files["LOC_synset_mapping.txt"] = b"\xef\xbb\xbf" + "\r\n".join(synsets).encode() + b"\r\n"
    # A val row with 22 boxes and the trailing space every real row has; ICC + EXIF orientation 0.
    lines = files["LOC_val_solution.csv"].decode().splitlines()
    name = "ILSVRC2012_val_00000003"
    wnid = IMAGENET_WNIDS[3 % 3]
    boxes = [(k, k, 10 + k, 12 + k) for k in range(22)]
    lines[3] = f"{name}," + "".join(f"{wnid} {' '.join(map(str, b))} " for b in boxes)
    files["LOC_val_solution.csv"] = ("\n".join(lines[:1] + lines[3:] + lines[1:3]) + "\n").encode()
    rel = f"ILSVRC/Data/CLS-LOC/val/{name}.JPEG"
    files[rel] = with_icc_and_exif(files[rel], orientation=0)
    root = write_files(files, tmp_path / "imagenet")
    ds, info = load_dataset(f"imagenet:{root}", "val")
    assert info.class_names == ("crane", "goldfish", "crane") and info.wnids == IMAGENET_WNIDS
    assert info.max_boxes == 22 and info.num_clipped_boxes == 0
    kinds = dict(info.scan.kinds)
    assert kinds["jpeg_gray"] == 1 and kinds["jpeg_cmyk"] == 1
    elements = {e["id"].decode(): e for e in ds.as_numpy_iterator()}
    np.testing.assert_array_equal(elements[f"val/{name}.JPEG"]["boxes"], boxes)
    for gray_or_cmyk in (IMAGENET_GRAY, IMAGENET_CMYK):
        assert elements[gray_or_cmyk]["image"].shape[-1] == 3


# === The data check command ===
def test_the_check_bins_are_the_evaluations():
    assert check_report.SIZE_BINS == protocol.SIZE_BINS


def test_check_reports_a_clean_copy_and_exits_0(tmp_path, capsys):
    spec, _, _, _ = write_form("imagenet", tmp_path)
    status = check_report.run_check(DataSpec.parse(spec), ["val"], progress=False)
    out = capsys.readouterr().out
    assert status == 0
    assert "val: 6 images, 3 classes" in out
    assert "grayscale 1, CMYK 1, PNG 0" in out and "unreadable: 0" in out
    # Boxes per image and area bins add up to the annotation's boxes.
    files, truth = imagenet_files(xml=False)
    num_boxes = sum(len(t["boxes"]) for r, t in truth.items() if r.startswith("val/"))
    assert f"boxes: {num_boxes} " in out
    bins = re.search(r"box area / image area: (.*)", out).group(1)
    assert sum(int(n.replace(",", "")) for n in re.findall(r"[\])] ([\d,]+)", bins)) == num_boxes


@pytest.mark.parametrize("form", ["cub-tgz", "wsol", "tiny-zip"])
def test_check_counts_unreadable_files_and_exits_1(tmp_path, capsys, form):
    spec, data_dir, split, victim = write_form(form, tmp_path, DAMAGES["truncated"])
    status = check_report.run_check(
        DataSpec.parse(spec, data_dir=data_dir), [split], progress=False
    )
    out = capsys.readouterr().out
    assert status == 1
    assert re.search(rf"unreadable: 1; \S*{re.escape(victim)}: truncated", out)


def test_check_names_a_split_it_cannot_load_and_exits_1(tmp_path, capsys):
    files, _ = imagenet_files(xml=False)
    files = {k: v for k, v in files.items() if "/train/" not in k}  # only val on disk
    root = write_files(files, tmp_path)
    status = check_report.run_check(DataSpec.parse(f"imagenet:{root}"), None, progress=False)
    out = capsys.readouterr().out
    assert status == 1
    assert re.search(r"^train: error: Missing \S+train/n01440764", out, re.MULTILINE)
    assert "val: 6 images" in out
