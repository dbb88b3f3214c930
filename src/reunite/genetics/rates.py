"""Default per-locus, per-sex STR mutation rates from the shipped table.

Policy (documented in the README):
1. the AABB 2003 paternal and maternal rates where the table has them;
2. else the largest non-zero per-locus rate of a Chinese study, split between the sexes
   with the paternal:maternal ratio 4.3:1 of Lu et al. 2012 (Chinese Han, 24 STRs);
3. else the all-loci mean of Lu et al. 2012 (0.0013), split the same way.
A split keeps the mean of the two sexes equal to the combined rate.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from reunite.genetics.loci import normalise_locus

PATERNAL_TO_MATERNAL = 4.3
FALLBACK_SOURCE = "LU2012_CHN_HAN_24STR"


@dataclass(frozen=True)
class LocusRates:
    locus: str
    female: float
    male: float
    source: str


@lru_cache(maxsize=1)
def _rows() -> list[dict]:
    ref = resources.files("reunite") / "data" / "mutation_rates.csv"
    with ref.open("r", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _split(combined: float) -> tuple[float, float]:
    k = PATERNAL_TO_MATERNAL
    return 2.0 * combined / (k + 1.0), 2.0 * combined * k / (k + 1.0)


def locus_rates(locus: str) -> LocusRates:
    """Female and male mutation rates of ``locus`` by the policy in the module docstring."""
    name = normalise_locus(locus)
    rows = [r for r in _rows() if r["locus"] == name]
    sexed = {r["sex"]: float(r["rate"]) for r in rows if r["sex"] in ("paternal", "maternal")}
    if "paternal" in sexed and "maternal" in sexed and sexed["paternal"] > 0:
        src = next(r["source_id"] for r in rows if r["sex"] == "paternal")
        return LocusRates(name, sexed["maternal"], sexed["paternal"], src)
    combined = [r for r in rows if r["sex"] == "combined" and float(r["rate"]) > 0]
    if combined:
        best = max(combined, key=lambda r: float(r["rate"]))
        f, m = _split(float(best["rate"]))
        return LocusRates(name, f, m, best["source_id"] + " (split 4.3:1)")
    mean = next(float(r["rate"]) for r in _rows()
                if r["locus"] == "ALL_LOCI_MEAN" and r["source_id"] == FALLBACK_SOURCE)
    f, m = _split(mean)
    return LocusRates(name, f, m, FALLBACK_SOURCE + " all-loci mean (split 4.3:1)")
