"""Simulation of genotypes by gene dropping (never real people's data)."""

from __future__ import annotations

import numpy as np

from reunite.genetics.frequencies import prepare_afreq
from reunite.genetics.kinship import Marker
from reunite.genetics.pedigree import Pedigree


def simulate_genotypes(pedigree: Pedigree, *, markers: list[Marker], seed: int,
                       typed: list[str] | None = None,
                       force_mutation: tuple[str, str] | None = None) -> list[Marker]:
    """Copies of ``markers`` with genotypes gene-dropped through ``pedigree``.

    Founders draw two alleles from the marker's frequencies; a child gets one of each
    parent's alleles at random, mutated by that parent's sex-specific model.  ``typed``
    (default: every non-founder-placeholder, i.e. ids not starting with ``_``) receive
    genotypes.  ``force_mutation=(marker, child)`` makes the child's paternal allele at
    that marker a one-step mutation of what the father transmitted (used by the demo).
    """
    rng = np.random.default_rng(seed)
    typed = typed if typed is not None else [i for i in pedigree.ids if not i.startswith("_")]
    out = []
    for marker in markers:
        alleles, freqs, _ = prepare_afreq(marker.afreq, normalise=True, where=marker.name)
        mut_m = mut_f = None
        if marker.mutation is not None:
            mut_m = marker.mutation.male.transition_matrix(alleles, freqs)
            mut_f = marker.mutation.female.transition_matrix(alleles, freqs)
        geno: dict[str, tuple[int, int]] = {}
        for person in pedigree.individuals:
            if person.is_founder:
                geno[person.id] = tuple(rng.choice(len(alleles), size=2, p=freqs))
                continue
            pair = []
            for parent, mat in ((person.father, mut_m), (person.mother, mut_f)):
                a = geno[parent][rng.integers(2)]
                if mat is not None:
                    a = int(rng.choice(len(alleles), p=mat[a]))
                pair.append(a)
            if force_mutation and force_mutation == (marker.name, person.id):
                pair[0] = _one_step(alleles, pair[0], rng)
            geno[person.id] = (int(pair[0]), int(pair[1]))
        genotypes = {pid: (alleles[geno[pid][0]], alleles[geno[pid][1]]) for pid in typed}
        out.append(Marker(marker.name, marker.afreq, genotypes, marker.mutation,
                          marker.n_individuals, marker.source))
    return out


def _one_step(alleles: list[str], a: int, rng) -> int:
    value = float(alleles[a])
    options = [k for k, x in enumerate(alleles) if abs(float(x) - value) == 1.0]
    return int(rng.choice(options)) if options else a
