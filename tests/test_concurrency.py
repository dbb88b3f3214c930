"""Two imports at once, in two processes, on SQLite and PostgreSQL: exactly one succeeds, the
other fails with a clear message (exit 1, the sample and who has it), and a sample never
belongs to two people.

The race is forced, not hoped for: each process runs ``reunite`` with two hooks (``RACER``).
It writes ``begun-<me>`` when its import starts, and before its first write (the import
batch) it writes ``checked-<me>`` and waits for the other process:
- on PostgreSQL until the other is ``checked`` too: both have read the database and passed
  every check in Python, and both then write; the database decides;
- on SQLite until the other has ``begun``: writers begin with BEGIN IMMEDIATE, so the other
  is then waiting for this one's write lock, and reads the database once this one commits.

Every profile and person is simulated; none is a real person.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cli import app
from reunite.simulate import simulate_database, write_database
from reunite.store.db import make_engine
from reunite.store.models import FamilyMember, Sample, Unidentified

RACER = r'''
import os, sys, time
from pathlib import Path

from sqlalchemy import event

from reunite import cli
from reunite.store import importers
from reunite.store.models import ImportBatch

sync, me, other = Path(os.environ["RACE_DIR"]), os.environ["RACE_ME"], os.environ["RACE_OTHER"]
wait_for = os.environ["RACE_WAIT_FOR"]


def arrive(stage):
    (sync / f"{stage}-{me}").touch()


def await_other(stage):
    deadline = time.monotonic() + 120
    while not (sync / f"{stage}-{other}").exists():  # polling a condition, not a timing guess
        if time.monotonic() > deadline:
            sys.exit(f"race: process {other} never reached {stage!r}")
        time.sleep(0.005)


def entering(fn):
    def wrapper(*args, **kwargs):
        arrive("begun")
        return fn(*args, **kwargs)
    return wrapper


for name in ("import_genotypes", "import_families", "import_unidentified"):
    setattr(importers, name, entering(getattr(importers, name)))


@event.listens_for(ImportBatch, "before_insert")
def _checked(mapper, connection, target):
    arrive("checked")
    await_other(wait_for)


sys.argv = ["reunite", *sys.argv[1:]]
cli.main()
'''


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("race")
    db = simulate_database(6, 4, seed=7070)
    paths = write_database(db, out)
    with paths["families"].open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, people = rows[0], rows[1:]
    families = sorted({r[0] for r in people})
    keep = [r for r in people if r[0] in families[:3]]
    files = {"genotypes": paths["genotypes"], "unidentified_sim": paths["unidentified"]}

    def write(name, header, rows):
        path = out / name
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([header, *rows])
        files[name.split(".")[0]] = path

    write("families_a.csv", header, keep)

    def renamed(value):  # other families, other people, the same samples
        return f"X{value}" if value else value

    write("families_b.csv", header, [[renamed(r[0]), renamed(r[1]), renamed(r[2]), renamed(r[3]), *r[4:]]
                                     for r in keep])
    references = [r[6] for r in keep if r[6]]
    write("unidentified_shared.csv", ["person_id", "sample_id"],
          [[f"UX{k}", sample] for k, sample in enumerate(references[:2])])
    # new profiles, to import twice at once
    with paths["genotypes"].open(newline="") as fh:
        grows = list(csv.reader(fh))
    first = grows[1][0]
    write("genotypes_new.csv", grows[0], [[f"NEW-{r[0]}", *r[1:]] for r in grows[1:] if r[0] == first])
    return files, references


def _cli(url, *args):
    result = CliRunner().invoke(app, list(args), env={"REUNITE_DATABASE_URL": url})
    assert result.exit_code == 0, (result.output, result.exception)


def _prepared(db_url, simulated):
    files, _ = simulated
    _cli(db_url, "db", "init")
    _cli(db_url, "import", "genotypes", str(files["genotypes"]))
    return files


def race(url: str, tmp_path: Path, first: list[str], second: list[str]) -> list[tuple[int, str]]:
    """Run two ``reunite`` commands at once, synchronised as the module says; returns
    ``[(exit status, stdout + stderr)]`` of each."""
    sync = tmp_path / "sync"
    sync.mkdir()
    wait_for = "begun" if url.startswith("sqlite") else "checked"
    procs = []
    for me, other, args in (("a", "b", first), ("b", "a", second)):
        env = dict(os.environ, REUNITE_DATABASE_URL=url, RACE_DIR=str(sync), RACE_ME=me, RACE_OTHER=other,
                   RACE_WAIT_FOR=wait_for, REUNITE_SQLITE_BUSY_TIMEOUT="120", COLUMNS="250")
        procs.append(subprocess.Popen([sys.executable, "-c", RACER, *args], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    out = []
    try:
        for proc in procs:
            output, _ = proc.communicate(timeout=300)
            out.append((proc.returncode, output))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert (sync / "checked-a").exists() or (sync / "checked-b").exists(), out
    return out


def one_wins(outcomes) -> str:
    """Exactly one succeeded; the other failed cleanly. Returns the loser's output."""
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 1], outcomes
    loser = next(output for code, output in outcomes if code == 1)
    for bad in ("Traceback", "IntegrityError", "UniqueViolation", "sqlite3.", "psycopg."):
        assert bad not in loser, loser
    assert "error:" in loser
    return " ".join(loser.split())  # the console wraps long lines


def owners(url) -> dict[str, int]:
    """Sample code -> how many people hold it (family members and unidentified persons)."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            out: dict[str, int] = {}
            for model in (FamilyMember, Unidentified):
                for code, n in session.execute(select(Sample.code, func.count()).join(
                        model, model.sample_id == Sample.id).group_by(Sample.code)):
                    out[code] = out.get(code, 0) + n
            return out
    finally:
        engine.dispose()


def test_two_family_files_sharing_samples(db_url, simulated, tmp_path):
    files = _prepared(db_url, simulated)
    _, references = simulated
    outcomes = race(db_url, tmp_path, ["import", "families", str(files["families_a"]), "--no-search"],
                    ["import", "families", str(files["families_b"]), "--no-search"])
    loser = one_wins(outcomes)
    assert "already belongs to" in loser and "of family" in loser, loser
    assert any(f"sample '{s}'" in loser for s in references), loser
    held = owners(db_url)
    assert set(held) == set(references) and set(held.values()) == {1}


def test_a_family_file_and_an_unidentified_file_sharing_samples(db_url, simulated, tmp_path):
    files = _prepared(db_url, simulated)
    _, references = simulated
    outcomes = race(db_url, tmp_path, ["import", "families", str(files["families_a"]), "--no-search"],
                    ["import", "unidentified", str(files["unidentified_shared"]), "--no-search"])
    loser = one_wins(outcomes)
    assert "already belongs to" in loser and any(f"sample '{s}'" in loser for s in references[:2]), loser
    held = owners(db_url)
    assert set(held.values()) == {1}
    if outcomes[0][0] == 0:  # the families won: every reference is theirs, no unidentified person
        assert set(held) == set(references)
    else:
        assert set(held) == set(references[:2])


@pytest.mark.parametrize("kind", ["families", "unidentified", "genotypes"])
def test_the_same_file_twice_at_once(db_url, simulated, tmp_path, kind):
    files = _prepared(db_url, simulated)
    _, references = simulated
    path = {"families": files["families_a"], "unidentified": files["unidentified_shared"],
            "genotypes": files["genotypes_new"]}[kind]
    args = ["import", kind, str(path)] + (["--no-search"] if kind != "genotypes" else [])
    loser = one_wins(race(db_url, tmp_path, args, args))
    assert "already in the database" in loser or "already belongs to" in loser, loser
    if kind == "genotypes":
        assert "sample 'NEW-" in loser
    held = owners(db_url)
    assert set(held.values()) <= {1}
    assert set(held) == (set(references) if kind == "families" else
                         set(references[:2]) if kind == "unidentified" else set())


# ---------------------------------------------------------------------------------------
# the constraints alone: rows written by hand, every check in Python bypassed


def test_constraints_refuse_a_second_owner_written_by_hand(db_url):
    from reunite.store.db import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO samples (id, code, profile, num_loci, status, version) "
                              "VALUES (1, 'S1', '', 0, 'active', 1), (2, 'S2', '', 0, 'active', 1)"))
            conn.execute(text("INSERT INTO families (id, code) VALUES (1, 'F1')"))

        def refused(sql: str):
            with pytest.raises(IntegrityError):
                with engine.begin() as conn:
                    conn.execute(text(sql))

        member = ("INSERT INTO family_members (family_id, person_code, sex, role, sample_id, sample_owner_kind) "
                  "VALUES (1, '{p}', 'M', 'reference', {s}, 'family_member')")
        unidentified = ("INSERT INTO unidentified (code, sample_id, sample_owner_kind, sex) "
                        "VALUES ('{p}', {s}, 'unidentified', 'U')")
        refused(member.format(p="A", s=1))  # the sample is not assigned to family members
        refused(unidentified.format(p="U1", s=1))  # nor to unidentified persons
        with engine.begin() as conn:
            conn.execute(text("UPDATE samples SET owner_kind = 'family_member' WHERE id = 1"))
            conn.execute(text(member.format(p="A", s=1)))
        refused(member.format(p="B", s=1))  # a second family member
        refused(unidentified.format(p="U1", s=1))  # an unidentified person
        refused("UPDATE samples SET owner_kind = 'unidentified' WHERE id = 1")  # handed over
        refused("UPDATE samples SET owner_kind = NULL WHERE id = 1")  # released while held
        refused("UPDATE family_members SET sample_owner_kind = 'unidentified' WHERE person_code = 'A'")
        with engine.begin() as conn:
            conn.execute(text("UPDATE samples SET owner_kind = 'unidentified' WHERE id = 2"))
            conn.execute(text(unidentified.format(p="U1", s=2)))
        refused(unidentified.format(p="U2", s=2))  # a second unidentified person
        refused(member.format(p="C", s=2))
        refused("UPDATE unidentified SET sample_id = 1 WHERE code = 'U1'")  # moved to a family's sample
        assert owners(db_url) == {"S1": 1, "S2": 1}
    finally:
        engine.dispose()
