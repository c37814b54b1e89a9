"""TrainConfig validation, serialisation and resolution, and the train.py argument parsing."""

import json

import pytest

from hide_and_seek_tf.cli import train as train_cli
from hide_and_seek_tf.training import TrainConfig, config_differences
from hide_and_seek_tf.training.config import (
    DEMO_IMAGE_SIZE,
    DEMO_NUM_IMAGES,
    RECIPES,
    parse_data_spec,
)


def test_defaults_are_valid_and_round_trip_through_json():
    config = TrainConfig()
    restored = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config


def test_json_lists_and_int_sizes_are_normalised():
    config = TrainConfig(image_size=32, hide_patch_sizes=[8, 16, 0], classes=["a", "b"])
    assert config.image_size == (32, 32)
    assert config.hide_patch_sizes == (8, 16, 0)
    assert config.classes == ("a", "b")
    assert TrainConfig(hide_patch_sizes=[]).hide_patch_sizes == ()


@pytest.mark.parametrize(
    "field, value",
    [
        ("data", "imagenet"),
        ("data", "tiny-imagenet:"),
        ("data", "wsol:/metadata/CUB"),  # needs data_dir, the image root
        ("data", "cub"),  # needs a path
        ("data", "synthetic:x"),
        ("schedule", "finetune"),  # needs weights
        ("weights", ""),
        ("classes", 0),
        ("classes", ()),
        ("max_per_class", -1),
        ("num_images", 0),
        ("image_size", (32, 0)),
        ("image_size", (1, 2, 3)),
        ("pooling", "sum"),
        ("hide_patch_sizes", (16, -8)),
        ("hide_prob", 1.5),
        ("epochs", 0),
        ("batch_size", 2.0),
        ("schedule", "sgd"),
        ("lr", 0.0),
        ("weight_decay", -1e-4),
        ("seed", -1),
        ("strategy", "tpu"),
        ("mixed_precision", "yes"),
        ("steps_per_epoch", 0),
        ("backup_every", 0),
        ("train_split", ""),
    ],
)
def test_bad_field_raises_naming_field_and_value(field, value):
    with pytest.raises((ValueError, TypeError)) as info:
        TrainConfig(**{field: value})
    message = str(info.value)
    assert f"`{field}`" in message
    assert repr(value) in message or str(value) in message


def test_resume_needs_a_run_dir():
    with pytest.raises(ValueError, match="`run_dir`"):
        TrainConfig(resume=True)


def test_from_dict_rejects_unknown_keys_unless_told():
    with pytest.raises(ValueError, match="epochz"):
        TrainConfig.from_dict({"epochz": 3})
    assert TrainConfig.from_dict({"epochs": 3, "num_classes": 8}, ignore_unknown=True).epochs == 3


def test_parse_data_spec_forms():
    def parts(*args):
        spec = parse_data_spec(*args)
        return spec.kind, spec.arg, spec.data_dir

    assert parts("synthetic") == ("synthetic", None, None)
    assert parts("tiny-imagenet:/d/t.zip") == ("tiny-imagenet", "/d/t.zip", None)
    assert parts("tiny_imagenet:/d/t.zip") == ("tiny-imagenet", "/d/t.zip", None)
    assert parts("tfds:caltech_birds2011") == ("tfds", "caltech_birds2011", None)
    assert parts("cub:/d/CUB_200_2011.tgz") == ("cub", "/d/CUB_200_2011.tgz", None)
    assert parts("imagenet", "/d/ilsvrc") == ("imagenet", "/d/ilsvrc", None)
    assert parts("wsol:/m/CUB", "/d/images") == ("wsol", "/m/CUB", "/d/images")
    assert parts("csv:/d/boxes.csv") == ("csv", "/d/boxes.csv", None)
    assert str(parse_data_spec("TINY_IMAGENET:/d/t.zip")) == "tiny-imagenet:/d/t.zip"


def test_the_image_task_refuses_sequence_specs_and_points_to_the_temporal_task():
    # The temporal task's specs are in the one grammar, but an image run cannot use them.
    assert parse_data_spec("video-features:/f").kind == "video-features"
    for data in ("synthetic-sequences", "video-features:/f"):
        with pytest.raises(ValueError, match="--task temporal"):
            TrainConfig(data=data)


def test_resolve_fills_demo_and_recipe_values_and_steps():
    config = TrainConfig(batch_size=10, steps_per_epoch=7).resolve(num_train=95)
    assert config.image_size == (DEMO_IMAGE_SIZE, DEMO_IMAGE_SIZE)
    assert config.num_images == DEMO_NUM_IMAGES
    assert config.lr == RECIPES["adam"]["lr"]
    assert config.steps_per_epoch == 7  # the cap: 95 // 10 = 9 full batches
    assert config.backup_every is None  # saved by time (BACKUP_SECONDS) and at epoch ends
    workers = TrainConfig(batch_size=10, strategy="multi-worker").resolve(num_train=95)
    assert workers.backup_every == 3  # workers agree on steps: about four saves per epoch
    assert config.run_dir.startswith("runs/synthetic-small_gap-has-")
    assert TrainConfig(batch_size=10).resolve(num_train=95).steps_per_epoch == 9
    paper = TrainConfig(schedule="paper", lr=0.02).resolve()
    assert (paper.lr, paper.weight_decay) == (0.02, RECIPES["paper"]["weight_decay"])
    # Resolving twice changes nothing.
    assert config.resolve(num_train=95) == config


def test_resolve_refuses_batch_larger_than_data_and_unknown_size():
    with pytest.raises(ValueError, match="`batch_size`"):
        TrainConfig(batch_size=64).resolve(num_train=10)
    with pytest.raises(ValueError, match="`image_size`"):
        TrainConfig(data="tfds:foo").resolve(image_size=None)
    assert TrainConfig(data="tfds:foo").resolve(image_size=(64, 64)).image_size == (64, 64)


def test_default_run_dir_names_data_model_and_hiding():
    gap = TrainConfig(data="tiny-imagenet:/x/tiny-imagenet-200.zip", hide_patch_sizes=())
    assert gap.default_run_dir().startswith("runs/tiny-imagenet-tiny-imagenet-200-small_gap-gap-")


def test_config_differences_ignore_free_keys_only():
    saved = TrainConfig(run_dir="a", epochs=4).resolve(num_train=1000).to_dict()
    same = TrainConfig(run_dir="b", epochs=4, strategy="mirrored", resume=True, backup_every=3)
    assert config_differences(saved, same.resolve(num_train=1000)) == {}
    other = TrainConfig(run_dir="a", epochs=5, hide_prob=0.25).resolve(num_train=1000)
    assert set(config_differences(saved, other)) == {"epochs", "hide_prob"}


# === train.py argument parsing ===
def _config(argv):
    return train_cli.config_from_args(train_cli.build_parser().parse_args(argv))


def test_cli_without_arguments_is_the_default_config():
    assert _config([]) == TrainConfig()


def test_cli_maps_every_form_of_its_options():
    config = _config(
        [
            "--data", "tiny-imagenet", "/data/tiny.zip", "--classes", "10", "--image-size", "32x48",
            "--hide-patch-sizes", "16,32,0", "--schedule", "paper", "--no-validation",
            "--mixed-precision", "--steps-per-epoch", "5", "--strategy", "mirrored",
        ]
    )  # fmt: skip
    assert config.data == "tiny-imagenet:/data/tiny.zip"
    assert config.classes == 10
    assert config.image_size == (32, 48)
    assert config.hide_patch_sizes == (16, 32, 0)
    assert (config.schedule, config.validation, config.mixed_precision) == ("paper", False, True)
    assert (config.steps_per_epoch, config.strategy) == (5, "mirrored")
    assert _config(["--hide-patch-sizes", "none"]).hide_patch_sizes == ()
    assert _config(["--data", "tfds:cub"]).data == "tfds:cub"
    assert _config(["--classes", "n01,n02"]).classes == ("n01", "n02")
    assert _config([]).train_split == "train"
    assert _config(["--train-split", "train_minus_holdout"]).train_split == "train_minus_holdout"
    assert _config([]).mixed_precision == "auto"
    assert _config(["--mixed-precision", "float32"]).mixed_precision is False
    assert _config(["--mixed-precision", "bfloat16"]).mixed_precision == "bfloat16"
    assert (_config([]).hide_in, _config(["--hide-in", "model"]).hide_in) == ("data", "model")


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--data", "imagenet"], "`data`"),
        (["--data", "tiny-imagenet", "a", "b"], "`--data`"),
        (["--hide-prob", "2"], "`hide_prob`"),
        (["--hide-patch-sizes", "16,x"], "`--hide-patch-sizes`"),
        (["--resume"], "`run_dir`"),
    ],
)
def test_cli_rejects_bad_settings_naming_them(argv, named, capsys):
    with pytest.raises(SystemExit) as info:
        train_cli.main(argv)
    assert info.value.code == 2
    assert named in capsys.readouterr().err


def test_cli_resume_takes_unspecified_settings_from_the_run(tmp_path):
    saved = TrainConfig(run_dir=str(tmp_path), epochs=3, hide_patch_sizes=(8,), seed=5)
    (tmp_path / "config.json").write_text(json.dumps({**saved.to_dict(), "num_classes": 8}))
    config = _config(["--run-dir", str(tmp_path), "--resume", "--strategy", "mirrored"])
    assert config == saved.replace(resume=True, strategy="mirrored")


def test_cli_refuses_a_non_empty_run_dir_with_exit_status_1(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert train_cli.main(["--run-dir", str(tmp_path), "--num-images", "64"]) == 1
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
