"""The bundled, dated price snapshot that dlpick falls back to offline.

`data/snapshot.json` is written by a command, never by hand:

    python -m dlpick.pricing.snapshot live [--regions ...]     # from the live AWS APIs
    python -m dlpick.pricing.snapshot public PRICES.csv ...    # from published price data

Both produce the same file: specs for every accelerated type, and per region
the on-demand price and the spot price per AZ, with the date they were valid.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from dlpick.core.aws import Aws
from dlpick.core.errors import DlpickError
from dlpick.core.files import write_file
from dlpick.core.regions import KNOWN_REGIONS, enabled_regions
from dlpick.pricing.ondemand import fetch_on_demand
from dlpick.pricing.specs import InstanceSpec, fetch_specs, specs_from_api
from dlpick.pricing.spot import fetch_spot

FORMAT = 1


@dataclass
class RegionSnapshot:
    on_demand: dict[str, float] = field(default_factory=dict)
    spot: dict[str, dict[str, float]] = field(default_factory=dict)
    on_demand_as_of: str = ""
    spot_as_of: str = ""
    # The source gives only a lower bound for the spot prices' date: "not before" spot_as_of.
    spot_as_of_not_before: bool = False
    offered: set[str] = field(default_factory=set)  # types offered, priced or not

    @property
    def instance_types(self) -> set[str]:
        return self.offered | set(self.on_demand) | set(self.spot)


@dataclass
class Snapshot:
    as_of: str
    source: str
    specs: dict[str, InstanceSpec]
    regions: dict[str, RegionSnapshot]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "as_of": self.as_of,
            "source": self.source,
            "specs": [self.specs[k].to_json() for k in sorted(self.specs)],
            "regions": {
                name: {
                    "offered": sorted(r.instance_types),
                    "on_demand_as_of": r.on_demand_as_of,
                    "spot_as_of": r.spot_as_of,
                    **({"spot_as_of_not_before": True} if r.spot_as_of_not_before else {}),
                    "on_demand": dict(sorted(r.on_demand.items())),
                    "spot": {t: dict(sorted(azs.items())) for t, azs in sorted(r.spot.items())},
                }
                for name, r in sorted(self.regions.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported snapshot format {data.get('format')!r}")
        specs = {s["instance_type"]: InstanceSpec.from_json(s) for s in data["specs"]}
        regions = {
            name: RegionSnapshot(
                on_demand={k: float(v) for k, v in r.get("on_demand", {}).items()},
                spot={
                    t: {az: float(p) for az, p in azs.items()}
                    for t, azs in r.get("spot", {}).items()
                },
                on_demand_as_of=r.get("on_demand_as_of", data["as_of"]),
                spot_as_of=r.get("spot_as_of", data["as_of"]),
                spot_as_of_not_before=bool(r.get("spot_as_of_not_before", False)),
                offered=set(r.get("offered", ())),
            )
            for name, r in data["regions"].items()
        }
        return cls(as_of=data["as_of"], source=data["source"], specs=specs, regions=regions)

    def write(self, path: Path) -> None:
        """Write the snapshot at `path` as every user-given path is written (core/files.py)."""
        write_file(path, json.dumps(self.to_json(), indent=1) + "\n", option="--out")


@cache
def bundled() -> Snapshot:
    """The snapshot shipped with dlpick."""
    text = resources.files("dlpick.pricing").joinpath("data/snapshot.json").read_text("utf-8")
    return Snapshot.from_json(json.loads(text))


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_live(regions: Iterable[str] | None = None, profile: str | None = None) -> Snapshot:
    """A snapshot from the live APIs (the account's enabled regions by default)."""
    from concurrent.futures import ThreadPoolExecutor

    aws = Aws(profile=profile)
    names = list(regions or enabled_regions(aws.ec2(aws.default_region())))

    def one(region: str) -> tuple[str, dict[str, InstanceSpec], RegionSnapshot]:
        ec2 = aws.ec2(region)
        specs = fetch_specs(ec2)
        types = sorted(specs)
        od = fetch_on_demand(aws.pricing(), region, types)
        spot = fetch_spot(ec2, types)
        stamp = _iso_now()
        snap = RegionSnapshot(
            on_demand={t: p.usd_hour for t, p in od.items()},
            spot={t: q.by_az for t, q in spot.items()},
            on_demand_as_of=stamp,
            spot_as_of=stamp,
            offered=set(specs),
        )
        return region, specs, snap

    all_specs: dict[str, InstanceSpec] = {}
    region_data: dict[str, RegionSnapshot] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for region, specs, snap in pool.map(one, names):
            all_specs.update(specs)
            if snap.instance_types:
                region_data[region] = snap
    return Snapshot(
        as_of=_iso_now(),
        source=(
            "AWS APIs: ec2 DescribeInstanceTypes, pricing GetProducts, ec2 DescribeSpotPriceHistory"
        ),
        specs=all_specs,
        regions=region_data,
    )


def build_public(
    prices_csv: Path,
    spec_files: list[Path],
    as_of: str,
    source: str,
    spot_csv: Path | None = None,
    spot_as_of: str | None = None,
    offerings_dir: Path | None = None,
    spot_not_before: bool = False,
) -> Snapshot:
    """A snapshot from published AWS price data (see data/public/SOURCES.md).

    prices_csv: region, instance_type, on_demand_usd_hour rows.
    spot_csv: region, instance_type, spot_az, spot_usd_hour rows.
    spec_files: DescribeInstanceTypes answers (JSON with an InstanceTypes list) or
    CSV files with instance_type, vcpus, memory_gib, accelerator_* columns; the
    first file that names a type wins.
    offerings_dir: DescribeInstanceTypeOfferings answers per region (REGION.json or
    REGION.json.gz, a list of {"InstanceType": ...}): with it, a type is listed in a
    region only if offered there (priced or not); a region without an answer lists none.
    """
    import pandas as pd

    specs: dict[str, InstanceSpec] = {}
    for path in spec_files:
        if path.suffix == ".json":
            found = specs_from_api(json.loads(path.read_text("utf-8"))["InstanceTypes"])
            for itype, found_spec in found.items():
                specs.setdefault(itype, found_spec)
        else:
            for raw in pd.read_csv(path).to_dict("records"):
                row = {str(k): v for k, v in raw.items()}
                spec = _spec_from_row(row)
                if spec is not None:
                    specs.setdefault(spec.instance_type, spec)
    regions: dict[str, RegionSnapshot] = {}

    def region_snapshot(name: str) -> RegionSnapshot:
        return regions.setdefault(
            name,
            RegionSnapshot(
                on_demand_as_of=as_of,
                spot_as_of=spot_as_of or as_of,
                spot_as_of_not_before=spot_not_before,
            ),
        )

    offered = _offerings(offerings_dir, set(specs)) if offerings_dir is not None else None

    def is_offered(region: str, itype: str) -> bool:
        # Published price lists keep types AWS retired (g2, g3, p2...) long after no
        # one can launch them: with offerings known, a price alone does not list a type.
        return offered is None or itype in offered.get(region, set())

    # Commercial regions only: GovCloud and China need accounts of their own.
    frame = pd.read_csv(prices_csv).dropna(subset=["on_demand_usd_hour"])
    frame = frame[
        frame["instance_type"].isin(specs)
        & (frame["on_demand_usd_hour"] > 0)
        & frame["region"].isin(KNOWN_REGIONS)
    ]
    cheapest = frame.groupby(["region", "instance_type"])["on_demand_usd_hour"].min().reset_index()
    for rec in cheapest.to_dict("records"):
        region, itype = str(rec["region"]), str(rec["instance_type"])
        if is_offered(region, itype):
            region_snapshot(region).on_demand[itype] = float(rec["on_demand_usd_hour"])
    if spot_csv is not None:
        spot = pd.read_csv(spot_csv).dropna(subset=["spot_usd_hour"])
        spot = spot[
            spot["instance_type"].isin(specs)
            & (spot["spot_usd_hour"] > 0)
            & spot["region"].isin(KNOWN_REGIONS)
        ]
        for rec in spot.to_dict("records"):
            region, itype = str(rec["region"]), str(rec["instance_type"])
            if is_offered(region, itype):
                snap = region_snapshot(region)
                usd = float(rec["spot_usd_hour"])
                if is_catalog_artifact(usd, snap.on_demand.get(itype)):
                    continue
                snap.spot.setdefault(itype, {})[str(rec["spot_az"])] = usd
    for region, types in sorted((offered or {}).items()):
        if types and region in KNOWN_REGIONS:
            region_snapshot(region).offered |= types
    # Specs of types offered nowhere would only be dead weight in the file.
    listed = {t for r in regions.values() for t in r.instance_types}
    specs = {t: s for t, s in specs.items() if t in listed}
    return Snapshot(as_of=as_of, source=source, specs=specs, regions=regions)


def is_catalog_artifact(spot_usd: float, on_demand_usd: float | None) -> bool:
    """A published spot price equal to the on-demand price to the cent.

    Public catalogs fill the spot column with the on-demand price where they had no
    spot figure; such a row is not a spot price and is left out.
    """
    return on_demand_usd is not None and abs(spot_usd - on_demand_usd) < 0.005


def _offerings(folder: Path, known: set[str]) -> dict[str, set[str]]:
    """Accelerated types offered per region, from DescribeInstanceTypeOfferings answers."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.json*")):
        blob = path.read_bytes()
        offers = json.loads(gzip.decompress(blob) if path.suffix == ".gz" else blob)
        found[path.name.split(".")[0]] = {o["InstanceType"] for o in offers} & known
    return found


def _spec_from_row(row: dict[str, Any]) -> InstanceSpec | None:
    if (
        not row.get("accelerator_memory_mib")
        or row["accelerator_memory_mib"] != row["accelerator_memory_mib"]
    ):
        return None  # pandas reads an empty cell as NaN; a spec needs every figure
    name = str(row["accelerator_name"])
    arch = row.get("architecture")
    vendor = str(row["accelerator_manufacturer"])
    kind = "neuron" if vendor == "AWS" else ("inference" if vendor == "Qualcomm" else "gpu")
    count = float(row["accelerator_count"])
    return InstanceSpec(
        instance_type=str(row["instance_type"]),
        vcpus=int(row["vcpus"]),
        memory_gib=float(row["memory_gib"]),
        architectures=(arch if isinstance(arch, str) and arch else "x86_64",),
        accelerator_kind=kind,
        accelerator_vendor=vendor,
        accelerator_name=name,
        accelerator_count=count,
        accelerator_memory_gib=round(float(row["accelerator_memory_mib"]) * count / 1024, 3),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlpick.pricing.snapshot",
        description="Regenerate dlpick's bundled price snapshot.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "data" / "snapshot.json"
    )
    sub = parser.add_subparsers(dest="source", required=True)
    live = sub.add_parser("live", help="fetch from the live AWS APIs")
    live.add_argument("--regions", nargs="*", help="regions (default: every enabled region)")
    live.add_argument("--profile")
    public = sub.add_parser("public", help="build from published AWS price data")
    public.add_argument("prices", type=Path)
    public.add_argument("--specs", type=Path, nargs="+", required=True)
    public.add_argument("--spot", type=Path, help="CSV of spot prices per AZ")
    public.add_argument("--as-of", required=True, help="date the prices were valid (YYYY-MM-DD)")
    public.add_argument("--spot-as-of", help="date the spot prices were valid (YYYY-MM-DD)")
    public.add_argument(
        "--spot-not-before",
        action="store_true",
        help="--spot-as-of is only a lower bound: the prices were valid on it or later",
    )
    public.add_argument("--offerings", type=Path, help="folder of per-region type offerings")
    public.add_argument("--source-text", required=True, help="where the prices came from")
    args = parser.parse_args(argv)
    if args.source == "live":
        try:
            snap = build_live(args.regions, args.profile)
        except DlpickError as exc:
            print(f"error: fetching prices: {exc}", file=sys.stderr)
            return 1
    else:
        snap = build_public(
            args.prices,
            args.specs,
            args.as_of,
            args.source_text,
            args.spot,
            args.spot_as_of,
            args.offerings,
            args.spot_not_before,
        )
    try:
        snap.write(args.out)
    except DlpickError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.out}: {len(snap.specs)} instance types, {len(snap.regions)} regions, "
        f"as of {snap.as_of}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
