"""Small input checks shared across modules (each raises ValueError naming the parameter)."""

from __future__ import annotations

from typing import Any


def check_int(value: Any, name: str, low: int = 1) -> int:
    """``value`` as an int >= ``low``; a float with a fraction or a non-number is refused."""
    try:
        iv = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer >= {low} (got {value!r})") from None
    if iv != value or iv < low:
        raise ValueError(f"{name} must be an integer >= {low} (got {value!r})")
    return iv
