"""Argument checks shared by the package; no TensorFlow import (the training config uses them)."""

from __future__ import annotations

import numbers
from typing import Any


def positive_int(value: Any, name: str, *, optional: bool = False) -> int | None:
    """Returns `value` as an int if it is a positive int (or None when `optional`).

    Raises:
        TypeError: `value` is not an int (bools are not ints here), naming `name` and the value.
        ValueError: `value` is an int < 1.
    """
    if optional and value is None:
        return None
    wanted = "None or a positive int" if optional else "a positive int"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be {wanted}. Received: {name}={value!r}")
    if value < 1:
        raise ValueError(f"`{name}` must be {wanted}. Received: {name}={value!r}")
    return int(value)


def is_int(value: Any) -> bool:
    """True for an integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for a real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# === Run settings (`TrainConfig` and `TemporalConfig` validate with these) ===
def check_classes(value: Any, what: str = "class ids") -> None:
    """`classes`: None, a positive int K (the first K classes) or a non-empty tuple of `what`."""
    ok = value is None or (is_int(value) and value >= 1)
    ok = ok or (isinstance(value, tuple) and value and all(isinstance(c, str) and c for c in value))
    if not ok:
        raise ValueError(
            "`classes` must be None, a positive int K (the first K classes) or a non-empty list "
            f"of {what}. Received: classes={value!r}"
        )


def check_split(value: Any, name: str) -> None:
    """A split name: a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"`{name}` must be a split name. Received: {name}={value!r}")


def check_fraction(value: Any, name: str) -> None:
    """A number in [0, 1] (a probability)."""
    if not is_real(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]. Received: {name}={value!r}")


def check_number(value: Any, name: str, *, positive: bool, optional: bool = False) -> None:
    """A real number > 0 (`positive`) or >= 0, or None when `optional`."""
    if optional and value is None:
        return
    ok = is_real(value) and (value > 0 if positive else value >= 0)
    if not ok:
        wanted = "a number > 0" if positive else "a number >= 0"
        wanted = f"None or {wanted}" if optional else wanted
        raise ValueError(f"`{name}` must be {wanted}. Received: {name}={value!r}")


def check_seed(value: Any) -> None:
    """A seed: an int in [0, 2**31)."""
    if not is_int(value) or not 0 <= value < 2**31:
        raise ValueError(f"`seed` must be an int in [0, 2**31). Received: seed={value!r}")


def check_choice(value: Any, name: str, choices: Any) -> None:
    """One of `choices`."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")


def check_bools(config: Any, names: tuple[str, ...]) -> None:
    """The attributes `names` of `config` are bools."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, bool):
            raise TypeError(f"`{name}` must be a bool. Received: {name}={value!r}")


def check_run_dir(run_dir: Any, resume: bool) -> None:
    """`run_dir`: None or a path string; `resume` needs one."""
    if run_dir is not None and (not isinstance(run_dir, str) or not run_dir):
        raise ValueError(f"`run_dir` must be None or a path string. Received: run_dir={run_dir!r}")
    if resume and run_dir is None:
        raise ValueError(
            "`resume=True` needs the `run_dir` of the run to resume. Received: run_dir=None"
        )
