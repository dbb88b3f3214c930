"""Loci needing a mutation, found once per pattern of shared alleles, against the direct
recomputation of every case and marker with the mutation model off."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from reunite.genetics import pedigree as ped
from reunite.genetics.kinship import kinship_lr_many
from reunite.genetics.kits import CHN24, kit_markers
from reunite.genetics.lr_report import loci_needing_mutation_many
from reunite.simulate import simulate_genotypes


def direct(cases, results) -> list:
    """The old way: every case recomputed with no mutation model at its markers."""
    again = [(c[0], c[1], c[2], [replace(m, mutation=None) for m in c[3]], c[4]) for c in cases]
    return [[m.name for m in c[3] if r.likelihood_h1[m.name] == 0.0]
            for c, r in zip(cases, kinship_lr_many(again))]


def test_patterns_agree_with_direct_recomputation():
    rng = np.random.default_rng(5)
    markers = kit_markers("CHN_national_GBT37223", kit=CHN24[:12], mutation="stepwise")
    shapes = {"duo": ped.duo("AF", "CH"), "trio": ped.trio("AF", "MO", "CH"),
              "sibs": ped.full_sibs("S1", "S2"),
              "grand": ped.grandparents("GF", "GM", "CH", parent="FA", other_parent="MO")}
    cases = []
    for k in range(120):
        kind = list(shapes)[k % len(shapes)]
        h1 = shapes[kind]
        typed = ["GF", "GM", "CH"] if kind == "grand" else None
        sim = simulate_genotypes(h1, markers=markers, seed=100 + k, typed=typed)
        if k % 2:  # break the inheritance at a few markers: some need a mutation, some exclude
            for m in sim:
                if rng.random() < 0.3:
                    child = sorted(m.genotypes)[-1]
                    alleles = list(m.afreq)
                    m.genotypes[child] = (alleles[rng.integers(len(alleles))],
                                          alleles[rng.integers(len(alleles))])
        if k % 5 == 0:  # some markers without a model: read off the result
            sim = [replace(m, mutation=None) if j % 3 == 0 else m for j, m in enumerate(sim)]
        cases.append((f"c{k}", h1, "unrelated", sim, 0.02 if k % 7 == 0 else 0.0))
    results = kinship_lr_many(cases)
    got = loci_needing_mutation_many(cases, results)
    assert got == direct(cases, results)
    assert sum(map(len, got)) > 20  # the broken markers were found
