"""Which types a Batch environment gets: dlpick's spot ranking, limited to what Batch's
GPU image runs (read from the bundled snapshot, no network)."""

from __future__ import annotations

import pytest

from dlpick.core.cache import PriceCache
from dlpick.core.errors import InputError
from dlpick.pricing.catalog import Catalog, Offer
from dlpick.remote.batch.types import batch_capable, pick_types


@pytest.fixture(scope="module")
def offers() -> list[Offer]:
    return Catalog(cache=PriceCache(), aws=None).offers("us-east-1")


def test_the_default_is_the_four_best_spot_values_batch_can_run(offers: list[Offer]) -> None:
    picked = pick_types(offers)
    assert len(picked) == 4
    values = [c.per_tflop(True) for c in picked]
    assert values == sorted(values)  # type: ignore[type-var]
    capable = [o for o in offers if batch_capable(o) and o.spot_usd_hour and o.fp32_tflops]
    best = min(o.spot_usd_hour / o.fp32_tflops for o in capable)  # type: ignore[operator]
    assert values[0] == pytest.approx(best)
    # Trainium ranks higher on spot $/TF-h in this region, but Batch's GPU image runs
    # NVIDIA GPUs only; partitioned GPUs (g6f) and arm64 hosts (g5g) are out too.
    assert all(c.instance_type.split(".")[0] in ("g5", "g6", "g6e", "g7e") for c in picked)


def test_a_model_and_a_cap_keep_every_type_under_it(offers: list[Offer]) -> None:
    picked = pick_types(offers, gpu="L4", max_usd_per_tflop=0.02)
    assert picked and all(c.gpu_model == "L4" for c in picked)
    assert all((c.per_tflop(True) or 1) <= 0.02 for c in picked)
    assert not any(c.instance_type.startswith(("g6f.", "gr6f.")) for c in picked)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("p3dn.24xlarge", "p3dn.24xlarge cannot run Batch GPU jobs"),
        ("g5g.xlarge", "g5g.xlarge cannot run Batch GPU jobs"),
        ("trn1.2xlarge", "trn1.2xlarge cannot run Batch GPU jobs"),
        ("g6f.large", "g6f.large cannot run Batch GPU jobs"),
        ("m7i.large", "m7i.large is not a GPU instance type dlpick knows in this region"),
    ],
)
def test_named_types_batch_cannot_run_are_refused(
    offers: list[Offer], name: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        pick_types(offers, named=[name])


def test_named_types_keep_their_order(offers: list[Offer]) -> None:
    picked = pick_types(offers, named=["g6.xlarge", "g5.xlarge"])
    assert [c.instance_type for c in picked] == ["g6.xlarge", "g5.xlarge"]
    assert (picked[0].gpus, picked[0].vcpus, picked[0].gpu_model) == (1, 4, "L4")
