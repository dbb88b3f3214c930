"""Simulation of genotypes by gene dropping (never real people's data)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from reunite.genetics.frequencies import SUM_TOLERANCE, prepare_afreq
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


# ----------------------------------------------------------------------------------------
# A synthetic national database: families that reported a missing child, and unidentified
# children, some of whom are those missing children.

#: Family types and their share, as in reports: (name, share, people).  Each person is
#: (id, father, mother, sex, role); role is reference, missing or untyped; sex "?" is random.
FAMILY_TYPES = (
    ("both_parents", 0.25, [("FA", None, None, "M", "reference"), ("MO", None, None, "F", "reference"),
                            ("M", "FA", "MO", "?", "missing")]),
    ("mother_only", 0.20, [("FA", None, None, "M", "untyped"), ("MO", None, None, "F", "reference"),
                           ("M", "FA", "MO", "?", "missing")]),
    ("father_only", 0.10, [("FA", None, None, "M", "reference"), ("MO", None, None, "F", "untyped"),
                           ("M", "FA", "MO", "?", "missing")]),
    ("parents_and_sibling", 0.10, [("FA", None, None, "M", "reference"), ("MO", None, None, "F", "reference"),
                                   ("S1", "FA", "MO", "?", "reference"), ("M", "FA", "MO", "?", "missing")]),
    ("siblings_only", 0.10, [("FA", None, None, "M", "untyped"), ("MO", None, None, "F", "untyped"),
                             ("S1", "FA", "MO", "?", "reference"), ("S2", "FA", "MO", "?", "reference"),
                             ("M", "FA", "MO", "?", "missing")]),
    ("grandparents", 0.15, [("GF", None, None, "M", "reference"), ("GM", None, None, "F", "reference"),
                            ("FA", "GF", "GM", "M", "untyped"), ("MO", None, None, "F", "untyped"),
                            ("M", "FA", "MO", "?", "missing")]),
    ("uncle_aunt", 0.10, [("GF", None, None, "M", "untyped"), ("GM", None, None, "F", "untyped"),
                          ("U", "GF", "GM", "?", "reference"), ("FA", "GF", "GM", "M", "untyped"),
                          ("MO", None, None, "F", "untyped"), ("M", "FA", "MO", "?", "missing")]),
)

CATEGORIES = ("rescued_child", "unclear_origin", "begging_child", "registration_check")
PLACES = ("Liangshan, Sichuan", "Linyi, Shandong", "Kunming, Yunnan", "Guiyang, Guizhou",
          "Zhengzhou, Henan", "Guangzhou, Guangdong", "Fuzhou, Fujian", "Handan, Hebei")


def _gene_drop(people, num: int, *, alleles_cdf, male_cdf, female_cdf, rng) -> np.ndarray:
    """Vectorised gene dropping of ``num`` copies of one family at one locus.

    Returns (num, persons, 2) allele indices (paternal, maternal).
    """
    index = {p[0]: k for k, p in enumerate(people)}
    out = np.empty((num, len(people), 2), dtype=np.int16)
    n = alleles_cdf.shape[0]
    for k, (pid, father, mother, _, _) in enumerate(people):
        if father is None:
            u = rng.random((num, 2))
            out[:, k] = np.minimum(np.searchsorted(alleles_cdf, u, side="right"), n - 1)
            continue
        for side, parent, cdf in ((0, father, male_cdf), (1, mother, female_cdf)):
            pick = rng.integers(2, size=num)
            a = out[np.arange(num), index[parent], pick].astype(np.int64)
            if cdf is not None:
                u = rng.random(num)
                a = np.minimum((u[:, None] > cdf[a]).sum(axis=1), n - 1)
            out[:, k, side] = a
    return out


def simulate_database(num_families: int, num_unidentified: int, *, seed: int,
                      population: str = "CHN_national_GBT37223", kit=None,
                      share_found: float = 0.6, share_partial: float = 0.05,
                      min_loci: int = 15, first_family: int = 1, first_unidentified: int = 1,
                      dates: bool = False, num_duplicates: int = 0) -> dict:
    """Simulate a database: families, unidentified persons and the truth linking them.

    Family types are mixed as in ``FAMILY_TYPES``; genotypes are gene-dropped with stepwise
    mutation at the shipped per-locus, per-sex rates, at the autosomal loci of ``kit`` (a kit
    name such as ``"GoldenEye20A"``, a :class:`reunite.genetics.kits.Kit` or a sequence of
    loci; default CHN24) drawn from the table ``population`` (shipped or imported), which
    must have every locus of the kit.  ``share_found`` of the unidentified
    persons (at most one per family) are a family's missing child; the rest belong to no
    family.  ``share_partial`` of all profiles lose 1 to ``len(kit) - min_loci`` loci.
    Families are numbered from ``first_family`` and unidentified persons from
    ``first_unidentified`` (to simulate a large database in parts).

    ``dates``: the missing persons' rows also carry ``birth_date``, ``missing_date`` and
    ``missing_place`` (a fifth of them unknown, as in real reports); a found child's estimated
    birth date is within a year of the true one, so the age filter keeps every true match.
    ``num_duplicates``: that many unidentified persons are registered twice (a second person
    with the same profile, as when one child is typed by two police offices), to show the
    identity flags.  Both draw from their own random streams: the rest of the simulation is
    the same with or without them.

    Returns a dict of row lists: ``genotypes`` (sample_id, locus, allele1, allele2),
    ``families``, ``unidentified`` and ``truth``, in the import CSV layouts, and ``notes``
    (tables renormalised for the draw, e.g. GB/T SE33, which lacks allele 30.2).
    """
    from reunite.genetics.kits import kit_markers

    rng = np.random.default_rng(seed)
    # a kit name or Kit: a table lacking some of its loci is refused, naming them
    markers = kit_markers(population, kit="CHN24" if kit is None else kit, mutation="stepwise")
    shares = np.array([t[1] for t in FAMILY_TYPES])
    kinds = rng.choice(len(FAMILY_TYPES), size=num_families, p=shares / shares.sum())
    num_found = min(int(round(share_found * num_unidentified)), num_families)
    found_families = set(rng.choice(num_families, size=num_found, replace=False).tolist())
    # per family type: which families, and their alleles at every locus
    drops: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}
    tables = []
    notes = []
    for m in markers:
        alleles, freqs, _ = prepare_afreq(m.afreq, normalise=True, where=m.name)
        total = float(np.sum(list(m.afreq.values())))
        if abs(total - 1.0) > SUM_TOLERANCE:  # beyond rounding: say so
            notes.append(f"{population} {m.name}: frequencies sum to {total:.4g}; renormalised for the simulation")
        cdfs = []
        for model in (m.mutation.male, m.mutation.female):
            mat = model.transition_matrix(alleles, freqs)
            cdfs.append(np.cumsum(mat, axis=1))
        tables.append((alleles, np.cumsum(freqs), cdfs[0], cdfs[1]))
    for t, (_, _, people) in enumerate(FAMILY_TYPES):
        members = np.flatnonzero(kinds == t)
        if len(members) == 0:
            continue
        per_locus = [_gene_drop(people, len(members), alleles_cdf=cdf, male_cdf=mc, female_cdf=fc, rng=rng)
                     for (_, cdf, mc, fc) in tables]
        drops[t] = (members, per_locus)
    genotypes: list[tuple] = []
    families: list[tuple] = []
    unidentified: list[tuple] = []
    truth: list[tuple] = []
    locus_names = [m.name for m in markers]

    def add_profile(sample_id: str, alleles_per_locus: list[tuple[str, str]]) -> None:
        keep = np.ones(len(locus_names), dtype=bool)
        if rng.random() < share_partial and len(locus_names) > min_loci:
            drop = rng.integers(1, len(locus_names) - min_loci + 1)
            keep[rng.choice(len(locus_names), size=drop, replace=False)] = False
        for k, locus in enumerate(locus_names):
            if keep[k]:
                a, b = sorted(alleles_per_locus[k], key=float)
                genotypes.append((sample_id, locus, a, b))

    found_profiles: list[tuple[str, str, str, list]] = []
    for t, (members, per_locus) in drops.items():
        name, _, people = FAMILY_TYPES[t]
        for row, fam in enumerate(members.tolist()):
            family_id = f"F{fam + first_family:07d}"
            sexes = {p[0]: (p[3] if p[3] != "?" else ("M" if rng.random() < 0.5 else "F")) for p in people}
            for k, (pid, father, mother, _, role) in enumerate(people):
                person_id = f"{family_id}-{pid}"
                sample_id = ""
                calls = [(tables[l][0][per_locus[l][row, k, 0]], tables[l][0][per_locus[l][row, k, 1]])
                         for l in range(len(tables))]
                if role == "reference":
                    sample_id = f"S{family_id[1:]}{pid}"
                    add_profile(sample_id, calls)
                elif role == "missing" and fam in found_families:
                    found_profiles.append((family_id, person_id, sexes[pid], calls))
                families.append((family_id, person_id,
                                 f"{family_id}-{father}" if father else "",
                                 f"{family_id}-{mother}" if mother else "",
                                 sexes[pid], role, sample_id, name))
    # unidentified: found missing children and children who belong to no family
    others = num_unidentified - len(found_profiles)
    for _ in range(others):
        calls = []
        for alleles, cdf, _, _ in tables:
            ab = np.minimum(np.searchsorted(cdf, rng.random(2), side="right"), len(alleles) - 1)
            calls.append((alleles[ab[0]], alleles[ab[1]]))
        found_profiles.append(("", "", "M" if rng.random() < 0.5 else "F", calls))
    order = rng.permutation(len(found_profiles))
    for k, j in enumerate(order.tolist()):
        family_id, missing_id, sex, calls = found_profiles[j]
        person_id = f"U{k + first_unidentified:07d}"
        sample_id = f"SU{k + first_unidentified:07d}"
        add_profile(sample_id, calls)
        birth = date(int(rng.integers(2005, 2020)), int(rng.integers(1, 13)), 1)
        found = birth + timedelta(days=int(rng.integers(4, 6 * 365)))
        unidentified.append((person_id, sample_id, sex, CATEGORIES[int(rng.integers(len(CATEGORIES)))],
                             birth.isoformat(), found.isoformat(), PLACES[int(rng.integers(len(PLACES)))]))
        if family_id:
            truth.append((person_id, family_id, missing_id))
    if num_duplicates:
        drng = np.random.default_rng([seed, 2])
        profiles: dict[str, list] = {}
        for row in genotypes:
            profiles.setdefault(row[0], []).append(row)
        chosen = drng.choice(len(unidentified), size=min(num_duplicates, len(unidentified)), replace=False)
        for n, j in enumerate(sorted(chosen.tolist())):
            person_id, sample_id, sex, category, birth, found, place = unidentified[j]
            k = len(unidentified) + first_unidentified
            new_sample = f"SU{k:07d}"
            genotypes += [(new_sample, *row[1:]) for row in profiles[sample_id]]
            unidentified.append((f"U{k:07d}", new_sample, sex, category, birth, found,
                                 PLACES[int(drng.integers(len(PLACES)))]))
            truth += [(f"U{k:07d}", f, m) for u, f, m in list(truth) if u == person_id]  # the same child
    if dates:
        trng = np.random.default_rng([seed, 1])
        found_child = {t[2]: t[0] for t in truth}
        estimated = {u[0]: (date.fromisoformat(u[4]), date.fromisoformat(u[5])) for u in unidentified}
        dated = []
        for row in families:
            if row[5] != "missing":
                dated.append(row + ("", "", ""))
                continue
            if row[1] in found_child:  # the true birth is within a year of the child's estimate
                est, found = estimated[found_child[row[1]]]
                birth = min(est + timedelta(days=int(trng.integers(-365, 366))), found)  # born by then
                lost = birth + timedelta(days=int(trng.integers(0, max(1, (found - birth).days + 1))))
            else:
                birth = date(int(trng.integers(2000, 2020)), int(trng.integers(1, 13)), int(trng.integers(1, 29)))
                lost = birth + timedelta(days=int(trng.integers(0, 6 * 365)))
            lost = min(lost, date(2026, 1, 1))
            if trng.random() < 0.2:  # the family does not know, or did not say
                dated.append(row + ("", "", ""))
            else:
                dated.append(row + (birth.isoformat(), lost.isoformat(), PLACES[int(trng.integers(len(PLACES)))]))
        families = dated
    return {"genotypes": genotypes, "families": families, "unidentified": unidentified, "truth": truth,
            "notes": notes}


CSV_HEADERS = {
    "genotypes": ("sample_id", "locus", "allele1", "allele2"),
    "families": ("family_id", "person_id", "father_id", "mother_id", "sex", "role", "sample_id",
                 "family_type"),
    "unidentified": ("person_id", "sample_id", "sex", "category", "estimated_birth_date",
                     "found_date", "found_place"),
    "truth": ("unidentified_id", "family_id", "missing_id"),
}


FAMILY_DATE_COLUMNS = ("birth_date", "missing_date", "missing_place")


def write_database(db: dict, out_dir) -> dict:
    """Write the tables of :func:`simulate_database` as CSV files; returns their paths."""
    import csv
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, header in CSV_HEADERS.items():
        if name == "families" and db["families"] and len(db["families"][0]) > len(header):
            header = header + FAMILY_DATE_COLUMNS
        path = out / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(db[name])
        paths[name] = path
    return paths
