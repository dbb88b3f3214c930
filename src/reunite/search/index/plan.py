"""Pedigree analysis for the family index (per pedigree shape, missing person and set of
typed people; cached by :class:`~reunite.search.index.FamilyIndex`): the requisite references
(Bayes ball) and whether M's two sides are independent (see :mod:`reunite.search.index`)."""

from __future__ import annotations

from dataclasses import dataclass


def requisite_typed(structure: tuple, query: int, typed: frozenset[int]) -> tuple[int, ...]:
    """Typed people whose genotypes change P(query's genotype | typed genotypes): Bayes ball
    (Shachter 1998) on the pedigree as a Bayesian network of genotypes."""
    children: list[list[int]] = [[] for _ in structure]
    for i, (f, m, *_rest) in enumerate(structure):
        if f >= 0:
            children[f].append(i)
        if m >= 0:
            children[m].append(i)

    parents = [[p for p in person[:2] if p >= 0] for person in structure]
    return tuple(sorted(bayes_ball(parents, children, query, typed) & typed))


def bayes_ball(parents: list, children: list, start: int, observed) -> set:
    """Nodes visited by the Bayes ball (Shachter 1998) from ``start`` given ``observed``;
    the observed nodes among them are those ``start`` is d-connected to."""
    top: set[int] = set()
    bottom: set[int] = set()
    visited: set[int] = set()
    schedule = [(start, True)]  # (node, visited from a child)
    while schedule:
        j, from_child = schedule.pop()
        visited.add(j)
        if j not in observed:
            if from_child and j not in top:
                top.add(j)
                schedule.extend((p, True) for p in parents[j])
            if j not in bottom:
                bottom.add(j)
                schedule.extend((c, False) for c in children[j])
        elif not from_child and j not in top:
            top.add(j)
            schedule.extend((p, True) for p in parents[j])
    return visited


@dataclass(frozen=True)
class Part:
    """One indexed factor of P(M | references): a side vector or a dense LR table, computed
    on a canonical sub-pedigree (people renumbered, sex dropped: only the father and mother
    slots matter), so that equal sub-pedigrees of different families share their values."""

    kind: str  # "P" (paternal side vector), "Q" (maternal side vector) or "dense"
    structure: tuple  # canonical sub-pedigree
    missing: int  # M's position in it
    people: tuple[int, ...]  # original positions of the typed people, in column order
    local: tuple[int, ...]  # their positions in the canonical sub-pedigree
    exchangeable: tuple[tuple[int, ...], ...]  # column groups whose genotypes may be sorted


@dataclass(frozen=True)
class Plan:
    """How one (pedigree shape, missing person, typed people at a locus) is indexed."""

    kind: str  # "sides" or "dense"
    requisite: tuple[int, ...]
    parts: tuple[Part, ...] = ()


def _ancestors(structure: tuple, people) -> set[int]:
    out: set[int] = set()
    stack = list(people)
    while stack:
        i = stack.pop()
        if i in out:
            continue
        out.add(i)
        stack.extend(p for p in structure[i][:2] if p >= 0)
    return out


def _canonical(structure: tuple, keep: set[int], missing: int, typed: tuple[int, ...],
               founders: tuple[int, ...] = ()) -> tuple:
    """Sub-pedigree of ``keep`` (closed under parents, except ``founders``, which lose
    theirs), renumbered in pedigree order, sex dropped; returns (structure, missing, local
    positions of ``typed``, exchangeable column groups)."""
    kept = sorted(keep)
    local = {g: k for k, g in enumerate(kept)}
    sub = []
    for g in kept:
        f, m, _sex, inbreeding = structure[g]
        if g in founders or f < 0:
            sub.append((-1, -1, "U", inbreeding if f < 0 else 0.0))
        else:
            sub.append((local[f], local[m], "U", 0.0))
    sub = tuple(sub)
    has_children = {p for person in sub for p in person[:2] if p >= 0}
    groups: dict[tuple, list[int]] = {}
    for col, g in enumerate(typed):
        person = sub[local[g]]
        if person[0] >= 0 and local[g] not in has_children:  # typed leaves with the same parents
            groups.setdefault(person[:2], []).append(col)
    exchangeable = tuple(tuple(cols) for cols in groups.values() if len(cols) > 1)
    return sub, local[missing], tuple(local[g] for g in typed), exchangeable


def make_plan(structure: tuple, missing: int, typed: frozenset[int], *, prune: bool = True) -> Plan:
    """Requisite references and whether M's two sides are independent (see module doc).

    Leaving references out needs P(references) > 0 whatever their genotypes: ``prune``
    (every mutation probability positive) and no founder with inbreeding 1 (whose
    heterozygous genotype is impossible); otherwise every typed person is kept."""
    if any(person[0] < 0 and person[3] >= 1.0 for person in structure):
        prune = False
    requisite = requisite_typed(structure, missing, typed) if prune else tuple(sorted(typed))
    father, mother = structure[missing][0], structure[missing][1]
    keep = _ancestors(structure, requisite + (missing,))

    def dense():
        sub, m, local, exch = _canonical(structure, keep, missing, requisite)
        return Plan("dense", requisite, (Part("dense", sub, m, requisite, local, exch),))

    if father < 0 or mother < 0:
        return dense()
    if any(missing in _ancestors(structure, (r,)) for r in requisite):
        return dense()
    rest = keep - {missing}
    # connected components (undirected parent-child edges) of the kept people without M
    comp = {i: i for i in rest}

    def find(i):
        while comp[i] != i:
            comp[i] = comp[comp[i]]
            i = comp[i]
        return i

    for i in rest:
        for p in structure[i][:2]:
            if p >= 0 and p in rest:
                comp[find(i)] = find(p)
    if find(father) == find(mother):
        return dense()
    if any(find(r) not in (find(father), find(mother)) for r in requisite):
        return dense()  # typed people related to neither parent (kept when nothing is left out)
    if not prune and any(structure[i][0] < 0 and structure[i][3] >= 1.0 for i in keep):
        return dense()  # a typed parent's closed form would not see an impossible genotype
    parts = []
    for kind, parent, other in (("P", father, mother), ("Q", mother, father)):
        people = tuple(r for r in requisite if find(r) == find(parent))
        side = {i for i in rest if find(i) == find(parent)} | {missing, other}
        sub, m, local, exch = _canonical(structure, side, missing, people, founders=(other,))
        parts.append(Part(kind, sub, m, people, local, exch))
    return Plan("sides", requisite, tuple(parts))
