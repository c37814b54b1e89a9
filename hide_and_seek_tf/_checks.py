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
