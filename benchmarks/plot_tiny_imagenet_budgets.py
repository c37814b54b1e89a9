#!/usr/bin/env python
"""HaS-16 and HaS-Mixed minus GAP against the training budget, for docs/results.md.

The 8-epoch differences are the earlier study's, per seed, as recorded in docs/results.md (that
study's run directories are gone); every later budget comes from the study's summary.json:

    python benchmarks/plot_tiny_imagenet_budgets.py --summary ROOT/summary.json \
        --out docs/figures/tiny_imagenet_has_minus_gap.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf import plotting, protocol  # noqa: E402

METRICS = {
    "top1_cls": "top-1 classification",
    "gt_known_loc": "GT-known Loc @0.2",
    "max_box_acc": "MaxBoxAcc (holdout tau)",
    "max_box_acc_v2": "MaxBoxAccV2 (holdout tau)",
}
SERIES = {"has16": "HaS-16 - GAP", "hasmix": "HaS-Mixed - GAP"}
# HaS-16 minus GAP per seed (0, 1, 2) at 8 epochs, docs/results.md (flip only, float32, same splits).
EIGHT_EPOCHS = {
    "top1_cls": [-14.0, -11.8, -18.2],
    "gt_known_loc": [0.0, -0.8, -0.4],
    "max_box_acc": [-2.2, 0.6, -0.4],
    "max_box_acc_v2": [-1.5, -0.5, -0.6],
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--summary", required=True, help="the study's summary.json")
    p.add_argument("--out", required=True, help="PNG to write")
    args = p.parse_args(argv)
    summary = json.loads(Path(args.summary).read_text())
    budgets = [8]
    series = {  # HaS-Mixed ran on one seed only at 8 epochs: no paired point there
        m: {
            SERIES["has16"]: [
                protocol.paired_differences(dict(enumerate(v)), dict.fromkeys(range(3), 0.0))
            ],
            SERIES["hasmix"]: [None],
        }
        for m, v in EIGHT_EPOCHS.items()
    }
    for key in sorted(summary, key=lambda k: int(k[1:])):
        paired = summary[key].get("paired_minus_gap", {})
        if not paired:
            continue
        budgets.append(int(key[1:]))
        for m in METRICS:
            for config, label in SERIES.items():
                series[m][label].append(paired.get(config, {}).get(m))
    figure = plotting.paired_differences_figure(budgets, series, METRICS)
    plotting.save_figure(args.out, figure)
    print(f"wrote {args.out} for budgets {budgets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
