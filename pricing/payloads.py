"""What a cached payload of each kind must look like.

The cache is data from outside (another version of dlpick, a hand edit, a torn
write): each kind's shape is checked here before the catalog uses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeGuard


def _is_amount(value: object) -> TypeGuard[float]:
    """A finite number, zero or more (JSON's true/false are not numbers here)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _is_text_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# InstanceSpec.from_json's fields and what each must hold.
_SPEC_FIELDS: dict[str, Callable[[object], bool]] = {
    "instance_type": lambda v: isinstance(v, str),
    "vcpus": _is_amount,
    "memory_gib": _is_amount,
    "architectures": _is_text_list,
    "accelerator_kind": lambda v: isinstance(v, str),
    "accelerator_vendor": lambda v: isinstance(v, str),
    "accelerator_name": lambda v: isinstance(v, str),
    "accelerator_count": _is_amount,
    "accelerator_memory_gib": _is_amount,
}


def _is_spec(value: object) -> bool:
    return (
        isinstance(value, dict)
        and all(name in value and ok(value[name]) for name, ok in _SPEC_FIELDS.items())
        and _is_text_list(value.get("usage_classes", []))
    )


def _is_map(value: object, ok: Callable[[object], bool]) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and ok(v) for k, v in value.items())


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_advisor_entry(value: object) -> bool:
    return isinstance(value, dict) and _is_int(value.get("s")) and _is_int(value.get("r"))


def _is_advisor_feed(value: object) -> bool:
    """The spot advisor's feed as dlpick keeps it: ranges, region -> Linux -> type -> s, r."""
    if not isinstance(value, dict) or not isinstance(value.get("ranges"), list):
        return False
    ranges_ok = all(
        isinstance(r, dict) and isinstance(r.get("label"), str) and _is_int(r.get("index"))
        for r in value["ranges"]
    )
    return ranges_ok and _is_map(
        value.get("spot_advisor"),
        lambda by_os: _is_map(by_os, lambda by_type: _is_map(by_type, _is_advisor_entry)),
    )


def _is_score(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10


def _is_block_offering(value: object) -> bool:
    """A Capacity Block offering as dlpick keeps it (remote.capacity_blocks.BlockOffering)."""
    text = ("offering_id", "instance_type", "availability_zone", "start", "end", "currency")
    return (
        isinstance(value, dict)
        and all(isinstance(value.get(name), str) for name in text)
        and all(_is_int(value.get(name)) for name in ("instance_count", "hours"))
        and _is_amount(value.get("upfront_fee"))
    )


def _is_block_list(value: object) -> bool:
    return isinstance(value, list) and all(map(_is_block_offering, value))


PAYLOAD_SHAPES: dict[str, Callable[[Any], bool]] = {
    "specs": lambda p: _is_map(p, _is_spec),  # type -> InstanceSpec JSON
    "ondemand": lambda p: _is_map(p, _is_amount),  # type -> USD/hour
    "sagemaker": lambda p: _is_map(p, _is_amount),  # type -> SageMaker training USD/hour
    "spot": lambda p: _is_map(p, lambda by_az: _is_map(by_az, _is_amount)),  # type -> AZ -> USD
    "regions": _is_text_list,  # region codes
    "advisor": _is_advisor_feed,  # the spot advisor's ranges and Linux entries
    "placement": lambda p: _is_map(p, _is_score),  # region -> spot placement score
    "placement-az": lambda p: _is_map(p, _is_score),  # AZ -> spot placement score
    "capacity-blocks": _is_block_list,  # Capacity Block offerings (BlockOffering JSON)
}
