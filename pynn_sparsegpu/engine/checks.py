"""Validation of scalar options: one helper, so every bad value gets the same kind of message."""

from __future__ import annotations

import numpy as np


def check_number(name, value, ok, allowed, none=False):
    """`value` if it is a finite real number (not a bool) for which ok(value) holds (or None when none=True);
    otherwise ValueError "name=value is not allowed; it must be <allowed>"."""
    if value is None and none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or not ok(value):
        raise ValueError(f"{name}={value!r} is not allowed; it must be {allowed}")
    return value
