"""Simulated samples for the record tests (reports, consent, operations, registration checks):
profiles gene-dropped through a small pedigree with the world's genetic model, imported as
unowned samples (never real people's data)."""

from __future__ import annotations

import csv

from reunite.genetics.kinship import not_autosomal
from reunite.genetics.pedigree import make_pedigree
from reunite.simulate import simulate_genotypes
from reunite.store.db import write_transaction
from reunite.store.importers import import_genotypes

# grandparents, parents, the missing child CH, a full sibling S1, and an unrelated man X
PEOPLE = [
    {"id": "PGF", "sex": "M"}, {"id": "PGM", "sex": "F"},
    {"id": "FA", "father": "PGF", "mother": "PGM", "sex": "M"}, {"id": "MO", "sex": "F"},
    {"id": "CH", "father": "FA", "mother": "MO", "sex": "M"}, {"id": "S1", "father": "FA", "mother": "MO", "sex": "F"},
    {"id": "X", "sex": "M"}, {"id": "Y", "sex": "F"},
]
SEX = {p["id"]: p["sex"] for p in PEOPLE}


def loci(model) -> list[str]:
    return sorted(l for l in model.loci() if not not_autosomal(l))


def simulate(model, *, seed: int, people=PEOPLE, mutation: bool = True) -> dict[str, dict]:
    """``{person: {locus: (a, b)}}`` gene-dropped through ``people``."""
    from reunite.genetics.kinship import Marker

    pedigree = make_pedigree(people)
    markers = [model.marker(l) for l in loci(model)]
    if not mutation:
        markers = [Marker(m.name, m.afreq, {}, None, m.n_individuals, m.source) for m in markers]
    out: dict[str, dict] = {}
    for m in simulate_genotypes(pedigree, markers=markers, seed=seed):
        for pid, g in m.genotypes.items():
            out.setdefault(pid, {})[m.name] = g
    return out


def import_samples(world, tmp_path, profiles: dict[str, dict], *, prefix: str, name: str = "g.csv") -> dict[str, str]:
    """Import ``profiles`` as samples ``<prefix><person>`` (with Amelogenin by sex); returns person -> code."""
    path = tmp_path / name
    codes = {pid: f"{prefix}{pid}" for pid in profiles}
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "locus", "allele1", "allele2"])
        for pid, prof in profiles.items():
            for locus, (a, b) in sorted(prof.items()):
                w.writerow([codes[pid], locus, a, b])
            if SEX.get(pid) in ("M", "F"):
                w.writerow([codes[pid], "AMEL", "X", "Y" if SEX[pid] == "M" else "X"])
    write_transaction(world.engine, lambda s: import_genotypes(s, path, model=world.model))
    return codes
