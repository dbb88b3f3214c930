"""Review of the search-side checks as an analyst meets them through the CLI: identity flags
kept true on candidates stored before a later import or correction, the library's warnings
printed as plain lines, and a search of a person whose sample is withdrawn said so.

Simulated data only (never real people)."""

from __future__ import annotations

import csv
import json
import sys

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cli import app
from reunite.simulate import simulate_database, write_database
from reunite.store.db import make_engine
from reunite.store.models import Family, MatchCandidate, Unidentified


def _cli(url, *args):
    result = CliRunner().invoke(app, list(args), env={"REUNITE_DATABASE_URL": url, "COLUMNS": "200"})
    assert result.exit_code == 0, (args, result.output)
    return result.output


def _database(url, tmp_path, *, seed: int = 5):
    """A simulated database imported through the CLI (automatic searches run and stored)."""
    db = simulate_database(30, 14, seed=seed)
    paths = write_database(db, tmp_path / "sim")
    _cli(url, "db", "init")
    for kind in ("genotypes", "families", "unidentified"):
        _cli(url, "import", kind, str(paths[kind]))
    profiles: dict[str, list[list[str]]] = {}
    for row in db["genotypes"]:
        profiles.setdefault(row[0], []).append([str(x) for x in row])
    return db, paths, profiles


def _stored_flags(url) -> dict[tuple[str, str], list]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            rows = s.execute(select(Unidentified.code, Family.code, MatchCandidate.flags)
                             .join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
                             .join(Family, Family.id == MatchCandidate.family_id)).all()
    finally:
        engine.dispose()
    return {(u, f): json.loads(flags) if flags else [] for u, f, flags in rows}


def _identity(flags) -> list:
    return [f for f in flags if f.get("kind") != "superseded"]


def _write_genotypes(path, rows) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "locus", "allele1", "allele2"])
        w.writerows(rows)


def _matched_person(db, url) -> tuple[str, str, str]:
    """An unidentified person who is the missing child of a family and has a stored
    candidate: (person, its sample, the family)."""
    stored = _stored_flags(url)
    sample_of = {row[0]: row[1] for row in db["unidentified"]}
    for uid, fid, _ in db["truth"]:
        if (uid, fid) in stored:
            return uid, sample_of[uid], fid
    raise AssertionError("no true match stored")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path, monkeypatch):
    monkeypatch.setenv("REUNITE_INDEX", str(tmp_path / "family.index"))
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'r.db'}"
        return
    from conftest import pg_database

    pg, drop = pg_database()
    try:
        yield pg
    finally:
        drop()


def test_a_duplicate_registered_later_flags_the_earlier_persons_stored_candidates(url, tmp_path):
    db, _, profiles = _database(url, tmp_path)
    person, sample, family = _matched_person(db, url)
    assert _identity(_stored_flags(url)[(person, family)]) == []
    # the same child registered again, in a later import
    _write_genotypes(tmp_path / "again.csv", [["SDUP", *r[1:]] for r in profiles[sample]])
    (tmp_path / "again_u.csv").write_text("person_id,sample_id,sex,category\nUDUP,SDUP,U,rescued_child\n")
    _cli(url, "import", "genotypes", str(tmp_path / "again.csv"))
    _cli(url, "import", "unidentified", str(tmp_path / "again_u.csv"))
    stored = _stored_flags(url)
    earlier = [f for (u, _), flags in stored.items() if u == person for f in flags]
    assert earlier and all(f["kind"] == "identical" and f["relation"] == "unidentified"
                           and f["person"] == "UDUP" for f in earlier)
    # the flag the stored rows carry is the flag a search shows now
    out = _cli(url, "search", "--unidentified", person, "--no-store", "--out", str(tmp_path / "m.csv"))
    assert "identity flags" in out
    with (tmp_path / "m.csv").open() as fh:
        assert all(row["flags"] == "identical@unidentified:UDUP(SDUP)" for row in csv.DictReader(fh))


def test_corrections_keep_the_stored_flags_of_other_persons_true(url, tmp_path):
    db, paths, profiles = _database(url, tmp_path)
    person, sample, family = _matched_person(db, url)
    refs = [r for r in db["families"] if r[5] == "reference" and r[0] != family]
    other_family, reference_sample = refs[0][0], refs[0][6]
    # a reference of another family re-typed: it is now the person's profile (a mix-up)
    _write_genotypes(tmp_path / "retype.csv", [[reference_sample, *r[1:]] for r in profiles[sample]])
    out = _cli(url, "correct", "profile", reference_sample, "--file", str(tmp_path / "retype.csv"),
               "--reason", "re-typed", "--by", "analyst")
    assert "identity flags changed on" in out
    stored = _stored_flags(url)
    mine = {f: flags for (u, f), flags in stored.items() if u == person}
    assert mine
    for fam, flags in mine.items():  # every stored candidate of the person, not only the re-searched family's
        relation = "this_family_reference" if fam == other_family else "other_family_reference"
        assert any(
            f["kind"] == "identical" and f["relation"] == relation and f["sample"] == reference_sample
            and f["family"] == other_family for f in flags), (fam, flags)
    # withdrawn: the flag goes from every stored candidate of the person
    _cli(url, "correct", "withdraw", reference_sample, "--reason", "mixed up with another sample")
    stored = _stored_flags(url)
    assert all(_identity(flags) == [] for (u, _), flags in stored.items() if u == person)


def test_a_withdrawn_duplicate_no_longer_flags_the_other_persons_candidates(tmp_path, monkeypatch):
    monkeypatch.setenv("REUNITE_INDEX", str(tmp_path / "family.index"))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    db, _, profiles = _database(url, tmp_path, seed=8)
    person, sample, _ = _matched_person(db, url)
    _write_genotypes(tmp_path / "again.csv", [["SDUP", *r[1:]] for r in profiles[sample]])
    (tmp_path / "again_u.csv").write_text("person_id,sample_id,sex,category\nUDUP,SDUP,U,rescued_child\n")
    _cli(url, "import", "genotypes", str(tmp_path / "again.csv"))
    _cli(url, "import", "unidentified", str(tmp_path / "again_u.csv"))
    assert all(_identity(flags) for (u, _), flags in _stored_flags(url).items() if u == "UDUP")
    _cli(url, "correct", "withdraw", sample, "--reason", "contaminated extraction")
    stored = _stored_flags(url)
    assert [k for k in stored if k[0] == "UDUP"]
    assert all(_identity(flags) == [] for (u, _), flags in stored.items() if u == "UDUP")
    # the withdrawn person's own search says why nothing is compared
    result = CliRunner().invoke(app, ["search", "--unidentified", person, "--no-store"],
                                env={"REUNITE_DATABASE_URL": url, "COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"the sample {sample} of {person} is withdrawn" in result.output


def test_library_warnings_are_plain_lines(tmp_path, monkeypatch, capsys):
    """An index folder that cannot be written: the search goes on, and the identity lookup's
    warning is a 'warning:' line, not a Python warning with its source file and line."""
    from reunite import cli

    url = f"sqlite:///{tmp_path / 'r.db'}"
    monkeypatch.setenv("REUNITE_INDEX", str(tmp_path / "family.index"))
    db, _, _ = _database(url, tmp_path, seed=9)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("REUNITE_INDEX", str(blocker / "family.index"))  # its folder is a file
    monkeypatch.setenv("REUNITE_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["reunite", "search", "--unidentified", db["unidentified"][0][0], "--no-store"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code in (0, None)
    err = capsys.readouterr().err
    assert "warning: the identity lookup could not be saved" in err
    assert "UserWarning" not in err and "service.py" not in err


def test_many_coverages_scan_and_hash_tables_find_the_same_pairs(monkeypatch):
    """Profiles typed at many different sets of loci (dropouts): ``pairs`` and ``matches``
    choose the compiled scan (far cheaper there) and find what the hash tables find."""
    import numpy as np

    from reunite.search import identity
    from reunite.search.identity import Holder, IdentityLookup

    rng = np.random.default_rng(4)
    loci = [f"L{k:02d}" for k in range(20)]
    base = []
    for _ in range(300):
        profile = {locus: tuple(sorted(map(str, rng.integers(8, 12, size=2)))) for locus in loci}
        for locus in rng.choice(loci, size=int(rng.integers(0, 6)), replace=False):
            del profile[locus]  # a different set of typed loci for most profiles
        base.append(profile)
    profiles = base + [dict(base[k]) for k in range(0, 60, 3)]  # duplicates ...
    for p in profiles[-10:]:
        locus = sorted(p)[0]
        p[locus] = ("30", "31")  # ... ten of them one locus apart
    lookup = IdentityLookup(min_common_loci=12)
    for k, p in enumerate(profiles):
        lookup.add(Holder(f"S{k}", "unidentified", f"U{k}", unidentified_id=k + 1), p)
    chosen_pairs, chosen = lookup.pairs(), lookup.matches(profiles[:40])
    monkeypatch.setattr(identity, "SCAN_MAX_QUERIES", 0)  # the hash tables only
    assert lookup.pairs() == chosen_pairs
    assert lookup.matches(profiles[:40]) == chosen
    kinds = {m.kind for _, _, m in chosen_pairs}
    assert {"identical", "one_locus_apart"} <= kinds
