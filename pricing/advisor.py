"""Spot interruption risk: AWS's Spot Instance Advisor band and savings per type and region.

The advisor publishes one public JSON file for every region
(https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json). dlpick keeps
only the Linux entries of accelerated types and the `ranges` table, in that same
shape, whether bundled (pricing/data/spot_advisor.json), cached or fetched live.

Rebuild the bundle from a full copy of the feed:
    python -m dlpick.pricing.advisor FULL.json --source-text '...' --as-of '...'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dlpick.core.cache import DEFAULT_SCOPE, PriceCache
from dlpick.core.errors import DlpickError, failure_reason
from dlpick.core.files import write_file
from dlpick.pricing.payloads import PAYLOAD_SHAPES
from dlpick.pricing.snapshot import bundled

DEFAULT_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"
# Set to another URL to read the feed elsewhere; set empty to never ask for it
# (the cache, then the bundle, are used).
URL_ENV = "DLPICK_SPOT_ADVISOR_URL"
FAILURE_KIND = "advisor-failure"  # the last failed read, so it is not retried every run
KIND = "advisor"
BUNDLE = Path(__file__).parent / "data" / "spot_advisor.json"
TIMEOUT_SECONDS = 5.0
OS = "Linux"  # dlpick launches Linux AMIs only
# Bands older than this are shown with a warning: AWS recomputes them from the last month.
STALE_AFTER_DAYS = 90
# How a bundle states a date that is only the latest its data can be from.
NO_LATER_THAN = "no later than "


@dataclass(frozen=True)
class Advice:
    """One type in one region: how often spot is interrupted, and how much it saves."""

    band: str | None  # the advisor's label, e.g. "<5%"
    savings_percent: int | None


UNKNOWN = Advice(None, None)


@dataclass(frozen=True)
class AdvisorStamp:
    """Where the bands came from (`live`, `cache`, `snapshot`) and as of when."""

    source: str
    as_of: str  # an ISO date or time
    not_after: bool = False  # as_of is only the latest the data can be from

    def age_days(self, now: datetime) -> float | None:
        """How many days old the bands are (at least, when `not_after`); None if unparsable."""
        try:
            when = datetime.fromisoformat(self.as_of.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (now - when).total_seconds() / 86400

    def stale(self, now: datetime) -> bool:
        """Older than STALE_AFTER_DAYS (an unreadable date counts as old)."""
        age = self.age_days(now)
        return age is None or age > STALE_AFTER_DAYS


def band_upper_percent(label: str) -> float | None:
    """The upper bound a band label states: '<5%' -> 5, '5-10%' -> 10, '>20%' -> 100."""
    text = label.strip().rstrip("%")
    try:
        if text.startswith("<"):
            return float(text[1:])
        if text.startswith(">"):
            return 100.0
        return float(text.rsplit("-", 1)[-1])
    except ValueError:
        return None


def family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def slim(feed: Mapping[str, Any], keep: Callable[[str], bool]) -> dict[str, Any]:
    """The feed cut to its `ranges` and the Linux entries of the types `keep` accepts."""
    regions: dict[str, Any] = {}
    for region, by_os in sorted(feed["spot_advisor"].items()):
        linux = by_os.get(OS) or {}
        kept = {t: {"s": v["s"], "r": v["r"]} for t, v in sorted(linux.items()) if keep(t)}
        if kept:
            regions[region] = {OS: kept}
    return {"ranges": feed["ranges"], "spot_advisor": regions}


def advice_by_region(feed: Mapping[str, Any]) -> dict[str, dict[str, Advice]]:
    """region -> type -> Advice; the band is the label of the range an entry points at."""
    labels = {r["index"]: r["label"] for r in feed["ranges"]}
    return {
        region: {t: Advice(labels.get(v["r"]), v["s"]) for t, v in (by_os.get(OS) or {}).items()}
        for region, by_os in feed["spot_advisor"].items()
    }


@dataclass
class Advisor:
    """Advice for every region, and where it came from (`live`, `cache`, `snapshot`)."""

    by_region: dict[str, dict[str, Advice]] = field(default_factory=dict)
    source: str = "snapshot"
    as_of: str = ""
    as_of_not_after: bool = False  # as_of is the latest the data can be from (the bundle's)

    def advice(self, region: str, instance_type: str) -> Advice:
        return self.by_region.get(region, {}).get(instance_type, UNKNOWN)

    @property
    def stamp(self) -> AdvisorStamp | None:
        """Source and date of the bands; None when no advisor data was read at all."""
        if not self.as_of:
            return None
        return AdvisorStamp(self.source, self.as_of, self.as_of_not_after)


def bundle_date(text: str) -> tuple[str, bool]:
    """A bundle's `as_of` ('no later than 2025-06-28') as (ISO date, only an upper bound)."""
    text = text.strip()
    if text.startswith(NO_LATER_THAN):
        return text[len(NO_LATER_THAN) :].strip(), True
    return text, False


def read_bundle(path: Path = BUNDLE) -> Advisor:
    """The bundled copy; an empty advisor (every band unknown) if it cannot be read."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return Advisor()
    if not PAYLOAD_SHAPES[KIND](data):
        return Advisor()
    as_of, not_after = bundle_date(str(data.get("as_of", "")))
    return Advisor(advice_by_region(data), "snapshot", as_of, not_after)


def advisor_url(environ: Mapping[str, str] | None = None) -> str:
    """The feed's URL; empty when the user turned the live refresh off."""
    environ = os.environ if environ is None else environ
    return environ.get(URL_ENV, DEFAULT_URL).strip()


def fetch_feed(url: str, timeout: float = TIMEOUT_SECONDS) -> dict[str, Any]:
    """The full feed from `url`; OSError or ValueError when it cannot be had."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read()
    try:
        feed = json.loads(body)
    except ValueError:
        raise ValueError("the answer is not JSON") from None
    if not isinstance(feed, dict) or "ranges" not in feed or "spot_advisor" not in feed:
        raise ValueError("not the spot advisor's JSON (no ranges or spot_advisor)")
    return feed


def load_advisor(
    cache: PriceCache,
    *,
    online: bool,
    refresh: bool = False,
    warn: Callable[[str], None] = lambda _msg: None,
    environ: Mapping[str, str] | None = None,
    bundle: Path = BUNDLE,
) -> Advisor:
    """Live (when online, at most once a day), else the cache, else the bundle.

    A failed refresh falls back the same way, with one warning.
    """
    from dlpick.core.cache import iso

    url = advisor_url(environ)
    snapshot = read_bundle(bundle)
    key = url or DEFAULT_URL

    def cached(allow_stale: bool) -> Advisor | None:
        hit = cache.get(
            KIND, key, allow_stale=allow_stale, valid=PAYLOAD_SHAPES[KIND], scope=DEFAULT_SCOPE
        )
        if hit is None or not (hit.fresh or allow_stale):
            return None
        return Advisor(advice_by_region(hit.payload), "cache", iso(hit.fetched_at))

    fresh = None if refresh else cached(allow_stale=not (online and url))
    if fresh is not None:
        return fresh
    failed_lately = (
        cache.get(FAILURE_KIND, key, valid=lambda p: isinstance(p, str), scope=DEFAULT_SCOPE)
        is not None
    )
    if online and url and not failed_lately:
        keep = set(map(family, _known_types()))
        try:
            payload = slim(fetch_feed(url), lambda t: family(t) in keep)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            why = failure_reason(exc)
            cache.put(FAILURE_KIND, key, why, scope=DEFAULT_SCOPE)
            shown = cached(allow_stale=True) or snapshot
            kind = "cached" if shown.source == "cache" else "bundled"
            bound = NO_LATER_THAN if shown.as_of_not_after else ""
            since = f" ({bound}{shown.as_of})" if shown.as_of else ""
            warn(
                f"spot interruption bands: could not read {url} ({why}); "
                f"showing the {kind} bands{since}"
            )
            return shown
        else:
            stamp = cache.put(KIND, key, payload, scope=DEFAULT_SCOPE)
            return Advisor(advice_by_region(payload), "live", iso(stamp))
    return cached(allow_stale=True) or snapshot


def _known_types() -> Iterable[str]:
    """The types dlpick lists offline: their families are the ones worth keeping."""
    return bundled().specs


class AdvisorSource:
    """Loads the advisor once per catalog, however many region threads ask."""

    def __init__(self, cache: PriceCache, warn: Callable[[str], None]) -> None:
        self.cache = cache
        self.warn = warn
        self._lock = threading.Lock()
        self._advisor: Advisor | None = None
        self._refreshed = False  # a --refresh asks the feed once, not once per region

    def get(self, *, online: bool, refresh: bool = False) -> Advisor:
        with self._lock:
            if self._advisor is None or (refresh and not self._refreshed):
                self._advisor = load_advisor(
                    self.cache, online=online, refresh=refresh, warn=self.warn
                )
                self._refreshed = refresh
            return self._advisor


def main(argv: list[str] | None = None) -> int:
    """Write the bundle from a full copy of the feed, keeping dlpick's types only."""
    parser = argparse.ArgumentParser(prog="python -m dlpick.pricing.advisor")
    parser.add_argument("feed", type=Path, help="a full copy of spot-advisor-data.json")
    parser.add_argument("--source-text", required=True, help="where the copy came from")
    parser.add_argument(
        "--as-of",
        required=True,
        help="when the data was valid: an ISO date, or 'no later than YYYY-MM-DD'",
    )
    parser.add_argument("--out", type=Path, default=BUNDLE)
    args = parser.parse_args(argv)
    feed = json.loads(args.feed.read_text())
    types = set(_known_types())
    bundle = {"source": args.source_text, "as_of": args.as_of, "url": DEFAULT_URL}
    bundle |= slim(feed, lambda t: t in types)
    try:
        write_file(args.out, _format(bundle), option="--out")
    except DlpickError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    count = sum(len(r[OS]) for r in bundle["spot_advisor"].values())
    print(f"wrote {args.out}: {count} entries in {len(bundle['spot_advisor'])} regions")
    return 0


def _format(bundle: Mapping[str, Any]) -> str:
    """JSON with one line per region, so a rebuild's diff shows what changed where."""
    lines = [
        f" {json.dumps(k)}: {json.dumps(v)}," for k, v in bundle.items() if k != "spot_advisor"
    ]
    regions = [f"  {json.dumps(r)}: {json.dumps(v)}" for r, v in bundle["spot_advisor"].items()]
    return "{\n" + "\n".join(lines) + '\n "spot_advisor": {\n' + ",\n".join(regions) + "\n }\n}\n"


if __name__ == "__main__":
    raise SystemExit(main())
