"""Naive reference: brute-force summation over every untyped person's ordered genotype.

Slow and obviously correct; the fast engine (variable elimination) is compared against it.
Founder alleles are drawn one after another with the Balding-Nichols urn, founders in
pedigree order, paternal allele first; a founder with inbreeding f has, with probability f,
two copies of one drawn allele.
"""

from __future__ import annotations

import itertools

import numpy as np

from reunite.genetics.pedigree import Pedigree


def urn_probability(draws, afreq, theta):
    """P(sequence of founder alleles) under the Balding-Nichols urn."""
    counts = {}
    prob = 1.0
    for m, a in enumerate(draws):
        prob *= (counts.get(a, 0) * theta + (1 - theta) * afreq[a]) / (1 + (m - 1) * theta)
        counts[a] = counts.get(a, 0) + 1
    return prob


def naive_likelihood(pedigree: Pedigree, *, afreq, male=None, female=None, genotypes, theta=0.0):
    """Likelihood of ``genotypes`` (id -> (allele index, allele index)) on ``pedigree``."""
    afreq = np.asarray(afreq, dtype=float)
    n = len(afreq)
    male = np.eye(n) if male is None else np.asarray(male)
    female = np.eye(n) if female is None else np.asarray(female)
    people = pedigree.individuals
    options = []
    for p in people:
        if p.id in genotypes:
            a, b = genotypes[p.id]
            options.append(sorted({(a, b), (b, a)}))
        else:
            options.append(list(itertools.product(range(n), repeat=2)))
    founders = [k for k, p in enumerate(people) if p.is_founder]
    inbred = [k for k in founders if people[k].inbreeding > 0]
    total = 0.0
    for combo in itertools.product(*options):
        prior = 0.0
        for ties in itertools.product((False, True), repeat=len(inbred)):
            tied = {k for k, t in zip(inbred, ties) if t}
            weight = 1.0
            for k, t in zip(inbred, ties):
                weight *= people[k].inbreeding if t else 1 - people[k].inbreeding
            draws = []
            ok = True
            for k in founders:
                pa, ma = combo[k]
                if k in tied:
                    if pa != ma:
                        ok = False
                        break
                    draws.append(pa)
                else:
                    draws.extend([pa, ma])
            if ok:
                prior += weight * urn_probability(draws, afreq, theta)
        if prior == 0.0:
            continue
        prob = prior
        for k, p in enumerate(people):
            if p.is_founder:
                continue
            f = combo[pedigree.index[p.father]]
            m = combo[pedigree.index[p.mother]]
            c = combo[k]
            prob *= 0.5 * (male[f[0], c[0]] + male[f[1], c[0]])
            prob *= 0.5 * (female[m[0], c[1]] + female[m[1], c[1]])
            if prob == 0.0:
                break
        total += prob
    return total
