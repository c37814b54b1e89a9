"""Statistics over seeds: per-seed summaries and differences paired by seed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def seed_stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (None for one value), min, max and n of per-seed values."""
    arr = np.asarray([v for v in values if v is not None], np.float64)
    if arr.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else None,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "n": int(arr.size),
    }


def paired_differences(
    treatment: Mapping[int, float | None], control: Mapping[int, float | None]
) -> dict[str, Any]:
    """Treatment minus control, paired by seed (the seeds both have a value for).

    Args:
        treatment, control: {seed: value}.

    Returns:
        {"seeds", "per_seed" (differences), **seed_stats(differences)}.

    Example:
        >>> paired_differences({0: 60.0, 1: 50.0}, {0: 55.0, 1: 52.0})["per_seed"]
        [5.0, -2.0]
    """
    seeds = sorted(
        s
        for s in set(treatment) & set(control)
        if treatment[s] is not None and control[s] is not None
    )
    diffs = [float(treatment[s]) - float(control[s]) for s in seeds]
    return {"seeds": seeds, "per_seed": diffs, **seed_stats(diffs)}
