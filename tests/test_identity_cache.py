"""The identity lookup kept beside the family index (``service.identity_cache``) and the
compiled scan of a few queries.

The compiled scan against the NumPy reference on random data; the saved lookup read back
exactly, and unreadable or foreign files refused; the cached lookup giving the flags of a
lookup built afresh after every change that touches it (imports, a withdrawal, a re-typed
profile, a person added outside an import, an import rolled back), on SQLite and PostgreSQL.
Every profile is simulated or hand-made.
"""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import reunite.search.identity as identity
from reunite.errors import ReuniteError
from reunite.search import service
from reunite.search.identity import Holder, IdentityLookup, flag_dict
from reunite.search.service import (identity_cache, identity_lookup, identity_path, load_families,
                                    load_unidentified, run_search)
from reunite.simulate import simulate_database, write_database
from reunite.store import corrections as C
from reunite.store.db import make_engine, upgrade
from reunite.store.importers import import_all, import_families, import_genotypes, import_unidentified
from reunite.store.models import Sample, Unidentified
from reunite.store.profiles import GeneticModel, pack_profile

MODEL = GeneticModel("CHN_national_GBT37223")
WHO = {"changed_by": "analyst", "reason": "test"}


@pytest.fixture(autouse=True)
def _no_memory():
    """Each test starts with no lookup kept in this process."""
    service._IDENTITY_CACHE.clear()
    yield
    service._IDENTITY_CACHE.clear()


# ---------------------------------------------------------------------------------------
# the compiled scan is the NumPy scan


def _random_case(rng, n: int, n_loci: int, n_queries: int):
    """Entries over few genotypes (near-duplicates happen), some loci untyped; queries copied
    from entries and changed at 0-2 loci, typed at loci left out, given genotypes no entry has
    (-2) or a locus outside the lookup (``extra``)."""
    g = rng.integers(0, 3, size=(n, n_loci)).astype(np.int16)
    g[rng.random(g.shape) < 0.15] = -1
    qg = g[rng.integers(0, n, n_queries)].astype(np.int64)
    for q in range(n_queries):
        for li in rng.choice(n_loci, rng.integers(0, 3), replace=False):
            qg[q, li] = rng.choice([-2, -1, 0, 1, 2])
    extra = rng.random(n_queries) < 0.2
    return g, qg, extra


@pytest.mark.parametrize("seed", range(6))
def test_compiled_scan_is_the_numpy_scan(seed):
    rng = np.random.default_rng(seed)
    g, qg, extra = _random_case(rng, 3000, 9 + seed, 40)
    for min_common in (1, 4, 7):
        want = sorted(identity.scan_numpy(g, qg, extra, min_common))
        assert want  # the case finds something
        assert sorted(identity.scan_compiled(g, qg, extra, min_common)) == want
        order = rng.permutation(g.shape[1])  # any order of the loci: the same matches
        assert sorted(identity.scan_compiled(g, qg, extra, min_common, order)) == want
        assert sorted(identity.scan_compiled(g.astype(np.int32), qg, extra, min_common)) == want
    # the kernel's Python body (what numba compiles) and a result buffer too small at first
    small = g[:300]
    want = sorted(identity.scan_numpy(small, qg[:5], extra[:5], 3))
    got = []
    for q in range(5):
        buf = np.empty((len(small), 4), dtype=np.int64)
        found = identity._scan_one_py(small, qg[q], bool(extra[q]), 3, np.arange(small.shape[1]), buf)
        got += [(q, t, identity.KINDS[k], c, None if k != 2 else li) for t, k, c, li in buf[:found].tolist()]
    assert sorted(got) == want


def test_many_matches_overflow_the_first_buffer():
    g = np.zeros((1000, 5), dtype=np.int16)  # a thousand identical entries
    got = identity.scan_compiled(g, np.zeros((1, 5), dtype=np.int64), np.zeros(1, bool), 3)
    assert len(got) == 1000 and {k for _, _, k, _, _ in got} == {"identical"}


def test_lookup_scan_equals_hash_tables(monkeypatch):
    """Through IdentityLookup: profiles (dicts) with unseen genotypes and unknown loci, the
    direct scan and the hash tables agree."""
    rng = np.random.default_rng(5)
    loci = [f"L{k}" for k in range(10)]
    lookup = IdentityLookup(min_common_loci=6)
    profiles = []
    for k in range(400):
        p = {locus: tuple(sorted(map(str, rng.integers(8, 11, 2)))) for locus in loci if rng.random() > 0.1}
        profiles.append(p)
        lookup.add(Holder(f"S{k}", "sample"), p if k % 2 else pack_profile(p))
    queries = []
    for k in range(12):
        q = dict(profiles[rng.integers(0, 400)])
        if k % 3 == 0:
            q["L1"] = ("99", "99")  # a genotype no entry has
        if k % 4 == 0:
            q["XTRA"] = ("1", "2")  # a locus no entry is typed at
        queries.append(q)
    # 0: the hash tables always (at 12 queries over this many coverages the default picks the scan)
    monkeypatch.setattr(identity, "SCAN_MAX_QUERIES", 0)
    hashed = lookup.matches(queries)
    monkeypatch.setattr(identity, "SCAN_MAX_QUERIES", 100)
    assert lookup.matches(queries) == hashed
    assert any(hashed)


# ---------------------------------------------------------------------------------------
# saved and read back


def _mixed_lookup() -> IdentityLookup:
    lookup = IdentityLookup(min_common_loci=2)
    lookup.add(Holder("S1", "reference", "MO", 7, "F7"), {"A": ("1", "2"), "B": ("3", "4")})
    lookup.add(Holder("S2", "unidentified", "U2", unidentified_id=2), {"A": ("2", "1"), "B": ("3", "5")})
    lookup.add_rows([("sample", "S3", None, None, None, None, "A=1/2;B=3/4;C=7/7"),
                     ("unidentified", "样本4", "无名4", None, None, 9, ""),
                     ("reference", "S5", "FA", 8, "家庭8", None, "C=7/7")])
    lookup.add(Holder("S6", "sample"), "A=1/2;B=4/3")
    return lookup


def test_lookup_saved_and_read_back(tmp_path):
    lookup = _mixed_lookup()
    lookup.token = {"database_id": "x", "imports": ["1|t|2|f.csv"]}
    before = [lookup.holders[k] for k in range(len(lookup))]
    queries = [{"A": ("1", "2"), "B": ("3", "4")}, {"C": ("7", "7")}]
    want = lookup.matches(queries)
    path = tmp_path / "sub" / "x.identity.npz"
    lookup.save(path)
    back = IdentityLookup.load(path, min_common_loci=2)
    assert [back.holders[k] for k in range(len(back))] == before == list(lookup.holders)
    assert before[1] == Holder("S2", "unidentified", "U2", unidentified_id=2)
    assert before[3] == Holder("样本4", "unidentified", "无名4", unidentified_id=9)
    assert before[2] == Holder("S3", "sample")
    assert back.token == lookup.token and back.loci == lookup.loci
    assert back.genotypes().dtype == np.int16
    np.testing.assert_array_equal(back.genotypes(), lookup.genotypes())
    assert back.matches(queries) == want and any(want)
    assert back.holders.unidentified_entries([9, 2, 5]) == [3, 1, -1]
    # added to after reading: new loci and genotypes
    back.add(Holder("S7", "sample"), {"A": ("1", "2"), "B": ("3", "4"), "D": ("1", "1")})
    assert [m.target for m in back.matches([{"A": ("1", "2"), "B": ("3", "4"), "D": ("1", "1")}])[0]
            if m.kind == "identical"] == [6]
    assert [p.name for p in path.parent.iterdir()] == ["x.identity.npz"]  # no temporary left
    with np.load(path, allow_pickle=False) as data:  # plain arrays: readable without pickle
        assert json.loads(bytes(data["meta"]).decode())["entries"] == 6


def test_more_genotypes_than_int16_holds(tmp_path):
    lookup = IdentityLookup(min_common_loci=2)
    lookup.add_rows(("sample", f"S{k}", None, None, None, None, f"A={k}/{k}") for k in range(33_000))
    assert lookup.genotypes().dtype == np.int32
    lookup.save(tmp_path / "w.npz")
    back = IdentityLookup.load(tmp_path / "w.npz", min_common_loci=2)
    assert [(m.target, m.kind) for m in back.matches([{"A": ("32999", "32999")}])[0]] == [(32_999, "identical")]


def test_unreadable_or_foreign_files_are_refused(tmp_path, monkeypatch):
    good = tmp_path / "good.npz"
    _mixed_lookup().save(good)
    bad = tmp_path / "bad.npz"
    for content in (b"", b"not a zip file", good.read_bytes()[:200]):
        bad.write_bytes(content)
        with pytest.raises(ReuniteError, match="not a readable identity lookup"):
            IdentityLookup.load(bad, min_common_loci=2)
    with np.load(good, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["meta"]).decode())

    def write(**changes):
        out = dict(arrays)
        out["meta"] = np.frombuffer(json.dumps({**meta, **changes.pop("meta", {})}).encode(), dtype=np.uint8)
        out.update(changes)
        np.savez(bad, **out)

    write(meta={"software": "reunite 0.0.1"})
    with pytest.raises(ReuniteError, match="by 'reunite 0.0.1'"):
        IdentityLookup.load(bad, min_common_loci=2)
    write(meta={"format": 99})
    with pytest.raises(ReuniteError, match="format 99"):
        IdentityLookup.load(bad, min_common_loci=2)
    for changes in ({"genotypes": arrays["genotypes"] + 5}, {"genotypes": arrays["genotypes"][:3]},
                    {"genotypes": arrays["genotypes"].astype(float)}, {"holder_kind": arrays["holder_kind"] + 3},
                    {"sample_ends": arrays["sample_ends"][::-1].copy()}, {"family_id": arrays["family_id"][:2]},
                    {"meta": {"entries": 5}}, {"meta": {"loci": ["A", "A", "C"]}}):
        write(**changes)
        with pytest.raises(ReuniteError, match="not a readable identity lookup"):
            IdentityLookup.load(bad, min_common_loci=2)


# ---------------------------------------------------------------------------------------
# the database: the cached lookup is the lookup built afresh


def _write(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _genotype_rows(code, profile):
    return [(code, locus, a, b) for locus, (a, b) in profile.items()]


def _flags(lookup, session):
    """Every unidentified person's near-duplicates, as comparable tuples."""
    people = load_unidentified(session)
    own = lookup.holders.unidentified_entries(u.id for u in people)
    found = lookup.matches([u.profile for u in people], exclude=own)
    return {u.code: sorted(tuple(sorted(flag_dict(lookup.holders[m.target], m, family_id=None).items()))
                           for m in ms) for u, ms in zip(people, found)}


class Reads:
    """Records how the lookup was brought up to date: ``None`` (all rows read) or the
    import batches read."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = service._add_identity_rows

        def spy(lookup, session, *, keep, new=None, **kw):
            self.calls.append(None if new is None else list(new))
            return real(lookup, session, keep=keep, new=new, **kw)

        monkeypatch.setattr(service, "_add_identity_rows", spy)

    def take(self):
        out, self.calls = self.calls, []
        return out


def _check(engine, reads, how):
    """The cached lookup (brought up to date as ``how`` says) flags as a fresh one, and the
    file holds it; returns the flags."""
    with Session(engine) as s:
        cached = identity_cache(s, MODEL)
        assert reads.take() == how
        fresh = identity_lookup(s, MODEL)
        want = _flags(fresh, s)
        assert _flags(cached, s) == want
        assert len(cached) == len(fresh)
        path = identity_path(engine)
        stored = IdentityLookup.load(path, min_common_loci=MODEL.min_common_loci)
        assert stored.token == cached.token == service.identity_state(s)
        assert _flags(stored, s) == want
    return want


def _flagged(flags, code):
    return {(dict(f)["kind"], dict(f)["sample"]) for f in flags[code]}


def test_cache_follows_the_database(db_url, tmp_path, monkeypatch):
    engine = make_engine(db_url)
    upgrade(engine)
    db = simulate_database(40, 12, seed=11)
    paths = write_database(db, tmp_path / "sim")
    with Session(engine) as s, s.begin():
        import_all(s, paths, model=MODEL)
    reads = Reads(monkeypatch)
    _check(engine, reads, [None])  # built
    with Session(engine) as s:
        identity_cache(s, MODEL)
    assert reads.take() == []  # kept in this process
    service._IDENTITY_CACHE.clear()
    _check(engine, reads, [])  # read from the file, nothing from the database

    # an import of unidentified persons: a reference's profile, the same one locus apart,
    # a subset of another unidentified person's profile: only the new batch is read
    with Session(engine) as s:
        fam = load_families(s)[0]
        ref_person, ref_profile = sorted(fam.references.items())[0]
        ref_sample = s.execute(select(Sample.code).where(Sample.profile == pack_profile(ref_profile))).scalar()
        other = load_unidentified(s)[0]
    changed = dict(ref_profile)
    locus = sorted(changed)[0]
    changed[locus] = ("5", "55")
    subset = dict(sorted(other.profile.items())[:MODEL.min_common_loci])
    g2 = _write(tmp_path / "g2.csv", ("sample_id", "locus", "allele1", "allele2"),
                _genotype_rows("SDUP1", ref_profile) + _genotype_rows("SDUP2", changed)
                + _genotype_rows("SDUP3", subset))
    u2 = _write(tmp_path / "u2.csv", ("person_id", "sample_id", "sex"),
                [("UDUP1", "SDUP1", "U"), ("UDUP2", "SDUP2", "U"), ("UDUP3", "SDUP3", "U")])
    with Session(engine) as s, s.begin():
        genotypes = import_genotypes(s, g2, model=MODEL)
        unidentified = import_unidentified(s, u2)
    flags = _check(engine, reads, [sorted([genotypes.batch_id, unidentified.batch_id])])
    assert ("identical", ref_sample) in _flagged(flags, "UDUP1")
    assert ("one_locus_apart", ref_sample) in _flagged(flags, "UDUP2")
    assert ("identical_common_loci", "SDUP3") in _flagged(flags, other.code)

    # a family import whose reference is an unidentified person's profile
    g3 = _write(tmp_path / "g3.csv", ("sample_id", "locus", "allele1", "allele2"),
                _genotype_rows("SNEWFA", other.profile))
    f3 = _write(tmp_path / "f3.csv", ("family_id", "person_id", "father_id", "mother_id", "sex", "role", "sample_id"),
                [("FNEW", "FNEW-FA", "", "", "M", "reference", "SNEWFA"),
                 ("FNEW", "FNEW-CH", "FNEW-FA", "", "F", "missing", "")])
    with Session(engine) as s, s.begin():
        genotypes = import_genotypes(s, g3, model=MODEL)
        families = import_families(s, f3, model=MODEL)
    flags = _check(engine, reads, [sorted([genotypes.batch_id, families.batch_id])])
    assert ("identical", "SNEWFA") in _flagged(flags, other.code)

    # a withdrawn reference: rebuilt, its flags gone
    with Session(engine) as s, s.begin():
        C.withdraw_sample(s, ref_sample, **WHO)
    flags = _check(engine, reads, [None])
    assert not {f for f in _flagged(flags, "UDUP1") | _flagged(flags, "UDUP2") if f[1] == ref_sample}
    assert ("one_locus_apart", "SDUP1") in _flagged(flags, "UDUP2")

    # a re-typed profile: rebuilt; UDUP2 made identical to UDUP1
    with Session(engine) as s, s.begin():
        C.retype_sample(s, "SDUP2", profile=ref_profile, model=MODEL, **WHO)
    flags = _check(engine, reads, [None])
    assert ("identical", "SDUP1") in _flagged(flags, "UDUP2")

    # an unidentified person added outside an import: rebuilt
    with Session(engine) as s, s.begin():
        sample = Sample(code="SHAND", profile=pack_profile(ref_profile), num_loci=len(ref_profile),
                        owner_kind="unidentified")
        s.add(sample)
        s.flush()
        s.add(Unidentified(code="UHAND", sample_id=sample.id, sex="U"))
    flags = _check(engine, reads, [None])
    assert ("identical", "SHAND") in _flagged(flags, "UDUP1")

    # the search flags with the cached lookup as with a fresh one (both search paths)
    with Session(engine) as s:
        ids = [u.id for u in load_unidentified(s) if u.code in ("UDUP1", "UDUP2", "UHAND")]
        for use_index in (True, False):
            got = run_search(s, MODEL, unidentified_ids=ids, min_lr=0.0, top_k=None, store=False,
                             use_index=use_index)
            want = run_search(s, MODEL, unidentified_ids=ids, min_lr=0.0, top_k=None, store=False,
                              use_index=use_index, identity=identity_lookup(s, MODEL))
            assert [c.flags for c in got.candidates] == [c.flags for c in want.candidates]
            assert all(c.flags for c in got.candidates)
    assert reads.take() == []  # the searches used the lookup kept


def _small_store(url, tmp_path):
    engine = make_engine(url)
    upgrade(engine)
    paths = write_database(simulate_database(12, 4, seed=3), tmp_path / "sim")
    with Session(engine) as s, s.begin():
        import_all(s, paths, model=MODEL)
    return engine


def test_rolled_back_import_is_never_kept(db_url, tmp_path, monkeypatch):
    """A lookup saved inside an import's transaction that then rolled back is not used."""
    engine = _small_store(db_url, tmp_path)
    with Session(engine) as s:
        profile = load_unidentified(s)[0].profile
    reads = Reads(monkeypatch)
    with Session(engine) as s:
        identity_cache(s, MODEL)
    assert reads.take() == [None]
    for k, code in enumerate(("ROLLED", "KEPT")):
        g = _write(tmp_path / f"g{k}.csv", ("sample_id", "locus", "allele1", "allele2"),
                   _genotype_rows(f"S{code}", profile))
        u = _write(tmp_path / f"u{k}.csv", ("person_id", "sample_id", "sex"), [(f"U{code}", f"S{code}", "U")])
        s = Session(engine)
        s.begin()
        batches = [import_genotypes(s, g, model=MODEL).batch_id, import_unidentified(s, u).batch_id]
        assert len(identity_cache(s, MODEL)) == len(identity_lookup(s, MODEL))  # saved with the new person
        # ROLLED: the new batches added; KEPT: the saved lookup holds a batch that is gone: rebuilt
        assert reads.take() == ([sorted(batches)] if code == "ROLLED" else [None])
        if code == "ROLLED":
            s.rollback()
        else:
            s.commit()
        s.close()
    service._IDENTITY_CACHE.clear()
    flags = _check(engine, reads, [])
    assert "UROLLED" not in flags and ("identical", "SKEPT") in _flagged(flags, load_code(engine))
    assert ("identical", "SROLLED") not in _flagged(flags, load_code(engine))


def load_code(engine):
    with Session(engine) as s:
        return load_unidentified(s)[0].code


def test_corrupt_or_foreign_file_is_rebuilt(tmp_path, monkeypatch):
    engine = _small_store(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    reads = Reads(monkeypatch)
    path = identity_path(engine)
    if engine.dialect.name == "sqlite":  # beside the file (PostgreSQL, make test-pg: the cache folder)
        assert path == tmp_path / "a.db.index.identity.npz"
    _check(engine, reads, [None])
    for content in (b"garbage", path.read_bytes()[:100]):
        path.write_bytes(content)
        service._IDENTITY_CACHE.clear()
        _check(engine, reads, [None])
    # the file of another database (same loci and counts; another database id): rebuilt
    (tmp_path / "b").mkdir()
    other = _small_store(f"sqlite:///{tmp_path / 'b' / 'b.db'}", tmp_path / "b")
    with Session(other) as s:
        identity_cache(s, MODEL)
    reads.take()
    path.write_bytes(identity_path(other).read_bytes())
    service._IDENTITY_CACHE.clear()
    _check(engine, reads, [None])
    # written by another version of reunite: rebuilt
    monkeypatch.setattr(identity, "CACHE_FORMAT", identity.CACHE_FORMAT + 1)
    service._IDENTITY_CACHE.clear()
    _check(engine, reads, [None])


def test_unwritable_folder_warns_and_goes_on(tmp_path, monkeypatch):
    engine = _small_store(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    (tmp_path / "blocker").write_text("a file, not a folder")
    monkeypatch.setenv("REUNITE_INDEX", str(tmp_path / "blocker" / "index"))
    with Session(engine) as s:
        with pytest.warns(UserWarning, match="identity lookup could not be saved.*blocker is a file, not a "
                                             "folder.*in memory"):
            lookup = identity_cache(s, MODEL)
        assert _flags(lookup, s) == _flags(identity_lookup(s, MODEL), s)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # kept in this process: not saved again
            identity_cache(s, MODEL)


def test_in_memory_database_has_no_file(tmp_path, monkeypatch):
    engine = make_engine("sqlite://")
    upgrade(engine)
    paths = write_database(simulate_database(8, 3, seed=2), tmp_path / "sim")
    with Session(engine) as s, s.begin():
        import_all(s, paths, model=MODEL)
    assert identity_path(engine) is None
    with Session(engine) as s:
        assert _flags(identity_cache(s, MODEL), s) == _flags(identity_lookup(s, MODEL), s)
    assert service._IDENTITY_CACHE == {}


def test_min_common_loci_follows_the_model(tmp_path):
    engine = _small_store(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    strict = GeneticModel("CHN_national_GBT37223", min_common_loci=20)
    with Session(engine) as s:
        assert identity_cache(s, MODEL).min_common_loci == MODEL.min_common_loci
        assert identity_cache(s, strict).min_common_loci == 20
        assert identity_cache(s, MODEL).min_common_loci == MODEL.min_common_loci


def test_db_index_rebuild_rebuilds_the_identity_lookup(tmp_path, monkeypatch):
    """`reunite db index --rebuild` builds the identity file again from the database (a file
    that a hand edit made stale is replaced); without --rebuild it reports it as it is."""
    from typer.testing import CliRunner

    from reunite.cli import app

    db = simulate_database(30, 10, seed=5)
    paths = write_database(db, tmp_path / "sim")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    monkeypatch.setenv("REUNITE_DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    for kind in ("genotypes", "families", "unidentified"):
        args = ["import", kind, str(paths[kind])] + ([] if kind == "genotypes" else ["--no-search"])
        assert runner.invoke(app, args).exit_code == 0
    out = runner.invoke(app, ["db", "index"])
    assert out.exit_code == 0 and "identity lookup at" in out.output
    engine = make_engine(url)
    path = identity_path(engine)
    with Session(engine) as session:
        n = len(identity_cache(session, MODEL_FOR_CLI, save=False))
    with Session(engine) as session:  # a hand edit the token cannot see: one sample withdrawn
        sample = session.execute(select(Sample).limit(1)).scalar_one()
        sample.status = "withdrawn"
        session.commit()
    service._IDENTITY_CACHE.clear()
    out = runner.invoke(app, ["db", "index", "--rebuild"])
    assert out.exit_code == 0, out.output
    rebuilt = IdentityLookup.load(path, min_common_loci=12)
    assert len(rebuilt) == n - 1


MODEL_FOR_CLI = GeneticModel("CHN_national_GBT37223")
