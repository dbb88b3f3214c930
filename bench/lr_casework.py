"""Simulated casework for the ``reunite lr`` benchmark: duo cases (alleged father and child)
on the 23 autosomal loci of the Huaxia Platinum kit, the stepwise mutation model with the
shipped per-locus, per-sex rates, and each case with its own frequency table (the national
table with every frequency perturbed and renormalised, as a laboratory's case-specific table
would differ).  Simulated people only.

``python bench/lr_casework.py OUT.json [--cases N] [--seed S]`` writes a case file in the
kinship case format.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from reunite.genetics.kits import default_mutation, get_kit
from reunite.genetics.frequencies import get_population

KIT = "HuaxiaPlatinum"
POPULATION = "CHN_national_GBT37223"


def _mutation_json(locus: str) -> dict:
    mut = default_mutation(locus, model="stepwise")
    f, m = mut.female, mut.male
    return {"model": "stepwise", "rate": {"female": f.rate, "male": m.rate},
            "rate2": {"female": f.rate2, "male": m.rate2},
            "range": {"female": f.range, "male": m.range}}


def make_duo_cases(num_cases: int, *, seed: int) -> dict:
    """A case-format document of ``num_cases`` duo cases, each with its own frequency table."""
    rng = np.random.default_rng(seed)
    pop = get_population(POPULATION)
    loci = [pop.locus(name) for name in get_kit(KIT).loci]
    mutations = {t.locus: _mutation_json(t.locus) for t in loci}
    cases = []
    for k in range(num_cases):
        markers = []
        for table in loci:
            alleles = list(table.afreq)
            base = np.array([table.afreq[a] for a in alleles])
            p = base * rng.lognormal(0.0, 0.2, size=len(base))
            p = np.maximum(np.round(p / p.sum(), 6), 1e-6)
            p /= p.sum()
            father = rng.choice(len(alleles), size=2, p=p)
            child = (father[rng.integers(2)], rng.choice(len(alleles), p=p))
            markers.append({
                "name": table.locus,
                "afreq": {a: round(float(x), 6) for a, x in zip(alleles, p)},
                "genotypes": {"AF": f"{alleles[father[0]]}/{alleles[father[1]]}",
                              "CH": f"{alleles[child[0]]}/{alleles[child[1]]}"},
                "mutation": mutations[table.locus],
            })
        cases.append({"id": f"duo{k:05d}",
                      "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
                      "H2": "unrelated", "markers": markers})
    return {"format": "kinship case format v1", "cases": cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    args.out.write_text(json.dumps(make_duo_cases(args.cases, seed=args.seed)), encoding="utf-8")


if __name__ == "__main__":
    main()
