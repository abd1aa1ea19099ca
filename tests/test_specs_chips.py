"""Specs parsed from real DescribeInstanceTypes answers, and the chip table."""

from __future__ import annotations

import ast
import csv
import json
import operator
from collections.abc import Callable
from pathlib import Path

import pytest

from dlpick.pricing.chips import load_chips
from dlpick.pricing.specs import chip_for, spec_from_api, specs_from_api

DATA = Path(__file__).parent / "data" / "aws"


def sample(name: str) -> dict:
    data = json.loads((DATA / name).read_text())
    response = data.get("response", data)
    return response["InstanceTypes"][0]


def test_whole_gpu_instance() -> None:
    spec = spec_from_api(sample("sample_describe_instance_types_p5.48xlarge.json"))
    assert spec is not None
    assert (spec.accelerator_name, spec.accelerator_count, spec.vcpus) == ("H100", 8, 192)
    assert spec.accelerator_memory_gib == 640
    assert spec.memory_gib == 2048
    assert spec.arch == "x86_64"


def test_partitioned_gpu_counts_as_a_fraction() -> None:
    spec = spec_from_api(sample("sample_describe_instance_types_g6f.large.json"))
    assert spec is not None
    assert spec.accelerator_count == 0.125
    assert spec.accelerator_memory_gib == pytest.approx(2861 / 1024, abs=0.001)
    chip = chip_for(spec)
    assert chip is not None and chip.name == "L4"


def test_instance_without_accelerator_is_not_a_spec() -> None:
    record = sample("sample_describe_instance_types_g4dn.xlarge.json")
    plain = {k: v for k, v in record.items() if k != "GpuInfo"}
    assert spec_from_api(plain) is None


def test_every_accelerated_type_in_the_real_list_maps_to_a_chip() -> None:
    records = json.loads((DATA / "aws_describe_instance_types_accelerators_moto.json").read_text())
    specs = specs_from_api(records["InstanceTypes"])
    assert len(specs) == len(records["InstanceTypes"])
    unmapped = [t for t, s in specs.items() if chip_for(s) is None]
    assert unmapped == []
    kinds = {s.accelerator_kind for s in specs.values()}
    assert kinds == {"gpu", "neuron", "inference"}
    assert specs["inf2.48xlarge"].accelerator_count == 12
    assert specs["g5g.xlarge"].arch == "arm64"


@pytest.mark.parametrize(
    ("instance_type", "chip", "fp32_per_device"),
    [
        ("p3dn.24xlarge", "V100 32GB", 15.7),
        ("p4d.24xlarge", "A100 40GB", 19.5),
        ("p4de.24xlarge", "A100 80GB", 19.5),
        ("p6-b200.48xlarge", "B200", 75.0),
        ("g6e.xlarge", "L40S", 91.6),
        ("trn1.2xlarge", "Trainium", 47.5),
    ],
)
def test_shared_ec2_names_resolve_to_the_right_part(
    instance_type: str, chip: str, fp32_per_device: float
) -> None:
    records = json.loads((DATA / "aws_describe_instance_types_accelerators_moto.json").read_text())
    spec = specs_from_api(records["InstanceTypes"])[instance_type]
    found = chip_for(spec)
    assert found is not None
    assert (found.name, found.fp32_tflops) == (chip, fp32_per_device)


def test_chip_table_has_a_source_for_every_figure_and_no_guesses() -> None:
    chips = load_chips()
    assert len(chips) >= 20
    for chip in chips:
        if chip.fp32_tflops is not None or chip.bf16_tflops is not None:
            assert chip.source.strip(), chip.name
    by_name = {c.name: c for c in chips}
    # The A10G datasheet's own figures, not the A10's 31.2 / 125.
    assert (by_name["A10G"].fp32_tflops, by_name["A10G"].bf16_tflops) == (35, 70)
    assert by_name["H100"].bf16_tflops == pytest.approx(989.4)


def _arithmetic(formula: str) -> float:
    """The value of a formula of numbers and + - * / (the only operators a row needs)."""

    def value(node: ast.expr) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp):
            left, right = value(node.left), value(node.right)
            ops: dict[type, Callable[[float, float], float]] = {
                ast.Add: operator.add,
                ast.Sub: operator.sub,
                ast.Mult: operator.mul,
                ast.Div: operator.truediv,
            }
            return ops[type(node.op)](left, right)
        raise ValueError(f"not plain arithmetic: {formula!r}")

    return value(ast.parse(formula, mode="eval").body)


def test_every_chip_figure_is_the_one_its_source_states() -> None:
    """chips.csv against tests/data/chip_figures_expected.csv, figure by figure.

    A datasheet or third-party figure is quoted as stated; a derived one is the
    formula over the stated vendor numbers.
    """
    expected = {
        (row["chip"], row["figure"]): row
        for row in csv.DictReader((DATA.parent / "chip_figures_expected.csv").open())
    }
    seen = set()
    for chip in load_chips():
        for figure, value, kind in (
            ("fp32", chip.fp32_tflops, chip.fp32_kind),
            ("bf16", chip.bf16_tflops, chip.bf16_kind),
        ):
            if value is None:
                assert kind is None, (chip.name, figure)
                continue
            row = expected.get((chip.name, figure))
            assert row is not None, f"{chip.name} {figure} has no expected row"
            seen.add((chip.name, figure))
            assert kind == row["kind"], (chip.name, figure)
            assert _arithmetic(row["formula"]) == pytest.approx(value, abs=0.005), chip.name
            if kind == "derived":
                assert any(op in row["formula"] for op in "+-*/") or row["stated"], chip.name
            else:
                # A figure taken as is appears, as written, in what the source states.
                assert row["formula"] in row["stated"].replace(",", ""), (chip.name, figure)
            assert row["source"].startswith("https://"), chip.name
    assert seen == set(expected), "expected rows for figures chips.csv no longer has"


def test_chips_are_marked_for_training_or_inference() -> None:
    by_name = {c.name: c for c in load_chips()}
    inference = {name for name, c in by_name.items() if c.use == "inference"}
    assert {"Inferentia", "Inferentia2", "Cloud AI 100"} <= inference
    assert by_name["A10G"].use == by_name["Trainium"].use == "training"


def test_neuron_memory_is_the_vendor_figure_on_the_real_describe_answer() -> None:
    """EC2 says 512 GiB per Trainium2; AWS's Neuron docs say 96 GiB of HBM (chips.csv)."""
    import json
    from pathlib import Path

    from dlpick.pricing.specs import specs_from_api

    path = (
        Path(__file__).parent
        / "data"
        / "aws"
        / "aws_describe_instance_types_accelerators_moto.json"
    )
    specs = specs_from_api(json.loads(path.read_text())["InstanceTypes"])
    per_device = {"inf1": 8, "inf2": 32, "trn1": 32, "trn1n": 32, "trn2": 96}
    for itype, spec in specs.items():
        if spec.family in per_device:
            assert spec.per_accelerator_memory_gib == per_device[spec.family], itype
    assert specs["trn2.3xlarge"].accelerator_memory_gib == 96
    assert specs["trn2.48xlarge"].accelerator_memory_gib == 1536
    # Qualcomm AI 100 is not a Neuron device: EC2's 16000 MiB per card is kept.
    assert specs["dl2q.24xlarge"].accelerator_memory_gib == 125


def _expected_fp32() -> dict[str, dict[str, str]]:
    path = DATA.parent / "chip_figures_expected.csv"
    return {row["chip"]: row for row in csv.DictReader(path.open()) if row["figure"] == "fp32"}


def test_every_fp32_figure_says_which_engine_it_is_the_rate_of() -> None:
    """AWS's Neuron devices state their matrix engine's FP32; every other chip's FP32 is the
    vector (CUDA-core) rate. A matrix figure names the vector FP32 a job gets elsewhere."""
    expected = _expected_fp32()
    matrix = set()
    for chip in load_chips():
        if chip.fp32_tflops is None:
            assert chip.fp32_engine is None, chip.name
            continue
        row = expected[chip.name]
        assert chip.fp32_engine == row["engine"], chip.name
        if chip.fp32_engine == "matrix":
            matrix.add(chip.name)
            url = row["engine_basis"].rsplit(": ", 1)[-1]
            assert url.startswith("https://") and url in chip.source, chip.name
            assert "vector FP32 is" in chip.fp32_caveat, chip.name
    assert matrix == {"Trainium", "Trainium2", "Trainium3", "Inferentia2"}
    by_name = {c.name: c for c in load_chips()}
    # The vector figure the caveat gives is the per-core one times the cores per device.
    assert "2 x 2.3 = 4.6 TF" in by_name["Trainium"].fp32_caveat
    assert "8 x 1.0 = 8 TF" in by_name["Trainium2"].fp32_caveat


def test_an_fp32_figure_without_its_engine_is_refused() -> None:
    from dlpick.pricing import chips

    row = {
        "chip": "X1",
        "vendor": "NVIDIA",
        "ec2_names": "X1",
        "families": "",
        "fp32_tflops": "10",
        "fp32_kind": "datasheet",
        "fp32_engine": "",
        "fp32_caveat": "",
        "bf16_dense_tflops": "",
        "bf16_kind": "",
        "bf16_caveat": "",
        "memory_gib": "16",
        "use": "training",
        "source": "https://example.com",
    }
    with pytest.raises(ValueError, match=r"X1: FP32 figure 10\.0 with engine ''"):
        chips._chip(row)
    assert chips._chip(row | {"fp32_engine": "vector"}).fp32_engine == "vector"


def test_figures_that_need_a_word_before_comparing_say_it() -> None:
    by_name = {c.name: c for c in load_chips()}
    rtx = by_name["RTX PRO 6000"].fp32_caveat
    assert "'up to'" in rtx and "boost" in rtx and "g7e" in rtx
    # 24,064 CUDA cores x 2 FLOP x the clocks seen under load, in TFLOPs.
    low, high = (round(24064 * 2 * mhz / 1e6) for mhz in (2317, 2377))
    assert (low, high) == (112, 114) and f"about {low} to {high} TF" in rtx
    a10g = by_name["A10G"]
    assert "third parties" in a10g.fp32_caveat and "third parties" in a10g.bf16_caveat
    assert by_name["H100"].fp32_caveat == "" and by_name["L4"].fp32_caveat == ""
