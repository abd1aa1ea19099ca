"""`dlpick prices` end to end: live against moto and the Pricing peer, cached, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlpick.core.aws import Aws, CallCounter
from dlpick.core.cache import PriceCache
from dlpick.pricing.catalog import RECORD_FIELDS, Catalog
from dlpick.pricing.snapshot import bundled
from dlpick.tui.cli.main import main
from tests.conftest import AwsPeers
from tests.peers.pricing_api import bare_metal_decoys, decoys, ec2_product

CONTRACT = (
    "instance_type region gpu_model gpu_count gpu_memory_gib vcpus memory_gib fp32_tflops "
    "bf16_tflops on_demand_usd_hour spot_usd_hour usd_per_fp32_tflop_hour "
    "spot_usd_per_fp32_tflop_hour price_source price_as_of"
).split()


def seed(
    aws: AwsPeers, region: str, on_demand: dict[str, float], spot: dict[str, dict[str, float]]
) -> None:
    for itype, usd in on_demand.items():
        aws.pricing.products.append(ec2_product(itype, region, usd, reserved=True))
        aws.pricing.products.extend(decoys(itype, region, usd))
    for itype, by_az in spot.items():
        for az, usd in by_az.items():
            aws.moto.spot.add(region, itype, az, usd)
            aws.moto.spot.add(region, itype, az, usd / 3, product="Windows")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[dict], str]:
    code, out, err = run(capsys, "prices", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out), err


def by_type(records: list[dict]) -> dict[str, dict]:
    return {r["instance_type"]: r for r in records}


def test_live_prices_follow_the_record_contract(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(
        aws,
        "us-west-2",
        {"g6.xlarge": 0.8048, "p5.48xlarge": 55.04},
        {"g6.xlarge": {"us-west-2a": 0.40, "us-west-2b": 0.35}},
    )
    records, err = run_json(capsys, "--region", "us-west-2")
    assert err == ""
    assert list(records[0])[: len(CONTRACT)] == CONTRACT
    assert set(records[0]) == set(RECORD_FIELDS)
    g6 = by_type(records)["g6.xlarge"]
    assert g6["on_demand_usd_hour"] == pytest.approx(0.8048)
    assert g6["fp32_tflops"] == pytest.approx(30.3)
    assert g6["usd_per_fp32_tflop_hour"] == pytest.approx(0.8048 / 30.3)
    assert (g6["spot_usd_hour"], g6["spot_az"]) == (0.35, "us-west-2b")
    assert g6["spot_usd_per_fp32_tflop_hour"] == pytest.approx(0.35 / 30.3)
    assert (g6["price_source"], g6["spot_price_source"]) == ("live", "live")
    p5 = by_type(records)["p5.48xlarge"]
    assert (p5["gpu_count"], p5["fp32_tflops"], p5["on_demand_usd_hour"]) == (8, 536, 55.04)
    assert p5["spot_usd_hour"] is None
    g6f = by_type(records)["g6f.large"]
    assert g6f["gpu_count"] == 0.125 and g6f["fp32_tflops"] == pytest.approx(30.3 / 8)
    # Live answers carry the same figure kinds, engines and band dates as offline ones.
    assert (g6["fp32_source_kind"], g6f["fp32_source_kind"]) == ("datasheet", "derived")
    assert (g6["fp32_engine"], by_type(records)["trn1.2xlarge"]["fp32_engine"]) == (
        "vector",
        "matrix",
    )
    assert (g6["spot_advisor_source"], g6["spot_advisor_as_of"]) == ("snapshot", "2025-06-28")
    # Sorted by on-demand $/TFLOP-hour, unknown prices last.
    values = [r["usd_per_fp32_tflop_hour"] for r in records]
    known = [v for v in values if v is not None]
    assert known == sorted(known) and values[: len(known)] == known


def test_one_region_refresh_makes_few_api_calls_and_then_uses_the_cache(
    aws: AwsPeers, tmp_path: Path
) -> None:
    seed(aws, "eu-west-1", {"g5.xlarge": 1.123}, {"g5.xlarge": {"eu-west-1a": 0.5}})
    counter = CallCounter()
    cache = PriceCache(tmp_path / "c.sqlite")
    offers = Catalog(cache=cache, aws=Aws(counter=counter)).offers("eu-west-1", refresh=True)
    # Every accelerated type moto offers there (p5 it describes but does not offer).
    assert len(offers) >= 20 and "p5.48xlarge" not in {o.instance_type for o in offers}
    assert counter.count <= 5, counter.calls
    assert {o.price_source for o in offers} == {"live"}
    again = Catalog(cache=cache, aws=Aws(counter=counter)).offers("eu-west-1")
    assert counter.count <= 5  # nothing new asked
    g5 = next(o for o in again if o.instance_type == "g5.xlarge")
    assert (g5.price_source, g5.on_demand_usd_hour, g5.spot_usd_hour) == ("cache", 1.123, 0.5)


def test_refresh_ignores_the_cache(aws: AwsPeers, capsys: pytest.CaptureFixture[str]) -> None:
    seed(aws, "us-east-1", {"g4dn.xlarge": 0.526}, {})
    first, _ = run_json(capsys, "--region", "us-east-1")
    assert by_type(first)["g4dn.xlarge"]["price_source"] == "live"
    aws.pricing.reset()
    seed(aws, "us-east-1", {"g4dn.xlarge": 0.600}, {})
    cached, _ = run_json(capsys, "--region", "us-east-1")
    assert by_type(cached)["g4dn.xlarge"]["on_demand_usd_hour"] == 0.526
    assert by_type(cached)["g4dn.xlarge"]["price_source"] == "cache"
    fresh, _ = run_json(capsys, "--region", "us-east-1", "--refresh")
    assert by_type(fresh)["g4dn.xlarge"]["on_demand_usd_hour"] == 0.600


def test_all_regions_shows_each_type_in_its_cheapest_region(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(
        aws,
        "us-east-1",
        {"g6.xlarge": 0.80, "p4d.24xlarge": 21.96},
        {"g6.xlarge": {"us-east-1a": 0.30}},
    )
    seed(
        aws,
        "eu-west-2",
        {"g6.xlarge": 0.95, "p4d.24xlarge": 19.00},
        {"g6.xlarge": {"eu-west-2b": 0.25}},
    )
    seed(aws, "ap-south-1", {"g6.xlarge": 0.70}, {})
    records, _ = run_json(capsys, "--region", "all")
    got = by_type(records)
    assert (got["g6.xlarge"]["region"], got["g6.xlarge"]["on_demand_usd_hour"]) == (
        "ap-south-1",
        0.70,
    )
    assert got["p4d.24xlarge"]["region"] == "eu-west-2"
    spot, _ = run_json(capsys, "--region", "all", "--spot")
    assert by_type(spot)["g6.xlarge"]["region"] == "eu-west-2"
    assert all(r["spot_usd_hour"] is not None for r in spot)


def test_filters_and_sorting(aws: AwsPeers, capsys: pytest.CaptureFixture[str]) -> None:
    seed(
        aws,
        "us-east-1",
        {"g6.xlarge": 0.8048, "g6e.xlarge": 1.861, "p5.48xlarge": 55.04, "p4de.24xlarge": 27.45},
        {"g6.xlarge": {"us-east-1a": 0.3}},
    )
    records, _ = run_json(capsys, "--gpu", "l4")
    assert {r["gpu_model"] for r in records} == {"L4"}  # not L40S
    records, _ = run_json(capsys, "--gpu", "A100,H100", "--sort", "price")
    assert [r["instance_type"] for r in records if r["on_demand_usd_hour"]] == [
        "p4de.24xlarge",
        "p5.48xlarge",
    ]
    records, _ = run_json(capsys, "--min-gpu-memory", "600", "--max-price", "60")
    assert {r["instance_type"] for r in records} == {"p5.48xlarge", "p4de.24xlarge"}
    records, _ = run_json(capsys, "--spot")
    assert [r["instance_type"] for r in records] == ["g6.xlarge"]
    records, _ = run_json(capsys, "--sort", "fp32")
    assert records[0]["fp32_tflops"] == max(r["fp32_tflops"] or 0 for r in records)


def test_table_and_csv_output(aws: AwsPeers, capsys: pytest.CaptureFixture[str]) -> None:
    seed(aws, "us-east-1", {"g6.xlarge": 0.8048}, {})
    code, out, _ = run(capsys, "prices", "--gpu", "L4")
    assert code == 0
    assert "g6.xlarge" in out and "0.8048" in out and "on-demand prices: live" in out
    code, out, _ = run(capsys, "prices", "--gpu", "L4", "--format", "csv")
    lines = out.splitlines()
    assert lines[0].split(",")[: len(CONTRACT)] == CONTRACT
    assert any(line.startswith("g6.xlarge,us-east-1,L4,1.0,") for line in lines)


def test_no_credentials_fall_back_to_the_snapshot_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    records, err = run_json(capsys, "--region", "us-east-1")
    assert "no AWS credentials" in err and err.count("\n") == 1
    assert {r["price_source"] for r in records} == {"snapshot"}
    snap = bundled()
    assert {r["price_as_of"] for r in records} == {snap.regions["us-east-1"].on_demand_as_of}


def test_expired_credentials_fall_back_with_a_warning(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.pricing.fail_with = (
        400,
        "ExpiredTokenException",
        "The security token included in the request is expired",
    )
    records, err = run_json(capsys, "--region", "us-east-1")
    assert "credentials were refused (ExpiredTokenException)" in err
    assert "Traceback" not in err
    g4dn = by_type(records)["g4dn.xlarge"]
    assert g4dn["price_source"] == "snapshot"
    assert g4dn["on_demand_usd_hour"] == bundled().regions["us-east-1"].on_demand["g4dn.xlarge"]


def test_offline_uses_the_bundled_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    records, err = run_json(capsys, "--offline", "--region", "eu-west-1", "--use", "all")
    snap = bundled().regions["eu-west-1"]
    # Said once on stderr: no AWS call, and where the prices come from.
    assert err.startswith(f"offline: on-demand prices: snapshot, {snap.on_demand_as_of} (")
    assert f"; spot prices: snapshot, not before {snap.spot_as_of} (" in err
    assert err.count("\n") == 1
    assert len(records) == len(snap.instance_types)
    for r in records:
        assert r["price_source"] == "snapshot"
        assert r["on_demand_usd_hour"] == snap.on_demand.get(r["instance_type"])


def test_g5_is_ranked_with_its_figures_kinds_and_use(capsys: pytest.CaptureFixture[str]) -> None:
    records, _ = run_json(capsys, "--offline", "--region", "us-east-1")
    g5 = by_type(records)["g5.xlarge"]
    assert (g5["fp32_tflops"], g5["bf16_tflops"]) == (35, 70)
    assert g5["usd_per_fp32_tflop_hour"] == pytest.approx(g5["on_demand_usd_hour"] / 35)
    assert (g5["fp32_source_kind"], g5["bf16_source_kind"]) == ("datasheet", "datasheet")
    assert g5["accelerator_use"] == "training"
    b200 = by_type(records)["p6-b200.48xlarge"]
    assert (b200["fp32_source_kind"], b200["bf16_source_kind"]) == ("derived", "derived")
    # A figure nobody publishes has no kind either.
    assert all(r["fp32_source_kind"] is None for r in records if r["fp32_tflops"] is None)
    assert list(records[0]) == list(RECORD_FIELDS)


def test_inference_only_types_are_hidden_by_default_and_counted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown, _ = run_json(capsys, "--offline", "--region", "us-east-1")
    every, _ = run_json(capsys, "--offline", "--region", "us-east-1", "--use", "all")
    inference, _ = run_json(capsys, "--offline", "--region", "us-east-1", "--use", "inference")
    assert {r["accelerator_use"] for r in shown} == {"training"}
    assert {r["accelerator_use"] for r in inference} == {"inference"}
    assert {"inf2.xlarge", "inf1.xlarge"} <= set(by_type(inference))
    assert len(shown) + len(inference) == len(every)
    code, out, _ = run(capsys, "prices", "--offline", "--region", "us-east-1")
    assert code == 0
    assert f"{len(inference)} inference-only types hidden; --use all shows them" in out
    # g6e's L40S figure is from the datasheet; B200's is derived, so it carries the marker.
    assert "~ TFLOPs not straight from a vendor datasheet" in out
    code, out, _ = run(capsys, "prices", "--offline", "--region", "us-east-1", "--use", "all")
    assert "hidden" not in out


def test_corrupt_cache_is_replaced_not_fatal(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str], isolated_home: Path
) -> None:
    cache = isolated_home / ".cache" / "dlpick" / "prices.sqlite"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"\x00garbage" * 512)
    seed(aws, "us-east-1", {"g6.xlarge": 0.8048}, {})
    records, err = run_json(capsys)
    assert "unreadable" in err
    assert by_type(records)["g6.xlarge"]["price_source"] == "live"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "us-esat-1"], "--region: unknown region 'us-esat-1'"),
        (["--sort", "cheapness"], "unknown sort column 'cheapness'"),
        (["--max-price", "-1"], "--max-price must be at least 0, not '-1'"),
        (["--max-price", "nan"], "--max-price must be a finite number, not 'nan'"),
        (["--min-gpu-memory", "-8"], "--min-gpu-memory must be at least 0, not '-8'"),
        (["--min-gpu-memory", "nan"], "--min-gpu-memory must be a finite number"),
        (["--region", "xx-fake-9"], "--region: unknown region 'xx-fake-9'"),
        (["--gpu", ""], "--gpu is empty"),
        (["--region", ""], "--region is empty"),
    ],
)
def test_a_bad_value_is_a_usage_error_in_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "prices", "--offline", *args)
    assert code == 2
    assert out == ""
    assert err.startswith(f"dlpick prices: error: {message}") and err.count("\n") == 1, err


def test_a_model_the_prices_do_not_know_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "prices", "--offline", "--gpu", "Z9000")
    assert (code, out) == (1, "")
    assert err.startswith("error: unknown accelerator model 'Z9000'") and err.count("\n") == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "prices", "--format", "yaml")
    assert code == 2 and out == ""
    assert err.startswith("dlpick prices: error: argument --output/--format: invalid choice")


def test_maintainer_command_regenerates_the_snapshot_from_live_apis(
    aws: AwsPeers, tmp_path: Path
) -> None:
    from dlpick.pricing.snapshot import Snapshot
    from dlpick.pricing.snapshot import main as snapshot_main

    seed(
        aws,
        "us-east-1",
        {"g6.xlarge": 0.8048},
        {"g6.xlarge": {"us-east-1a": 0.3, "us-east-1b": 0.31}},
    )
    seed(aws, "eu-west-1", {"g6.xlarge": 0.9}, {})
    out = tmp_path / "snapshot.json"
    assert snapshot_main(["--out", str(out), "live", "--regions", "us-east-1", "eu-west-1"]) == 0
    snap = Snapshot.from_json(json.loads(out.read_text()))
    assert set(snap.regions) == {"us-east-1", "eu-west-1"}
    assert snap.regions["us-east-1"].on_demand == {"g6.xlarge": 0.8048}
    assert snap.regions["us-east-1"].spot == {"g6.xlarge": {"us-east-1a": 0.3, "us-east-1b": 0.31}}
    assert snap.specs["g6.xlarge"].accelerator_name == "L4"
    assert "p4d.24xlarge" in snap.regions["eu-west-1"].instance_types
    assert "p5.48xlarge" not in snap.regions["eu-west-1"].instance_types  # not offered there


RETIRED = ("g2", "g3", "g3s", "p2")


def test_offline_lists_no_retired_type_in_any_region(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "prices", "--offline", "--region", "all", "--format", "json")
    assert code == 0, err
    assert not [r for r in json.loads(out) if r["instance_type"].split(".")[0] in RETIRED]
    # Every region, not only each type's cheapest one.
    for region, snap in bundled().regions.items():
        assert not [t for t in snap.instance_types if t.split(".")[0] in RETIRED], region


def test_offline_trainium2_memory_is_its_hbm(capsys: pytest.CaptureFixture[str]) -> None:
    # moto's copy of the EC2 offerings lists trn2 in us-east-2, not us-east-1.
    records, _ = run_json(capsys, "--offline", "--region", "us-east-2")
    assert by_type(records)["trn2.48xlarge"]["gpu_memory_gib"] == 1536
    assert bundled().specs["trn2.3xlarge"].accelerator_memory_gib == 96


def test_live_lists_only_types_offered_in_the_region(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name="eu-west-1")
    offered = {
        o["InstanceType"]
        for o in ec2.describe_instance_type_offerings(LocationType="region")[
            "InstanceTypeOfferings"
        ]
    }
    described = {
        t["InstanceType"]
        for t in ec2.describe_instance_types(
            Filters=[{"Name": "instance-type", "Values": ["p5.48xlarge"]}]
        )["InstanceTypes"]
    }
    assert described == {"p5.48xlarge"} and "p5.48xlarge" not in offered
    records, _ = run_json(capsys, "--region", "eu-west-1")
    listed = {r["instance_type"] for r in records}
    assert listed and listed <= offered


def test_bare_metal_is_priced_live_and_its_decoys_rejected(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    metal = "Compute Instance (bare metal)"
    aws.pricing.products.append(ec2_product("g4dn.metal", "us-east-1", 7.824, productFamily=metal))
    aws.pricing.products.extend(bare_metal_decoys("g4dn.metal", "us-east-1", 7.824))
    records, _ = run_json(capsys, "--region", "us-east-1")
    assert by_type(records)["g4dn.metal"]["on_demand_usd_hour"] == 7.824
    assert by_type(records)["g4dn.metal"]["price_source"] == "live"


def test_a_retiring_type_carries_its_date_and_source_in_json_and_table(tmp_path: Path) -> None:
    """p3 is no longer offered; built from the published prices alone, it shows the mark."""
    import io

    from dlpick.pricing.snapshot import build_public
    from dlpick.tui.cli.output import print_offers as print_table

    public = Path(__file__).parents[1] / "pricing" / "data" / "public"
    snap = build_public(
        public / "prices.csv",
        [public / "specs_extra.csv"],
        "2026-08-26",
        "published prices, offerings left out",
    )
    catalog = Catalog(cache=PriceCache(tmp_path / "c.sqlite"), snapshot=snap)
    records = [o.to_record() for o in catalog.offers("us-east-1")]
    p3 = by_type(records)["p3.2xlarge"]
    source = "https://github.com/zalando-incubator/kubernetes-on-aws/pull/8685"
    assert (p3["retiring"], p3["retiring_source"]) == ("2025-12-20", source)
    assert by_type(records)["dl1.24xlarge"]["retiring"] is None
    out = io.StringIO()
    print_table(records, spot=False, show_region=False, title="t", file=out, width=200)
    text = " ".join(out.getvalue().split())  # the caption wraps at the table's width
    assert "p3.2xlarge †" in text
    assert f"† p3: retiring 2025-12-20 ({source})" in text
    assert "† g3: retiring 2025-10-31" in text


def test_a_missing_profile_is_named_as_aws_names_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    records, err = run_json(capsys, "--region", "us-east-1")
    assert "The config profile (nope) could not be found" in err and err.count("\n") == 1
    assert {r["price_source"] for r in records} == {"snapshot"}


def test_all_regions_goes_by_spot_where_no_region_has_an_on_demand_price(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The bundled prices have no on-demand price for p5e or trn2 anywhere: each type shows
    in the region of its cheapest spot price, not in the first region by name."""
    records, _ = run_json(capsys, "--offline", "--region", "all")
    got = by_type(records)
    p5e, trn2 = got["p5e.48xlarge"], got["trn2.48xlarge"]
    assert (p5e["region"], p5e["spot_usd_hour"], p5e["on_demand_usd_hour"]) == (
        "ap-southeast-3",
        10.0644,
        None,
    )
    assert (trn2["region"], trn2["spot_usd_hour"]) == ("us-east-2", 8.5964)
    # No region the snapshot lists p5e in has a cheaper spot price.
    everywhere = [
        min(r.spot[p5e["instance_type"]].values())
        for r in bundled().regions.values()
        if r.spot.get("p5e.48xlarge")
    ]
    assert min(everywhere) == 10.0644 and len(everywhere) > 1
    code, out, _ = run(capsys, "prices", "--offline", "--region", "all", "--gpu", "H200")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("p5e.48xlarge"))
    assert "ap-southeast-3" in line and "10.064" in line


def test_all_regions_live_goes_by_spot_where_no_region_has_an_on_demand_price(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(aws, "ap-south-1", {}, {"g6.xlarge": {"ap-south-1a": 0.50}})
    seed(aws, "eu-west-2", {}, {"g6.xlarge": {"eu-west-2b": 0.25}})
    seed(aws, "us-east-1", {"g5.xlarge": 1.006}, {"g5.xlarge": {"us-east-1a": 0.40}})
    seed(aws, "eu-west-1", {}, {"g5.xlarge": {"eu-west-1a": 0.20}})
    records, _ = run_json(capsys, "--region", "all")
    g6, g5 = by_type(records)["g6.xlarge"], by_type(records)["g5.xlarge"]
    assert (g6["region"], g6["on_demand_usd_hour"], g6["spot_usd_hour"]) == (
        "eu-west-2",
        None,
        0.25,
    )
    # Where some region has an on-demand price, the on-demand view goes by it.
    assert (g5["region"], g5["on_demand_usd_hour"]) == ("us-east-1", 1.006)
    spot, _ = run_json(capsys, "--region", "all", "--spot")
    assert by_type(spot)["g5.xlarge"]["region"] == "eu-west-1"


def test_fp32_engine_and_caveats_are_in_every_record(capsys: pytest.CaptureFixture[str]) -> None:
    records, _ = run_json(capsys, "--offline", "--region", "us-east-1", "--use", "all")
    got = by_type(records)
    assert all("fp32_engine" in r for r in records)
    assert {r["fp32_engine"] for r in records if r["fp32_tflops"] is None} == {None}
    for itype in ("trn1.2xlarge", "trn1.32xlarge", "inf2.xlarge"):
        assert got[itype]["fp32_engine"] == "matrix", itype
        assert "vector FP32 is 2 x 2.3 = 4.6 TF" in got[itype]["fp32_caveat"]
    for itype in ("g5.xlarge", "p5.48xlarge", "g6.xlarge", "g7e.2xlarge"):
        assert got[itype]["fp32_engine"] == "vector", itype
    assert "'up to'" in got["g7e.2xlarge"]["fp32_caveat"]
    assert "third parties" in got["g5.xlarge"]["fp32_caveat"]
    assert "third parties" in got["g5.xlarge"]["bf16_caveat"]
    assert got["p5.48xlarge"]["fp32_caveat"] is None
    # A slice of an L4 is the L4's figure times the slice: derived, not the datasheet's.
    g6f, g6 = got["g6f.large"], got["g6.xlarge"]
    assert (g6f["fp32_source_kind"], g6f["bf16_source_kind"]) == ("derived", "derived")
    assert g6f["fp32_tflops"] == pytest.approx(g6["fp32_tflops"] / 8)
    assert g6["fp32_source_kind"] == "datasheet"


def test_the_table_marks_matrix_fp32_and_derived_slices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "prices", "--offline", "--region", "us-east-1", "--use", "all")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha()}
    assert " 47.5^ " in rows["trn1.2xlarge"] and " 760^ " in rows["trn1.32xlarge"]
    assert " 3.8~ " in rows["g6f.large"]
    # Straight from the datasheet, and vector FP32: unmarked.
    assert " 30.3 " in rows["g6.xlarge"] and "30.3^" not in out and "30.3~" not in out
    text = " ".join(out.split())
    assert "^ FP32 of a matrix engine (Trainium, Inferentia2): matrix multiplies only" in text
    # In the BF16 view every figure is a tensor rate: nothing to mark, nothing to explain.
    code, out, _ = run(capsys, "prices", "--offline", "--region", "us-east-1", "--metric", "bf16")
    assert "^" not in out


def test_inf1_is_marked_retiring_with_the_neuron_documentation_as_source(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the footnote's address on one line
    records, _ = run_json(capsys, "--offline", "--region", "us-east-1", "--use", "inference")
    source = (
        "https://awsdocs-neuron.readthedocs-hosted.com/en/latest/archive/arch/"
        "neuron-hardware/inf1-arch.html"
    )
    inf1 = [r for r in records if r["instance_type"].startswith("inf1.")]
    assert inf1 and {(r["retiring"], r["retiring_source"]) for r in inf1} == {("announced", source)}
    assert by_type(records)["inf2.xlarge"]["retiring"] is None
    code, out, _ = run(capsys, "prices", "--offline", "--use", "inference", "--gpu", "Inferentia")
    assert code == 0
    text = " ".join(out.split())
    assert "inf1.xlarge †" in text and f"† inf1: retiring (announced) ({source})" in text


def test_dl1_is_absent_because_ec2_neither_describes_nor_offers_it(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    """The published prices still list dl1.24xlarge; EC2's answers (moto's copy) do not."""
    import boto3
    from botocore.exceptions import ClientError

    public = Path(__file__).parents[1] / "pricing" / "data" / "public"
    assert "dl1.24xlarge" in (public / "prices.csv").read_text()
    ec2 = boto3.client("ec2", region_name="us-east-1")
    with pytest.raises(ClientError, match="InvalidInstanceType"):
        ec2.describe_instance_types(InstanceTypes=["dl1.24xlarge"])
    for region in ("us-east-1", "us-west-2"):
        offered = boto3.client("ec2", region_name=region).describe_instance_type_offerings(
            LocationType="region", Filters=[{"Name": "instance-type", "Values": ["dl1.*"]}]
        )["InstanceTypeOfferings"]
        assert offered == [], region
    offline, _ = run_json(capsys, "--offline", "--region", "all", "--use", "all")
    assert not [r for r in offline if r["instance_type"].startswith("dl1.")]
    sources = (public / "SOURCES.md").read_text()
    assert "## dl1.24xlarge: why it is not listed" in sources


def test_bf16_ranking_shows_the_bf16_column_it_ranks_by(
    capsys: pytest.CaptureFixture[str],
) -> None:
    records, _ = run_json(capsys, "--offline", "--metric", "bf16")
    values = [r["usd_per_bf16_tflop_hour"] for r in records]
    known = [v for v in values if v is not None]
    assert known == sorted(known) and values[: len(known)] == known
    first = records[0]
    code, out, _ = run(capsys, "prices", "--offline", "--metric", "bf16")
    assert code == 0
    assert "by on-demand $ per BF16 TFLOP-hour" in out
    assert "BF16 TF" in out and "FP32 TF" not in out
    line = next(line for line in out.splitlines() if line.startswith(first["instance_type"]))
    assert f"{first['usd_per_bf16_tflop_hour']:.4f}" in line
    # Sorting on a BF16 field shows BF16 too, the spot one in the spot view.
    for sort in ("bf16", "usd_per_bf16_tflop_hour"):
        code, out, _ = run(capsys, "prices", "--offline", "--sort", sort)
        assert "BF16 TF" in out and "FP32 TF" not in out, sort
    code, out, _ = run(capsys, "prices", "--offline", "--spot", "--metric", "bf16")
    assert "by spot $ per BF16 TFLOP-hour" in out and "BF16 TF" in out
    spot, _ = run_json(capsys, "--offline", "--spot", "--metric", "bf16", "--sort", "spot-value")
    spot_values = [r["spot_usd_per_bf16_tflop_hour"] for r in spot if r["bf16_tflops"]]
    assert spot_values == sorted(spot_values)
    code, out, _ = run(capsys, "prices", "--offline")
    assert "FP32 TF" in out and "BF16 TF" not in out


def test_a_sort_that_contradicts_the_metric_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "prices", "--offline", "--metric", "bf16", "--sort", "fp32")
    assert code == 1 and out == ""
    assert err.startswith("error: --sort fp32 ranks by FP32, not by --metric bf16")
    assert err.count("\n") == 1
