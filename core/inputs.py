"""Checking what a person typed, at the edge: numbers finite and in range, regions known.

The CLI (argparse types), the config file and the app's dialogs all check with
these, so the same value is refused the same way everywhere.
"""

from __future__ import annotations

import math

from dlpick.core.errors import InputError
from dlpick.core.regions import KNOWN_REGIONS


def parse_number(
    text: str | float | int,
    what: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: bool = False,
    integer: bool = False,
) -> float:
    """`text` as a finite number in [minimum, maximum] (above `minimum` when `above`).

    Raises InputError naming `what` and the accepted range.
    """
    if isinstance(text, bool):
        raise InputError(f"{what} must be a number, not {text!r}")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, not {str(text)!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, not {str(text)!r}")
    if integer and value != int(value):
        raise InputError(f"{what} must be a whole number, not {str(text)!r}")
    if minimum is not None and (value <= minimum if above else value < minimum):
        bound = "above" if above else "at least"
        raise InputError(f"{what} must be {bound} {minimum:g}, not {str(text)!r}")
    if maximum is not None and value > maximum:
        raise InputError(f"{what} must be at most {maximum:g}, not {str(text)!r}")
    return value


def check_region(region: str, extra: set[str] | frozenset[str] = frozenset()) -> str:
    """`region` if it is a known AWS region code (or in `extra`), else InputError."""
    if region in KNOWN_REGIONS or region in extra:
        return region
    raise InputError(
        f"unknown region {region!r}",
        hint="use a region code such as us-east-1 or eu-west-1",
    )
