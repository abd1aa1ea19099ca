"""`make bench`: figures, printed as JSON. Nothing here asserts a timing."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import isolated_env, moto_env

ROOT = Path(__file__).resolve().parents[1]


def offline_prices_seconds(runs: int = 5) -> dict[str, Any]:
    """Wall time of `dlpick prices --offline --format json`, process start to exit."""
    dlpick = Path(sys.executable).with_name("dlpick")
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(Path(tmp))
        subprocess.run(
            [str(dlpick), "prices", "--offline", "--format", "json"],
            env=env,
            check=True,
            capture_output=True,
        )  # warm the OS file cache
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(
                [str(dlpick), "prices", "--offline", "--format", "json"],
                env=env,
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 4), "runs_s": [round(t, 4) for t in times]}


def api_calls_per_region() -> dict[str, Any]:
    """AWS API calls one region's full refresh makes, counted with botocore's event hooks.

    Runs against moto server and the tests' Pricing peer, with an on-demand price and
    spot prices in three AZs for every accelerated type moto knows.
    """
    from dlpick.core.aws import Aws, CallCounter
    from dlpick.core.cache import PriceCache
    from dlpick.pricing.catalog import Catalog
    from tests.peers.moto_peer import MotoPeer
    from tests.peers.pricing_api import PricingApi, decoys, ec2_product

    moto, pricing = MotoPeer().start(), PricingApi().start()
    saved = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.update(isolated_env(Path(tmp)))
            os.environ.update(moto_env(moto.url, AWS_ENDPOINT_URL_PRICING=pricing.url))
            region = "us-east-1"
            import boto3

            types = [
                t["InstanceType"]
                for t in boto3.client("ec2", region_name=region).describe_instance_types(
                    Filters=[
                        {"Name": "instance-type", "Values": ["g*", "p*", "trn*", "inf*", "dl*"]}
                    ]
                )["InstanceTypes"]
            ]
            for n, itype in enumerate(types):
                pricing.products.append(ec2_product(itype, region, 1.0 + n, reserved=True))
                pricing.products.extend(decoys(itype, region, 1.0 + n))
                for az in "abc":
                    moto.spot.add(region, itype, f"{region}{az}", 0.3 + n / 10)
            counter = CallCounter()
            catalog = Catalog(cache=PriceCache(Path(tmp) / "c.sqlite"), aws=Aws(counter=counter))
            start = time.perf_counter()
            offers = catalog.offers(region, refresh=True)
            elapsed = time.perf_counter() - start
            return {
                "region": region,
                "instance_types": len(offers),
                "priced": sum(o.on_demand_usd_hour is not None for o in offers),
                "api_calls": counter.count,
                "calls": sorted(counter.calls),
                "seconds_against_moto": round(elapsed, 3),
            }
    finally:
        os.environ.clear()
        os.environ.update(saved)
        pricing.stop()
        moto.stop()


def in_fresh_process(module: str) -> Any:
    """A benchmark module's JSON, run alone: peak-memory figures must not see other runs."""
    out = subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def main() -> None:
    from bench.first_rows import first_rows

    figures = {
        "prices_offline_json": offline_prices_seconds(),
        "refresh_one_region": api_calls_per_region(),
        "app_first_rows_in_a_terminal": first_rows(),
        "ssh_follow": in_fresh_process("bench.ssh_follow"),
        "app_ingest": in_fresh_process("bench.app_ingest"),
        "batch_log_follow": in_fresh_process("bench.batch_follow"),
        "bench_overhead": in_fresh_process("bench.bench_overhead"),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
