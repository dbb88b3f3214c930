"""Genotype files in the shape laboratory software writes them, from simulated profiles only.

``write_run`` writes a GeneMapper ID-X "Genotypes" table export of a whole run: tab-separated,
CRLF line ends, a trailing tab on every data row, ``Sample File``, ``Sample Name``, ``Sample
Type``, ``Panel``, ``Marker``, ``Dye``, ``Allele 1..N``, ``Size 1..N``, ``Height 1..N`` and
quality-flag columns; every sample of the run (ladders and controls included) has one row per
marker of the panel, a failed marker an empty row.  Nothing here is a real person's profile,
and the positive-control profiles are simulated, not the real 9947A/2800M/007 profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reunite.genetics.frequencies import get_population

POPULATION = "CHN_national_GBT37223"

# A 24-marker panel (as GlobalFiler spells and colours it): 21 autosomal STRs, Amelogenin,
# DYS391 and the Y indel.  SE33 cannot be used with the GB/T 37223 table (its allele 30.2 is
# missing), as a real run imported into such a database would show.
PANEL = "SimFiler_v1X"
MARKERS = (
    ("D3S1358", "B"), ("vWA", "B"), ("D16S539", "B"), ("CSF1PO", "B"), ("TPOX", "B"),
    ("Yindel", "G"), ("AMEL", "G"), ("D8S1179", "G"), ("D21S11", "G"), ("D18S51", "G"),
    ("DYS391", "Y"), ("D2S441", "Y"), ("D19S433", "Y"), ("TH01", "Y"), ("FGA", "Y"),
    ("D22S1045", "R"), ("D5S818", "R"), ("D13S317", "R"), ("D7S820", "R"), ("SE33", "R"),
    ("D10S1248", "P"), ("D1S1656", "P"), ("D12S391", "P"), ("D2S1338", "P"),
)
Y_MARKERS = {"Yindel", "DYS391"}
STR_MARKERS = [m for m, _ in MARKERS if m not in Y_MARKERS and m != "AMEL"]
USABLE_STR = [m for m in STR_MARKERS if m != "SE33"]
CANONICAL = {"vWA": "VWA"}  # the database's names of the panel's markers


def canonical(marker: str) -> str:
    return CANONICAL.get(marker, marker)


def simulate_profile(rng: np.random.Generator, *, sex: str = "M") -> dict[str, list[str]]:
    """A simulated single-source profile: ``{marker: [alleles as the software writes them]}``
    (a homozygote has one allele, Allele 2 empty)."""
    pop = get_population(POPULATION)
    calls: dict[str, list[str]] = {}
    for marker in STR_MARKERS:
        afreq = pop.locus(canonical(marker)).afreq
        alleles, p = list(afreq), np.array(list(afreq.values()))
        a, b = rng.choice(len(alleles), size=2, p=p / p.sum())
        pair = sorted({alleles[a], alleles[b]}, key=float)
        calls[marker] = pair
    calls["AMEL"] = ["X", "Y"] if sex == "M" else ["X"]
    calls["DYS391"] = [str(int(rng.integers(9, 12)))] if sex == "M" else []
    calls["Yindel"] = [str(int(rng.integers(1, 3)))] if sex == "M" else []
    return calls


def ladder() -> dict[str, list[str]]:
    """An allelic ladder: many alleles per marker."""
    pop = get_population(POPULATION)
    calls = {m: sorted(pop.locus(canonical(m)).afreq, key=float)[:14] for m in STR_MARKERS}
    calls.update(AMEL=["X", "Y"], DYS391=["7", "8", "9", "10", "11", "12", "13"], Yindel=["1", "2"])
    return calls


@dataclass
class Injection:
    """One sample file of the run: a sample (or a control) injected once."""

    sample_file: str
    sample_name: str
    sample_type: str
    calls: dict[str, list[str]] = field(default_factory=dict)  # absent marker: an empty row


def write_run(path, injections: list[Injection], *, sample_type_column: bool = True,
              encoding: str = "utf-8") -> dict[tuple[str, str, str], int]:
    """Write the export; returns the line of every ``(sample file, sample name, marker)`` row."""
    n = max(max((len(v) for v in inj.calls.values()), default=2) for inj in injections)
    n = max(n, 2)
    header = ["Sample File", "Sample Name"] + (["Sample Type"] if sample_type_column else []) + \
        ["Panel", "Marker", "Dye"] + [f"Allele {k}" for k in range(1, n + 1)] + \
        [f"Size {k}" for k in range(1, n + 1)] + [f"Height {k}" for k in range(1, n + 1)] + ["AN", "SQ"]
    lines = ["\t".join(header)]
    where = {}
    for inj in injections:
        for marker, dye in MARKERS:
            alleles = inj.calls.get(marker, [])
            sizes = [f"{100 + 4.1 * k:.2f}" for k in range(len(alleles))]
            heights = [str(1500 + 37 * k) for k in range(len(alleles))]
            pad = lambda xs: xs + [""] * (n - len(xs))  # noqa: E731
            row = [inj.sample_file, inj.sample_name] + ([inj.sample_type] if sample_type_column else []) + \
                [PANEL, marker, dye] + pad(alleles) + pad(sizes) + pad(heights) + \
                ["Pass" if alleles else "", "0.95" if alleles else ""]
            lines.append("\t".join(row) + "\t")
            where[(inj.sample_file, inj.sample_name, marker)] = len(lines)
    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.write("\r\n".join(lines) + "\r\n")
    return where
