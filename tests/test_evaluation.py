"""Tests for evaluate.py and hide_and_seek_tf.evaluation on a run directory the test writes
(an untrained small_gap on synthetic data, in the layout training writes)."""

import csv
import json

import keras
import pytest

from hide_and_seek_tf._io import save_model_atomic, write_json_atomic
from hide_and_seek_tf.cli import evaluate
from hide_and_seek_tf.data import SYNTHETIC_CLASS_NAMES
from hide_and_seek_tf.evaluation import evaluate_run
from hide_and_seek_tf.models import build_model

PNG = b"\x89PNG\r\n\x1a\n"
FAST = dict(num_images=12, batch_size=6, baseline_images=24, progress=False, num_plot=4)


NUM_SYNTHETIC = len(SYNTHETIC_CLASS_NAMES)


def _write_run(path, num_classes=NUM_SYNTHETIC, size=32):
    path.mkdir(parents=True, exist_ok=True)
    model = build_model("small_gap", num_classes, input_shape=(size, size, 3))
    save_model_atomic(model, path / "model.keras")
    config = {
        "data": "synthetic",
        "model": "small_gap",
        "image_size": [size, size],
        "num_classes": num_classes,
        "class_names": list(SYNTHETIC_CLASS_NAMES[:num_classes]),
        "seed": 0,
        "classes": None,
        "num_images": 48,
        "pooling": "avg",
        "hide_patch_sizes": [8],
    }
    write_json_atomic(path / "config.json", config)
    write_json_atomic(path / "dataset_mean.json", {"mean": [127.5] * 3, "std": [127.5] * 3})
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _write_run(tmp_path_factory.mktemp("runs") / "demo")


def test_writes_the_eval_directory(run_dir):
    result = evaluate_run(run_dir, **FAST)
    out = run_dir / "eval"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["data"] == {
        "spec": "synthetic",
        "split": "val",
        "num_images": 12,
        "num_classes": 8,
        "image_size": [32, 32],
        "strict_boxes": False,
        "clipped_boxes": 0,
        "clipped_examples": [],
        "skipped_images": 0,
        "skipped_examples": [],
    }
    assert saved["protocol"]["cam_thresholds"] == [0.2]  # small_gap: the paper's 0.2
    assert saved["metrics"]["num_images"] == 12
    assert saved["baselines"]["whole_image"]["box"] == [0, 0, 31, 31]
    assert saved["baselines"]["train_box"]["fitted_on_train_images"] == 24
    rows = list(csv.DictReader((out / "thresholds.csv").open()))
    assert [float(r["cam_threshold"]) for r in rows] == [0.2]
    for name in ("threshold_curve.png", "cams.png"):
        assert (out / name).read_bytes()[:8] == PNG
    # Nothing half-written is left behind.
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_sweep_and_ten_crop(run_dir, tmp_path):
    result = evaluate_run(run_dir, sweep=True, ten_crop=True, out_dir=tmp_path, **FAST)
    protocol, metrics = result["protocol"], result["metrics"]
    assert len(protocol["cam_thresholds"]) == 100 and protocol["ten_crop"]
    assert protocol["thresholds_swept_on"] == "val"
    assert metrics["cam_threshold"] == 0.2
    assert metrics["max_box_acc_v2"] is not None
    # MaxBoxAcc is the best of the curve, never below the fixed-threshold GT-known Loc.
    assert metrics["max_box_acc"] == max(metrics["curves"]["gt_known_loc"])
    assert metrics["max_box_acc"] >= metrics["gt_known_loc"]
    assert len(list(csv.DictReader((tmp_path / "thresholds.csv").open()))) == 100


def test_mismatched_data_is_a_clear_error(tmp_path):
    run = _write_run(tmp_path / "five", num_classes=5)
    with pytest.raises(ValueError, match="8 classes, the model 5"):
        evaluate_run(run, **FAST)


def test_missing_run_dir_or_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        evaluate_run(tmp_path / "nowhere", **FAST)
    run = _write_run(tmp_path / "partial")
    (run / "model.keras").unlink()
    with pytest.raises(FileNotFoundError, match="model.keras"):
        evaluate_run(run, **FAST)


def test_cli(run_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["--run-dir", str(run_dir), "--num-images", "6", "--batch-size", "6", "--no-progress"]
    assert evaluate.main(argv + ["--thresholds", "0.3", "0.5", "--out-dir", str(out)]) == 0
    assert "GT-known Loc" in capsys.readouterr().out
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["protocol"]["cam_thresholds"] == [0.2, 0.3, 0.5]  # + the fixed 0.2
    assert evaluate.main(["--run-dir", str(tmp_path / "missing")]) == 2
    assert "Run directory not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main(argv + ["--sweep", "--thresholds", "0.2"])


def test_a_single_threshold_is_the_one_reported(run_dir, tmp_path):
    result = evaluate_run(run_dir, thresholds=[0.35], out_dir=tmp_path, **FAST)
    assert result["metrics"]["cam_threshold"] == pytest.approx(0.35)
    assert result["protocol"]["cam_thresholds"] == [pytest.approx(0.35)]


def _two_class_tiny_imagenet(fake_tiny_imagenet, root):
    """12 train images per class, one val image per class."""
    wnids = [f"n{i:08d}" for i in range(2)]
    return fake_tiny_imagenet(
        root,
        as_zip=False,
        wnids=wnids,
        words={w: f"thing {i}" for i, w in enumerate(wnids)},
        train_indices=range(12),
        num_val=2,
        gray=(),
    )


def test_refuses_to_score_a_holdout_the_model_trained_on(tmp_path, fake_tiny_imagenet):
    from hide_and_seek_tf.evaluation import _check_holdout_unseen

    data = f"tiny-imagenet:{_two_class_tiny_imagenet(fake_tiny_imagenet, tmp_path)}"
    trained_on_all = {"data": data, "classes": None, "max_per_class": None, "train_split": "train"}
    with pytest.raises(ValueError, match="train_minus_holdout") as info:
        _check_holdout_unseen(trained_on_all, None, "train_holdout")
    assert "20 of the 20" in str(info.value)  # 10 held-out images per class, all trained on
    _check_holdout_unseen(trained_on_all, None, "val")  # val is never trained on
    held_out = {**trained_on_all, "train_split": "train_minus_holdout"}
    assert _check_holdout_unseen(held_out, None, "train_holdout") is True
    capped = {**trained_on_all, "max_per_class": 2}  # the first 2 images of each class only
    _check_holdout_unseen(capped, None, "train_holdout")


def test_a_model_file_of_unknown_training_images_may_use_a_holdout_with_a_warning(
    tmp_path, fake_tiny_imagenet, caplog
):
    from hide_and_seek_tf.evaluation import _check_holdout_unseen

    data = f"tiny-imagenet:{_two_class_tiny_imagenet(fake_tiny_imagenet, tmp_path)}"
    model_file = {"data": data, "train_split": None}  # what `evaluate.py --model` knows
    with caplog.at_level("WARNING", logger="hide_and_seek_tf.evaluation"):
        assert _check_holdout_unseen(model_file, None, "train_holdout") is False
        assert _check_holdout_unseen(model_file, None, "val") is None
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "`train_holdout` is a holdout split" in warnings[0]


def test_cli_evaluates_any_keras_classifier_file(tmp_path, capsys):
    # Not a project model: no `cam_features` / `predictions`, max pooling, a softmax head that
    # expects [-1, 1] input ("tf" preprocessing).
    inputs = keras.Input((32, 32, 3))
    maps = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="maps")(inputs)
    pooled = keras.layers.Dropout(0.1)(keras.layers.GlobalMaxPooling2D()(maps))
    outputs = keras.layers.Dense(NUM_SYNTHETIC, activation="softmax", name="scores")(pooled)
    keras.Model(inputs, outputs).save(tmp_path / "net.keras")
    argv = ["--model", str(tmp_path / "net.keras"), "--num-images", "6", "--batch-size", "6"]
    argv += ["--no-progress", "--preprocessing", "tf"]
    assert evaluate.main(argv + ["--data", "synthetic"]) == 0
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["metrics"]["num_images"] == 6 and saved["model"]["preprocessing"] == "tf"
    assert 0 <= saved["metrics"]["gt_known_loc"] <= 100
    with pytest.raises(SystemExit):  # a model file does not know its data
        evaluate.main(argv)
    # Naming a layer that is not a Dense as the classifier is a clear error.
    bad = argv + [
        "--data",
        "synthetic",
        "--classifier-layer",
        "maps",
        "--out-dir",
        str(tmp_path / "x"),
    ]
    assert evaluate.main(bad) == 2
    assert "`classifier_layer` must name a Dense" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # The occlusion test fills with the run's dataset mean; a model file has none.
    no_mean = argv + [
        "--data",
        "synthetic",
        "--occlusion",
        "0,0.5",
        "--out-dir",
        str(tmp_path / "y"),
    ]
    assert evaluate.main(no_mean) == 2
    assert (
        "`occlusion` fills the hidden cells with the run's dataset mean" in capsys.readouterr().err
    )
    assert not (tmp_path / "y").exists()


def test_the_guard_holds_for_any_spelling_of_the_spec(tmp_path, fake_tiny_imagenet):
    from hide_and_seek_tf.evaluation import _check_holdout_unseen

    folder = _two_class_tiny_imagenet(fake_tiny_imagenet, tmp_path)
    trained_on_all = {"data": f"tiny-imagenet:{folder}", "train_split": "train"}
    # The spelling evaluate_run(data=...) used to let through unguarded.
    with pytest.raises(ValueError, match="20 of the 20 `train_holdout` images"):
        _check_holdout_unseen(trained_on_all, f"tiny_imagenet:{folder}", "train_holdout")
    with pytest.raises(ValueError, match="train_minus_holdout"):
        _check_holdout_unseen({**trained_on_all, "data": f"TINY-IMAGENET:{folder}"}, None,
                              "train_holdout")  # fmt: skip


def test_the_guard_holds_for_every_file_source(tmp_path):
    from hide_and_seek_tf.evaluation import _check_holdout_unseen
    from tests.data.layouts import csv_files, cub_files, write_cub, write_files, wsol_files

    cub = f"cub:{write_cub(cub_files()[0], tmp_path / 'cub', as_tgz=True)}"
    with pytest.raises(ValueError, match="15 of the 15 `train_holdout`"):
        _check_holdout_unseen({"data": cub, "train_split": "train"}, None, "train_holdout")
    _check_holdout_unseen(
        {"data": cub, "train_split": "train_minus_holdout"}, None, "train_holdout"
    )
    _check_holdout_unseen({"data": cub, "train_split": "train"}, None, "test")

    # CSV: every split but the trained one is guarded, also in another file of the same images.
    folder = write_files(csv_files()[0], tmp_path / "mine")
    other = folder / "more.csv"
    other.write_text("image,label,x0,y0,x1,y1,split\nphotos/train/cat_0.jpg,cat,1,1,5,5,val\n")
    trained = {"data": f"csv:{folder / 'data.csv'}", "train_split": "train"}
    with pytest.raises(ValueError, match=r"1 of the 1 `val` images \(e.g. 'photos/train/cat_0"):
        _check_holdout_unseen(trained, f"csv:{other}", "val")
    _check_holdout_unseen(trained, None, "val")

    meta, images, _ = wsol_files()
    meta["val/image_ids.txt"] += meta["train/image_ids.txt"].splitlines(keepends=True)[0]
    meta["val/class_labels.txt"] += meta["train/class_labels.txt"].splitlines(keepends=True)[0]
    config = {
        "data": f"wsol:{write_files(meta, tmp_path / 'meta')}",
        "data_dir": str(write_files(images, tmp_path / "img")),
        "train_split": "train",
    }
    with pytest.raises(ValueError, match="1 of the 5 `val` images"):
        _check_holdout_unseen(config, None, "val")
    _check_holdout_unseen(config, None, "test")


def test_evaluation_refuses_images_without_boxes_by_name(tmp_path):
    from hide_and_seek_tf.evaluation import _load_data
    from tests.data.layouts import imagenet_files, write_files

    config = {"data": f"imagenet:{write_files(imagenet_files()[0], tmp_path)}"}
    with pytest.raises(ValueError, match=r"6 of the 42 'train' images .*n01440764_12\.JPEG"):
        _load_data(config, None, "train", None, (32, 32))
    _, info = _load_data(config, None, "train", None, (32, 32), require_boxes=False)
    assert info.num_without_boxes == 6
    _load_data(config, None, "val", None, (32, 32))


@pytest.fixture(scope="module")
def chosen(run_dir, tmp_path_factory):
    """An evaluation with thresholds chosen on another split and the occlusion test."""
    out = tmp_path_factory.mktemp("chosen")
    result = evaluate_run(
        run_dir, split="val", choose_on="test", occlusion=(0, 0.5), out_dir=out, **FAST
    )
    return result, out


def test_choose_on_records_both_splits_and_reads_the_report_split_at_tau(chosen):
    result, _ = chosen
    choice, curves = result["threshold_choice"], result["metrics"]["curves"]
    assert (choice["chosen_on"], choice["reported_on"], choice["held_out"]) == ("test", "val", True)
    assert result["protocol"]["choose_on"] == "test"
    assert len(result["protocol"]["cam_thresholds"]) == 100  # --choose-on sweeps by default
    held = choice["chosen_on_curves"]["box_acc"]["0.5"]
    assert choice["tau"] == curves["cam_thresholds"][held.index(max(held))]
    i = curves["cam_thresholds"].index(choice["tau"])
    assert choice["max_box_acc"] == curves["box_acc"]["0.5"][i]
    assert choice["top1_loc"] == curves["top1_loc"][i]
    assert choice["upper_bound"]["max_box_acc"] == result["metrics"]["max_box_acc"]
    assert set(choice["tau_v2"]) == {"0.3", "0.5", "0.7"}
    occlusion = result["occlusion"]
    assert occlusion["fractions"] == [0.0, 0.5] and occlusion["fill"] == [127.5] * 3
    assert occlusion["top1_cls"][0] == pytest.approx(result["metrics"]["top1_cls"])


def _rows(out):
    with (out / "per_image.csv").open() as f:
        return list(csv.DictReader(f))


def _pct(flags):
    return 100.0 * sum(flags) / len(flags)


def test_per_image_rows_reproduce_the_headline_metrics(chosen):
    result, out = chosen
    rows = _rows(out)
    m, choice, base = result["metrics"], result["threshold_choice"], result["baselines"]
    assert len(rows) == m["num_images"] == 12
    assert len({r["id"] for r in rows}) == 12
    hit = [float(r["iou"]) >= 0.5 for r in rows]
    top1 = [r["label_rank"] == "0" for r in rows]
    assert top1 == [r["top1_class"] == r["label"] for r in rows]
    assert _pct(top1) == pytest.approx(m["top1_cls"], abs=1e-9)
    assert _pct(hit) == pytest.approx(m["gt_known_loc"], abs=1e-9)
    assert _pct([h and t for h, t in zip(hit, top1, strict=True)]) == pytest.approx(
        m["top1_loc"], abs=1e-9
    )
    assert {float(r["cam_threshold"]) for r in rows} == {m["cam_threshold"]}
    assert {float(r["tau"]) for r in rows} == {choice["tau"]}
    tau_hit = [float(r["tau_iou"]) >= 0.5 for r in rows]
    assert _pct(tau_hit) == pytest.approx(choice["max_box_acc"], abs=1e-9)
    v2 = [_pct([float(r[f"v2_iou_{d}"]) >= float(d) for r in rows]) for d in ("0.3", "0.5", "0.7")]
    assert sum(v2) / 3 == pytest.approx(choice["max_box_acc_v2"], abs=1e-9)
    for column, name in (("fixed_box_iou", "train_box"), ("whole_image_iou", "whole_image")):
        hits = [float(r[column]) >= 0.5 for r in rows]
        assert _pct(hits) == pytest.approx(base[name]["gt_known_loc"], abs=1e-9)
    # The breakdown partitions the same rows.
    bins = result["size_breakdown"]["bins"]
    assert [b["count"] for b in bins] == [
        sum(r["size_bin"] == str(k) for r in rows) for k in range(4)
    ]
    assert all(
        float(r["gt_area_fraction"])
        == pytest.approx(
            (float(r["gt_x1"]) - float(r["gt_x0"]) + 1)
            * (float(r["gt_y1"]) - float(r["gt_y0"]) + 1)
            / 32**2
        )
        for r in rows
    )


def test_the_eval_directory_has_the_per_image_file_and_the_contrast_figure(chosen):
    result, out = chosen
    assert (out / "cam_contrast.png").read_bytes()[:8] == PNG
    contrast = result["cam_contrast"]
    # Synthetic boxes never fill the image, so every image has both regions and the means subtract.
    assert contrast["mean_contrast"] == pytest.approx(
        contrast["mean_inside"] - contrast["mean_outside"]
    )
    assert 0.0 <= contrast["whole_image_boxes"] <= 100.0
    assert result["schema_version"] == 2
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_choose_on_refuses_a_holdout_the_model_trained_on(tmp_path, fake_tiny_imagenet):
    data = f"tiny-imagenet:{_two_class_tiny_imagenet(fake_tiny_imagenet, tmp_path / 'data')}"
    config = {"data": data, "classes": None, "max_per_class": None, "train_split": "train"}
    model = build_model("small_gap", 2, input_shape=(64, 64, 3))
    fake = lambda _: (model, config, [127.5] * 3)  # noqa: E731
    with pytest.raises(ValueError, match="`train_holdout` images"):
        evaluate_run(tmp_path, choose_on="train_holdout", split="val", load_run=fake, **FAST)
    assert not (tmp_path / "eval").exists()  # refused before anything was written


def test_cli_choose_on_and_occlusion(run_dir, tmp_path, capsys):
    argv = ["--run-dir", str(run_dir), "--num-images", "6", "--batch-size", "6", "--no-progress"]
    argv += ["--out-dir", str(tmp_path), "--choose-on", "test", "--occlusion", "0,0.5"]
    assert evaluate.main(argv) == 0
    out = capsys.readouterr().out
    assert "chosen on test (6 images)" in out and "occlusion top-1" in out
    assert "| small_gap | [0.75, 1] |" in out  # the size breakdown
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["threshold_choice"]["chosen_on"] == "test"
    assert saved["data"]["split"] == "val"
    with pytest.raises(SystemExit):
        evaluate.main(argv[:-1] + ["0,1.5"])
    assert "`--occlusion` must be comma-separated fractions" in capsys.readouterr().err
