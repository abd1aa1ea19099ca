"""Checking what a person typed, at the edge: numbers finite and in range, regions known,
instance type names well formed, nothing empty where a value is needed.

The CLI (argparse types), the config file and the app's dialogs all check with
these, so the same value is refused the same way everywhere.
"""

from __future__ import annotations

import math
import re

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


def check_given(text: str, what: str, example: str) -> str:
    """`text` unless it is empty (or blank): an empty option never means its default."""
    if text.strip():
        return text
    raise InputError(f"{what} is empty", hint=f"give {example}, or leave {what} out")


# FAMILY.SIZE in lower case: g6.xlarge, p5en.48xlarge, trn2u.48xlarge, c7i-flex.large,
# u-6tb1.metal, mac2-m2pro.metal, c6i.metal-32xl. AWS adds families, not size words.
INSTANCE_TYPE = re.compile(
    r"(?=[^.]*[0-9])[a-z][a-z0-9]*(?:-[a-z0-9]+)*\."
    r"(?:nano|micro|small|medium|large|[0-9]*xlarge|metal(?:-[0-9]+xl)?)"
)


def check_instance_type(text: str, what: str = "TYPE") -> str:
    """`text` if it reads as an EC2 instance type (FAMILY.SIZE), else InputError naming `what`.

    Only the form: whether AWS offers the type is AWS's to say.
    """
    if not text.strip():
        raise InputError(f"{what} is empty", hint="give an instance type such as g6.xlarge")
    if INSTANCE_TYPE.fullmatch(text):
        return text
    raise InputError(
        f"{what} {text!r} is not an EC2 instance type",
        hint="instance types read FAMILY.SIZE in lower case, e.g. g6.xlarge or p5.48xlarge",
    )
