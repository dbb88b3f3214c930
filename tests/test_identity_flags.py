"""Identity flags: identical profiles, identical at every common locus, one locus apart.

The lookup (hash tables per coverage, and the direct scan for a few queries) against a naive
comparison of every pair; the flags on candidates of both search paths (engine and index)
alike; stored with the candidate, in the CSV, the CLI table, and ``reunite stats``.
Every profile is simulated or hand-made.
"""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import reunite.search.identity as identity
from reunite.cli import app
from reunite.search import index as ix
from reunite.search.engine import UnidentifiedRecord, index_search, search
from reunite.search.identity import Holder, IdentityLookup, flag_text
from reunite.search.service import identity_lookup, load_families, load_unidentified, run_search, write_csv
from reunite.simulate import simulate_database, write_database
from reunite.store.db import make_engine
from reunite.store.importers import import_all
from reunite.store.models import FamilyMember, MatchCandidate, Sample, Unidentified
from reunite.store.profiles import GeneticModel, pack_profile

from test_search import _records

POP = "CHN_national_GBT37223"
MODEL = GeneticModel(POP)


def naive_pair(a: dict, b: dict, min_common: int):
    """(kind, common loci, locus) of two profiles, or None: the definition, pair by pair
    (identical profiles whatever their number of loci, the other kinds with ``min_common``)."""
    common = set(a) & set(b)
    differ = [locus for locus in common if sorted(a[locus]) != sorted(b[locus])]
    if common and not differ and set(a) == set(b):
        return ("identical", len(common), None)
    if len(common) < min_common:
        return None
    if not differ:
        return ("identical_common_loci", len(common), None)
    if len(differ) == 1:
        return ("one_locus_apart", len(common), differ[0])
    return None


def _profiles(seed: int, n: int = 250, n_loci: int = 10):
    """Random profiles over few alleles (so near-duplicates happen by chance too), with
    planted duplicates, subsets, one-locus changes and partial coverage."""
    rng = np.random.default_rng(seed)
    loci = [f"L{k}" for k in range(n_loci)]

    def one():
        p = {}
        for locus in loci:
            if rng.random() < 0.85:
                a, b = rng.integers(1, 4, 2).tolist()
                p[locus] = (str(a), str(b))  # unsorted alleles on purpose
        return p

    profiles = [one() for _ in range(n)]
    for _ in range(n // 3):
        base = dict(profiles[int(rng.integers(len(profiles)))])
        what = rng.integers(4)
        if what >= 1 and base:
            del base[sorted(base)[int(rng.integers(len(base)))]]
        if what >= 2 and base:
            base[sorted(base)[int(rng.integers(len(base)))]] = ("7", "9")
        if what == 3 and base:
            locus = sorted(base)[0]
            base[locus] = base[locus][::-1]  # the same genotype, alleles swapped
        profiles.append(base)
    return profiles


@pytest.mark.parametrize("seed,min_common", [(1, 6), (2, 8), (3, 1), (4, 10)])
def test_pairs_equal_every_pair_compared(seed, min_common):
    profiles = _profiles(seed)
    lookup = IdentityLookup(min_common_loci=min_common)
    for k, p in enumerate(profiles):
        lookup.add(Holder(f"S{k}", "sample"), p if k % 2 else pack_profile(p))  # dicts and packed text
    want = {}
    for i, j in itertools.combinations(range(len(profiles)), 2):
        r = naive_pair(profiles[i], profiles[j], min_common)
        if r is not None:
            want[(i, j)] = r
    got = {(i, j): (m.kind, m.common_loci, m.locus) for i, j, m in lookup.pairs()}
    assert got == want
    assert {k for k, _, _ in want.values()} == set(identity.KINDS) or min_common == 10


@pytest.mark.parametrize("scan_max", [0, 10**6])
def test_matches_by_hash_and_by_scan_equal_every_pair_compared(scan_max, monkeypatch):
    monkeypatch.setattr(identity, "SCAN_MAX_QUERIES", scan_max)
    profiles = _profiles(5)
    min_common = 7
    lookup = IdentityLookup(min_common_loci=min_common)
    for k, p in enumerate(profiles):
        lookup.add(Holder(f"S{k}", "sample"), p)
    queries = profiles[:40] + [
        {**profiles[3], "L0": ("55", "56")},  # a genotype no entry has
        {**profiles[4], "NEW": ("1", "2")},  # a locus no entry is typed at
        {"L0": ("1", "1")},  # too few loci for anything
    ]
    exclude = [k if k < 40 else -1 for k in range(len(queries))]
    found = lookup.matches(queries, exclude=exclude)
    for q, query in enumerate(queries):
        want = {}
        for t, p in enumerate(profiles):
            r = naive_pair(query, p, min_common)
            if r is not None and t != exclude[q]:
                want[t] = r
        assert {m.target: (m.kind, m.common_loci, m.locus) for m in found[q]} == want, q


def test_the_minimum_of_common_loci_is_a_bound_both_ways():
    a = {f"L{k}": ("10", "11") for k in range(12)}
    b = {f"L{k}": ("10", "11") for k in range(6, 20)}  # 6 common loci, identical there
    c = {**a, "L3": ("12", "13")}
    for min_common, want in ((6, [("identical_common_loci", 6)]), (7, [])):
        lookup = IdentityLookup(min_common_loci=min_common)
        lookup.add(Holder("A", "sample"), a)
        lookup.add(Holder("B", "sample"), b)
        assert [(m.kind, m.common_loci) for _, _, m in lookup.pairs()] == want
    lookup = IdentityLookup(min_common_loci=12)
    for code, p in (("A", a), ("C", c)):
        lookup.add(Holder(code, "sample"), p)
    assert [(m.kind, m.common_loci, m.locus) for _, _, m in lookup.pairs()] == [("one_locus_apart", 12, "L3")]
    # identical profiles are reported whatever their number of loci; a subset or one locus
    # apart needs the minimum
    lookup = IdentityLookup(min_common_loci=12)
    small = {"L1": ("10", "11"), "L2": ("12", "12")}
    for code, p in (("A", small), ("B", dict(small)), ("C", {**small, "L3": ("9", "9")}),
                    ("D", {**small, "L2": ("12", "13")})):
        lookup.add(Holder(code, "sample"), p)
    assert [(i, j, m.kind, m.common_loci) for i, j, m in lookup.pairs()] == [(0, 1, "identical", 2)]


def test_flag_text_and_dict():
    lookup = IdentityLookup(min_common_loci=2)
    lookup.add(Holder("S1", "reference", "MO", 7, "F7"), {"A": ("1", "2"), "B": ("3", "4")})
    lookup.add(Holder("S2", "unidentified", "U2", unidentified_id=2), {"A": ("1", "2"), "B": ("3", "5")})
    u = UnidentifiedRecord(1, "U1", "U", {"A": ("2", "1"), "B": ("4", "3")})

    class Cand:
        unidentified = u
        family = type("F", (), {"id": 7})()
        flags = None

    c = Cand()
    lookup.flag([c])
    assert c.flags == [
        {"kind": "identical", "relation": "this_family_reference", "sample": "S1", "person": "MO",
         "common_loci": 2, "family": "F7"},
        {"kind": "one_locus_apart", "relation": "unidentified", "sample": "S2", "person": "U2",
         "common_loci": 2, "locus": "B"}]
    assert [flag_text(f) for f in c.flags] == ["identical@this_family_reference:F7/MO(S1)",
                                               "one_locus_apart[B]@unidentified:U2(S2)"]


# ---------------------------------------------------------------------------------------
# flags on candidates: both search paths alike

def _planted():
    """Families and unidentified persons with a mix-up, a duplicate registration, a
    contamination-like one-locus difference and a subset of another family's reference."""
    db = simulate_database(60, 40, seed=31)
    families, unidentified = _records(db, num_queries=6)
    f0, f1 = families[0], families[1]
    ref0 = sorted(f0.references)[0]
    ref1 = sorted(f1.references)[0]
    u = unidentified[0]
    locus = sorted(u.profile)[0]
    planted = [
        UnidentifiedRecord(101, "MIXUP", "U", dict(f0.references[ref0])),  # = a reference of F0
        UnidentifiedRecord(102, "DUP", u.sex, dict(u.profile)),  # = another unidentified person
        UnidentifiedRecord(103, "ONEOFF", u.sex, {**u.profile, locus: ("5", "45")}),
        UnidentifiedRecord(104, "SUBSET", "U", dict(sorted(f1.references[ref1].items())[:14])),
    ]
    return families, unidentified + planted, (f0, ref0, f1, ref1, u, locus)


def _key(c):
    return (c.unidentified.code, c.family.code, c.missing, c.rank)


def test_both_search_paths_flag_the_same_and_name_the_other_sample():
    families, queries, (f0, ref0, f1, ref1, u, locus) = _planted()
    lookup = IdentityLookup.from_records(queries, families, min_common_loci=MODEL.min_common_loci)
    index = ix.FamilyIndex(MODEL)
    index.add(families)
    by_id = {f.id: f for f in families}
    load = (lambda ids: list(by_id.values()) if ids is None else [by_id[i] for i in ids])
    want = search(queries, families, model=MODEL, min_lr=0.0, top_k=5, identity=lookup)
    got = index_search(queries, index, model=MODEL, min_lr=0.0, top_k=5, load_families=load, identity=lookup)
    assert [(_key(c), c.flags) for c in sorted(got.candidates, key=_key)] == \
        [(_key(c), c.flags) for c in sorted(want.candidates, key=_key)]
    flags = {}
    for c in want.candidates:
        flags.setdefault(c.unidentified.code, {})[c.family.code] = c.flags
    # the mix-up: this family's reference on F0's candidates, another family's elsewhere
    mixup = flags["MIXUP"]
    assert f0.code in mixup
    assert mixup[f0.code][0] == {"kind": "identical", "relation": "this_family_reference", "sample": ref0,
                                 "person": ref0, "common_loci": len(f0.references[ref0]), "family": f0.code}
    for fcode, fl in mixup.items():
        if fcode != f0.code:
            assert fl[0]["relation"] == "other_family_reference" and fl[0]["family"] == f0.code
    # the duplicate registration and the one-locus difference: each other and the original
    dup = {(f["person"], f["kind"]) for f in next(iter(flags["DUP"].values()))}
    assert dup == {(u.code, "identical"), ("ONEOFF", "one_locus_apart")}
    oneoff = next(iter(flags["ONEOFF"].values()))
    assert {(f["person"], f["kind"], f.get("locus")) for f in oneoff} == {
        (u.code, "one_locus_apart", locus), ("DUP", "one_locus_apart", locus)}
    assert {(f["person"], f["kind"]) for f in next(iter(flags[u.code].values()))} == {
        ("DUP", "identical"), ("ONEOFF", "one_locus_apart")}
    # the subset: identical at its 14 loci to a reference of F1
    subset = next(iter(flags["SUBSET"].values()))
    assert [(f["person"], f["family"], f["kind"], f["common_loci"]) for f in subset] == [
        (ref1, f1.code, "identical_common_loci", 14)]
    # nobody else is flagged (unrelated simulated profiles share far fewer loci)
    assert {code for code, fl in flags.items() if any(fl.values())} == {"MIXUP", "DUP", "ONEOFF", u.code,
                                                                          "SUBSET"}


# ---------------------------------------------------------------------------------------
# the database: stored, CSV, CLI, stats (SQLite and PostgreSQL)

runner = CliRunner()


def _cli(url, *args):
    return runner.invoke(app, list(args), env={"REUNITE_DATABASE_URL": url, "COLUMNS": "250"})


def _add_unidentified(session, code, sample, profile, sex="U"):
    s = Sample(code=sample, profile=pack_profile(profile), num_loci=len(profile), owner_kind="unidentified")
    session.add(s)
    session.flush()
    u = Unidentified(code=code, sample_id=s.id, sex=sex)
    session.add(u)
    session.flush()
    return u.id


def test_flags_are_stored_written_shown_and_listed_by_stats(db_url, tmp_path):
    assert _cli(db_url, "db", "init").exit_code == 0
    db = simulate_database(30, 10, seed=7)
    paths = write_database(db, tmp_path / "sim")
    engine = make_engine(db_url)
    with Session(engine) as s, s.begin():
        import_all(s, paths, model=MODEL)
    with Session(engine) as s, s.begin():
        fam = load_families(s)[0]
        ref = sorted(fam.references)[0]
        ref_sample = s.execute(select(Sample.code).join(FamilyMember, FamilyMember.sample_id == Sample.id)
                               .where(FamilyMember.person_code == ref,
                                      FamilyMember.family_id == fam.id)).scalar_one()
        uid = _add_unidentified(s, "UMIX", "SMIX", fam.references[ref])
    with Session(engine) as s, s.begin():
        lookup = identity_lookup(s, MODEL)
        assert len(lookup) == sum(len(f.references) for f in load_families(s)) + len(load_unidentified(s))
        result = run_search(s, MODEL, unidentified_ids=[uid], top_k=None, min_lr=0.0)
    assert result.candidates and all(c.flags for c in result.candidates)
    first = next(c for c in result.candidates if c.family.id == fam.id)
    assert first.flags[0]["relation"] == "this_family_reference" and first.flags[0]["sample"] == ref_sample
    assert all(c.flags[0]["relation"] == "other_family_reference" for c in result.candidates if c is not first)
    with Session(engine) as s:
        stored = {r.family_id: json.loads(r.flags) for r in s.execute(
            select(MatchCandidate).where(MatchCandidate.unidentified_id == uid)).scalars()}
        assert stored[fam.id] == first.flags
        provenance = json.loads(s.execute(select(MatchCandidate.provenance)
                                          .where(MatchCandidate.unidentified_id == uid)).scalars().first())
        assert provenance["identity_flags"] == {"min_common_loci": MODEL.min_common_loci}
    out = tmp_path / "m.csv"
    write_csv(result, out)
    rows = list(csv.reader(out.open()))
    assert rows[0][8] == "flags"
    assert [r[8] for r in rows if r[1] == fam.code] == [
        f"identical@this_family_reference:{fam.code}/{ref}({ref_sample})"]
    shown = _cli(db_url, "search", "--unidentified", "UMIX", "--min-lr", "0", "--top", "40")
    assert shown.exit_code == 0, shown.output
    assert "identity flags" in shown.output and f"identical@this_family_reference:{fam.code}/{ref}" in shown.output
    stats = _cli(db_url, "stats")
    assert stats.exit_code == 0, stats.output
    assert "near-duplicate profiles" in stats.output and "1 identical" in stats.output
    assert f"reference {fam.code}/{ref} (sample {ref_sample})" in stats.output
    assert "unidentified UMIX (sample SMIX)" in stats.output


def test_withdrawn_samples_are_left_out_of_the_lookup(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert _cli(url, "db", "init").exit_code == 0
    profile = {locus: ("10", "11") for locus in ("D3S1358", "VWA", "FGA", "TH01", "D21S11", "D8S1179",
                                                 "D5S818", "D13S317", "D7S820", "D16S539", "CSF1PO", "TPOX")}
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        _add_unidentified(s, "U1", "S1", profile)
        _add_unidentified(s, "U2", "S2", profile)
    with Session(engine) as s:
        assert len(identity_lookup(s, MODEL).pairs()) == 1
    with Session(engine) as s, s.begin():
        s.execute(select(Sample).where(Sample.code == "S2")).scalar_one().status = "withdrawn"
    with Session(engine) as s:
        assert identity_lookup(s, MODEL).pairs() == []


def test_near_duplicate_pairs_never_compare_two_families_references():
    """Consent: a family's references are compared with unidentified persons only; two
    families' references with the same profile are not listed as a pair (the same family's
    are: one person typed twice), while a reference and an unidentified person are."""
    from reunite.search.identity import Holder, IdentityLookup

    profile = {f"L{i}": ("10", str(11 + i % 3)) for i in range(15)}
    lookup = IdentityLookup(min_common_loci=12)
    lookup.add(Holder("S1", "reference", "mother", 1, "F1"), profile)
    lookup.add(Holder("S2", "reference", "mother", 2, "F2"), profile)
    lookup.add(Holder("S3", "reference", "aunt", 1, "F1"), profile)
    lookup.add(Holder("S4", "unidentified", "U1", None, None, 7), profile)
    listed = {(lookup.holders[i].sample, lookup.holders[j].sample) for i, j, _ in lookup.pairs()}
    assert listed == {("S1", "S3"), ("S1", "S4"), ("S2", "S4"), ("S3", "S4")}
