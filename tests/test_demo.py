"""`make demo`'s engine: both models trained, both evaluated, a report with the table and pictures."""

import json

from hide_and_seek_tf.side_by_side import run_demo


def test_demo_writes_report_table_and_pictures_and_reuses_finished_runs(tmp_path):
    out = tmp_path / "demo"
    results = run_demo(out, seed=1, epochs=1, num_images=64, val_images=32, progress=False)
    assert set(results) == {"GAP", "Hide-and-Seek"}
    report = (out / "report.md").read_text()
    for row in ("| GAP |", "| Hide-and-Seek |", "| whole-image box", "| fixed box chosen on train"):
        assert row in report
    for picture in ("hidden_samples.png", "cams_side_by_side.png", "threshold_curves.png"):
        assert (out / picture).stat().st_size > 1000
        assert f"]({picture})" in report
    gap, has = (json.loads((out / r / "config.json").read_text()) for r in ("gap", "hide_and_seek"))
    assert gap["hide_patch_sizes"] == [] and has["hide_patch_sizes"]
    assert {k: v for k, v in gap.items() if k not in ("hide_patch_sizes", "run_dir")} == {
        k: v for k, v in has.items() if k not in ("hide_patch_sizes", "run_dir")
    }  # same seed, data, model and budget

    # The protocol: MaxBoxAcc's threshold chosen on val, the table scored on test at it.
    for name, run in (("GAP", "gap"), ("Hide-and-Seek", "hide_and_seek")):
        scored = results[name]
        saved = json.loads((out / run / "eval" / "test" / "metrics.json").read_text())
        assert saved["threshold_choice"] == json.loads(json.dumps(scored["threshold_choice"]))
        choice = scored["threshold_choice"]
        assert (choice["chosen_on"], choice["reported_on"], scored["data"]["split"]) == (
            "val",
            "test",
            "test",
        )
        assert choice["held_out"]
        tau = choice["tau"]
        curves = scored["metrics"]["curves"]
        i = curves["cam_thresholds"].index(tau)
        assert choice["max_box_acc"] == curves["box_acc"]["0.5"][i]
        chosen_on_val = choice["chosen_on_curves"]["box_acc"]["0.5"]
        assert chosen_on_val[i] == max(chosen_on_val)
        assert f"{choice['max_box_acc']:.1f} (t={tau:g})" in report

    model_time = (out / "gap" / "model.keras").stat().st_mtime_ns
    run_demo(out, seed=1, epochs=1, num_images=64, val_images=32, progress=False)
    assert (out / "gap" / "model.keras").stat().st_mtime_ns == model_time  # reused, not retrained
