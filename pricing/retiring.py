"""Instance families AWS has announced for retirement, from a sourced data file.

No AWS API says a type is being retired: `data/retiring.csv` has one row per
family with the announced date (empty when no date was found), its source and
when it was checked. A type still offered in a region is listed there with a
mark; a retired type that is no longer offered is not listed at all.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Shown after the type where a retirement was announced, explained beside the table.
MARK = "†"


@dataclass(frozen=True)
class Retirement:
    family: str
    date: str | None  # YYYY-MM-DD; None when announced without a date we could find
    source: str
    as_of: str

    @property
    def field(self) -> str:
        """The record's `retiring` value: the date, or 'announced'."""
        return self.date or "announced"

    @property
    def label(self) -> str:
        return f"retiring {self.date}" if self.date else "retiring (announced)"


@cache
def load_retirements() -> dict[str, Retirement]:
    """The bundled table, keyed by instance family."""
    data = resources.files("dlpick.pricing").joinpath("data/retiring.csv")
    with data.open(encoding="utf-8") as f:
        return {
            row["family"]: Retirement(
                family=row["family"],
                date=row["retiring"].strip() or None,
                source=row["source"],
                as_of=row["as_of"],
            )
            for row in csv.DictReader(f)
        }


def retirement_for(instance_type: str) -> Retirement | None:
    """The announced retirement of a type's family, if any."""
    return load_retirements().get(instance_type.split(".", 1)[0])
