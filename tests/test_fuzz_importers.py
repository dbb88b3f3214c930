"""Byte-level fuzzing of every importer, through the paths that write: a valid file with bits
flipped, bytes set to delimiters, quotes, NUL or half a UTF-8 sequence, ranges deleted or
repeated, or cut short, either imports exactly or raises a :class:`reunite.errors.ReuniteError`
that names the file, never another exception; and a refused import leaves no partial data.

- genotype files (long, wide, a GeneMapper run export), families and unidentified persons:
  through :func:`reunite.cases.intake.import_file`, which commits, on a copy of a database
  per example; every table is counted before and after: a refusal changes no row (not even
  the audit log), an import adds exactly one batch whose rows are all the new rows;
- frequency tables (long and wide CSV, Familias ``.fam``): read and saved in the table
  registry (``reunite populations import``): a refusal leaves no table file;
- Familias ``.fam`` files: read, and their LRs computed (``reunite lr FILE.fam``);
- kinship case files (JSON) and DVI problems (JSON): read, and the cases' LRs computed.

:mod:`test_fuzz_intake` mutates fields, rows and text; this file mutates bytes and checks
what was written.  Deterministic (``derandomize``) and small by default; the same properties
with many more examples are marked ``stress`` (``make stress``), and ``REUNITE_FUZZ_SCALE``
multiplies both.  Every person is simulated.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from pg_backend import copy_database
from sqlalchemy import inspect, text

from reunite.errors import ReuniteError

DATA = Path(__file__).parent / "data"
SCALE = float(os.environ.get("REUNITE_FUZZ_SCALE", "1"))
BASE = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                   HealthCheck.data_too_large, HealthCheck.large_base_example])
QUICK = settings(max_examples=int(25 * SCALE), **BASE)
HEAVY = settings(max_examples=int(400 * SCALE), **BASE)
#: errors that are not about the file (a permission, a missing record): never the answer to a bad file
NOT_ABOUT_THE_FILE = ("PermissionDenied", "AuthenticationError", "NotFound")


# ---------------------------------------------------------------------------------------
# byte mutations

INTERESTING = [b"\x00", b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xe4\xb8", b"\xef\xbb\xbf", b",", b";", b"\t",
               b"\n", b"\r", b"\r\n", b'"', b"'", b"/", b".", b" ", b"-", b"0", b"9", b"99999999999999999999",
               b"1e309", b"nan", b"X", b"{", b"}", b"[", b"]", b":", b"\\", b"\xe5\xae\xb6"]

byte_op = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**7), st.integers(0, 7)),
    st.tuples(st.just("set"), st.integers(0, 10**7), st.sampled_from(INTERESTING)),
    st.tuples(st.just("insert"), st.integers(0, 10**7), st.sampled_from(INTERESTING)),
    st.tuples(st.just("delete"), st.integers(0, 10**7), st.integers(1, 64)),
    st.tuples(st.just("repeat"), st.integers(0, 10**7), st.integers(1, 200)),
    st.tuples(st.just("truncate"), st.integers(0, 10**7), st.just(0)),
    # line-level and whole-file changes, which often leave the file valid
    st.tuples(st.sampled_from(["drop_line", "dup_line", "swap_lines"]), st.integers(0, 10**7), st.integers(0, 10**7)),
    st.tuples(st.sampled_from(["crlf", "bom", "space_after_delimiter", "gb18030", "utf-16", "no_final_newline"]),
              st.just(0), st.just(0)),
)


def _spread(n: int) -> int:
    """Hypothesis favours small integers: spread them over the file (0 stays the start)."""
    return (n * 2654435761) % 2**32


def mutate(data: bytes, ops) -> bytes:
    """``data`` with the byte operations ``ops`` applied in turn (positions spread, modulo its length)."""
    buf = bytearray(data)
    for name, pos, arg in ops:
        at = _spread(pos) % (len(buf) + 1)
        if name == "flip" and at < len(buf):
            buf[at] ^= 1 << arg
        elif name == "set":
            buf[at:at + len(arg)] = arg
        elif name == "insert":
            buf[at:at] = arg
        elif name == "delete":
            del buf[at:at + arg]
        elif name == "repeat":
            buf[at:at] = buf[at:at + arg]
        elif name == "truncate":
            del buf[at:]
        elif name in ("drop_line", "dup_line", "swap_lines"):
            lines = bytes(buf).split(b"\n")
            i, j = _spread(pos) % len(lines), _spread(arg) % len(lines)
            if name == "drop_line":
                del lines[i]
            elif name == "dup_line":
                lines.insert(i, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            buf = bytearray(b"\n".join(lines))
        elif name == "crlf":
            buf = bytearray(bytes(buf).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        elif name == "bom":
            buf[0:0] = b"\xef\xbb\xbf"
        elif name == "space_after_delimiter":
            buf = bytearray(bytes(buf).replace(b",", b", ").replace(b"\t", b"\t "))
        elif name in ("gb18030", "utf-16"):
            buf = bytearray(bytes(buf).decode("utf-8", errors="replace").encode(name))
        elif name == "no_final_newline":
            buf = bytearray(bytes(buf).rstrip(b"\r\n"))
    return bytes(buf)


def event(what: str) -> None:
    """A statistic of the running example (none outside one)."""
    try:
        _event(what)
    except Exception:  # noqa: BLE001 - a check run outside Hypothesis
        pass


mutations = st.lists(byte_op, min_size=1, max_size=4)


def refused(exc: BaseException, path: Path | str, reader: str) -> None:
    """A refusal must be a ReuniteError about the file, naming it."""
    assert isinstance(exc, ReuniteError), f"{reader}: {type(exc).__name__} is not a clear error: {exc!r}"
    assert type(exc).__name__ not in NOT_ABOUT_THE_FILE, f"{reader}: {exc!r}"
    named = str(path) in str(exc) or Path(path).name in str(exc)  # some readers name the file without its folder
    assert named, f"{reader}: {type(exc).__name__} does not name the file: {str(exc)[:500]}"
    event(f"{reader}: {type(exc).__name__}")


# ---------------------------------------------------------------------------------------
# the database importers, through the intake service (commits)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A database holding simulated genotypes (their families and unidentified persons not
    yet imported) and the valid files to mutate."""
    from workflow_world import MODEL

    from reunite.cases import intake
    from reunite.simulate import simulate_database, write_database
    from reunite.store.db import make_engine, upgrade, write_transaction
    from reunite.store.models import Setting

    root = tmp_path_factory.mktemp("fuzzimport")
    sim = write_database(simulate_database(3, 3, seed=11), root / "sim")
    db = root / "base.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    write_transaction(engine, lambda s: s.add(Setting(key="genetic_model", value=json.dumps(MODEL.to_json()))))
    intake.import_file(engine, MODEL, "genotypes", sim["genotypes"], actor=intake.local_actor("fuzz"))
    engine.dispose()
    seeds = {"families": ("families", sim["families"].read_bytes()),
             "unidentified": ("unidentified", sim["unidentified"].read_bytes()),
             "long": ("genotypes", (DATA / "store" / "genotypes_long.csv").read_bytes()),
             "wide": ("genotypes", (DATA / "store" / "genotypes_wide.csv").read_bytes()),
             "run export": ("genotypes", (DATA / "store" / "genotypes_genemapper.txt").read_bytes())}
    return {"root": root, "db": db, "model": MODEL, "seeds": seeds, "n": itertools.count(), "sim": sim}


@contextlib.contextmanager
def reading(db: Path):
    """A connection to the database of the file ``db`` (under make test-pg, the PostgreSQL
    database standing for it)."""
    from reunite.store.db import make_engine

    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as c:
            yield c
    finally:
        engine.dispose()


def counts(db: Path) -> dict[str, int]:
    with reading(db) as c:
        tables = sorted(inspect(c).get_table_names())
        return {t: c.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}  # noqa: S608


BATCH_TABLES = {"genotypes": "samples", "families": "families", "unidentified": "unidentified"}


def check_import(store, seed: str, data: bytes, *, search: bool = False) -> None:
    """Import ``data`` (a mutation of the file ``seed``) into a copy of the database (with the
    automatic search: no search left pending, none failed)."""
    from reunite.cases import intake
    from reunite.store.db import make_engine

    kind, _ = store["seeds"][seed]
    k = next(store["n"])
    db = store["root"] / f"ex{k}.db"
    copy_database(store["db"], db)
    path = store["root"] / f"upload{k}" / {"run export": "run.txt"}.get(seed, f"{seed}.csv")
    path.parent.mkdir()
    path.write_bytes(data)
    before = counts(db)
    engine = make_engine(f"sqlite:///{db}")
    try:
        out = intake.import_file(engine, store["model"], kind, path, actor=intake.local_actor("fuzz"), search=search)
    except Exception as exc:  # noqa: BLE001 - the property: only a clear error, and nothing written
        refused(exc, path, f"import {seed}")
        engine.dispose()
        after = counts(db)
        changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
        assert not changed, f"import {seed} refused ({str(exc)[:200]}) but rows were written: {changed}"
        return
    finally:
        engine.dispose()
    event(f"import {seed}: imported")
    after = counts(db)
    batch = out.report.batch_id
    assert after["import_batches"] == before["import_batches"] + 1
    searched = search and kind != "genotypes"  # the search is audited too
    assert after["audit_log"] - before["audit_log"] == (2 if searched else 1), (before["audit_log"], after["audit_log"])
    table = BATCH_TABLES[kind]
    with reading(db) as c:
        if c.dialect.name == "sqlite":  # PostgreSQL checks its constraints as rows are written
            assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert c.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        in_batch = c.execute(text(f"SELECT count(*) FROM {table} WHERE batch_id = :b"), {"b": batch}).scalar()  # noqa: S608
        assert after[table] - before[table] == in_batch, f"{table}: rows written outside the import's batch"
        assert in_batch == out.report.num_records, (in_batch, out.report.num_records)
        if kind == "families":
            empty = c.execute(text("SELECT count(*) FROM families f WHERE batch_id = :b AND NOT EXISTS "
                                   "(SELECT 1 FROM family_members m WHERE m.family_id = f.id)"), {"b": batch}).scalar()
            assert empty == 0, "a family imported without its members"
    if search and kind != "genotypes":
        assert out.search_error is None, out.search_error
        assert after["pending_searches"] == 0, "a search left pending"
    untouched = set(before) - {table, "import_batches", "audit_log", "family_members", "samples",
                               "person_details", "identity_flags", "match_candidates", "notifications"}
    changed = {t: (before[t], after[t]) for t in untouched if before[t] != after[t]}
    assert not changed, f"import {seed}: unexpected rows written {changed}"


DB_SEEDS = ["families", "unidentified", "long", "wide", "run export"]


@QUICK
@given(seed=st.sampled_from(DB_SEEDS), ops=mutations, search=st.booleans())
def test_mutated_files_import_exactly_or_write_nothing(store, seed, ops, search):
    check_import(store, seed, mutate(store["seeds"][seed][1], ops), search=search)


@pytest.mark.stress
@HEAVY
@given(seed=st.sampled_from(DB_SEEDS), ops=st.lists(byte_op, min_size=1, max_size=8), search=st.booleans())
def test_mutated_files_import_exactly_or_write_nothing_many(store, seed, ops, search):
    check_import(store, seed, mutate(store["seeds"][seed][1], ops), search=search)


def test_a_valid_file_of_each_kind_imports(store):
    """The seeds themselves import (else the fuzzing above would only test refusals)."""
    for seed in DB_SEEDS:
        check_import(store, seed, store["seeds"][seed][1], search=True)


# ---------------------------------------------------------------------------------------
# frequency tables (the registry under the test's own REUNITE_DATA_DIR)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """A long and a wide CSV of three loci of the shipped table, and two Familias files."""
    import csv
    import io

    root = tmp_path_factory.mktemp("fuzztables")
    rows = list(csv.reader(io.StringIO((Path(__file__).parent.parent / "src" / "reunite" / "data"
                                        / "allele_frequencies.csv").read_text(encoding="utf-8"))))
    keep = [r for r in rows[1:] if r[0] == "CHN_national_GBT37223" and r[1] in ("TH01", "vWA", "D3S1358")]
    long = "locus,allele,frequency\n" + "".join(f"{r[1]},{r[2]},{r[3]}\n" for r in keep)
    alleles = sorted({r[2] for r in keep}, key=float)
    freq = {(r[1], r[2]): r[3] for r in keep}
    wide = "allele,TH01,vWA,D3S1358\n" + "".join(
        f"{a}," + ",".join(freq.get((m, a), "") for m in ("TH01", "vWA", "D3S1358")) + "\n" for a in alleles)
    seeds = {"long": long.encode(), "wide": wide.encode(),
             "paternity.fam": (DATA / "familias" / "fam" / "paternity.fam").read_bytes(),
             "halfsib_case.fam": (DATA / "familias" / "fam" / "halfsib_case.fam").read_bytes()}
    return {"root": root, "seeds": seeds, "n": itertools.count()}


def check_table(tables, seed: str, data: bytes) -> None:
    from reunite.genetics import table_import, table_registry

    k = next(tables["n"])
    path = tables["root"] / f"t{k}{'.fam' if seed.endswith('.fam') else '.csv'}"
    path.write_bytes(data)
    name = f"fuzz{k}"
    try:
        read = (table_import.read_table_fam(path) if seed.endswith(".fam") else table_import.read_table_csv(path))
        table_registry.save_table(name, read, source="fuzz", source_file=str(path))
    except Exception as exc:  # noqa: BLE001 - the property
        if isinstance(exc, ReuniteError) and str(exc).startswith("--name"):
            raise
        refused(exc, path, f"table {seed}")
        assert not (table_registry.tables_dir() / f"{name}.json").exists(), "a refused table was stored"
        return
    event(f"table {seed}: imported")
    table_registry.clear_caches()
    population = table_registry.get(name)  # what was stored reads back, valid
    assert population is not None


def _table_seeds():
    return ["long", "wide", "paternity.fam", "halfsib_case.fam"]


@QUICK
@given(seed=st.sampled_from(_table_seeds()), ops=mutations)
def test_mutated_frequency_tables_import_or_store_nothing(tables, seed, ops):
    check_table(tables, seed, mutate(tables["seeds"][seed], ops))


@pytest.mark.stress
@HEAVY
@given(seed=st.sampled_from(_table_seeds()), ops=st.lists(byte_op, min_size=1, max_size=8))
def test_mutated_frequency_tables_import_or_store_nothing_many(tables, seed, ops):
    check_table(tables, seed, mutate(tables["seeds"][seed], ops))


# ---------------------------------------------------------------------------------------
# Familias files, kinship case files, DVI problems: read and computed


FAM_SEEDS = ["paternity.fam", "halfsib_case.fam", "dvi-example.fam"]
CASE_SEEDS = {"cases.json": DATA / "cases.json", "dvi example1.json": DATA / "familias" / "dvi" / "example1.json"}


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzzdocs")
    seeds = {name: (DATA / "familias" / "fam" / name).read_bytes() for name in FAM_SEEDS}
    cases = json.loads(CASE_SEEDS["cases.json"].read_text(encoding="utf-8"))
    few = {"cases": cases["cases"][:2]} if isinstance(cases, dict) else cases[:2]
    seeds["cases.json"] = json.dumps(few, indent=1).encode()
    seeds["dvi example1.json"] = CASE_SEEDS["dvi example1.json"].read_bytes()
    return {"root": root, "seeds": seeds, "n": itertools.count()}


def check_document(documents, seed: str, data: bytes) -> None:
    from reunite.genetics.caseio import load_case_document, read_cases
    from reunite.genetics.dvi_io import read_dvi_json
    from reunite.genetics.familias import read_fam
    from reunite.genetics.kinship import kinship_lr_many
    from reunite.genetics.lr_report import fam_lrs

    k = next(documents["n"])
    path = documents["root"] / f"d{k}{Path(seed).suffix}"
    path.write_bytes(data)
    try:
        if seed.endswith(".fam"):
            fam = read_fam(path)
            if not fam.is_dvi and not fam.database_only and fam.hypotheses:  # as 'reunite lr FILE.fam'
                fam_lrs(fam)
        elif seed.startswith("dvi"):
            read_dvi_json(path)
        else:
            cases = read_cases(load_case_document(path), source=str(path))
            good = [e.case for e in cases.entries if e.error is None]
            for entry in cases.entries:
                assert entry.error is None or isinstance(entry.error, ReuniteError), repr(entry.error)
            results = kinship_lr_many([(c.id, c.h1, c.h2, c.markers, c.theta) for c in good], keep_going=True)
            for result in results:
                assert not isinstance(result, Exception) or isinstance(result, ReuniteError), repr(result)
    except Exception as exc:  # noqa: BLE001 - the property
        refused(exc, path, seed)
        return
    event(f"{seed}: read")


@QUICK
@given(seed=st.sampled_from(FAM_SEEDS + list(CASE_SEEDS)), ops=mutations)
def test_mutated_fam_case_and_dvi_files_read_or_say_why(documents, seed, ops):
    check_document(documents, seed, mutate(documents["seeds"][seed], ops))


@pytest.mark.stress
@HEAVY
@given(seed=st.sampled_from(FAM_SEEDS + list(CASE_SEEDS)), ops=st.lists(byte_op, min_size=1, max_size=8))
def test_mutated_fam_case_and_dvi_files_read_or_say_why_many(documents, seed, ops):
    check_document(documents, seed, mutate(documents["seeds"][seed], ops))


# ---------------------------------------------------------------------------------------
# what the fuzzing found, kept as plain regression tests


def test_a_fam_allele_no_lr_can_use_is_refused_naming_the_file(tmp_path):
    """A Familias database allele '9/3' (a typo of 9.3) is read, but its LRs raised a
    MarkerError that named the hypothesis and marker, not the file."""
    from reunite.genetics.familias import read_fam
    from reunite.genetics.lr_report import fam_lrs

    data = (DATA / "familias" / "fam" / "paternity.fam").read_bytes()
    path = tmp_path / "typo.fam"
    path.write_bytes(data.replace(b'"9.3"', b'"9/3"', 1))
    with pytest.raises(ReuniteError, match="allele '9/3'") as err:
        fam_lrs(read_fam(path))
    assert str(path) in str(err.value)



def test_a_dvi_file_naming_a_victim_twice_is_refused_naming_the_file(tmp_path):
    """A DVI JSON file listing victim 'V3' twice is read, but the joint identification then
    said "DVI problem 'example1': victim 'V3' is listed twice", without the file."""
    from reunite.cases.joint_identification import identify_file

    doc = json.loads((DATA / "familias" / "dvi" / "example1.json").read_text(encoding="utf-8"))
    doc["victims"].append(dict(doc["victims"][0]))
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ReuniteError, match="listed twice") as err:
        identify_file(path)
    assert str(path) in str(err.value)

# ---------------------------------------------------------------------------------------
# the same files uploaded to the API (POST /api/v1/imports/{kind})


@pytest.fixture(scope="module")
def api_world(store, tmp_path_factory):
    """The workflow world (users, tokens) holding the fuzzing database's genotypes."""
    from workflow_world import make_world

    from reunite.cases import intake

    db = tmp_path_factory.mktemp("fuzzapi") / "api.db"
    world = make_world(f"sqlite:///{db}")
    intake.import_file(world.engine, world.model, "genotypes", store["sim"]["genotypes"],
                       actor=intake.local_actor("fuzz"))
    client = world.client("analyst")
    yield world, client, db
    world.engine.dispose()


def check_upload(store, api_world, seed: str, data: bytes, *, encoding: str | None) -> None:
    world, client, db = api_world
    kind = store["seeds"][seed][0]
    name = {"run export": "run.txt"}.get(seed, f"{seed}.csv")
    before = counts(db)
    form = {"search": "false"} | ({"encoding": encoding} if encoding else {})
    r = client.post(f"/api/v1/imports/{kind}", files={"file": (name, data, "text/csv")}, data=form)
    assert r.status_code in (201, 422), f"upload {seed}: {r.status_code} {r.text[:1000]}"
    body = r.json()
    assert "reunite-upload-" not in r.text, f"the server's temporary folder shows: {r.text[:500]}"
    if r.status_code == 422:
        event(f"upload {seed}: 422")
        assert body["error"] == "rejected" and body["problems"], body
        assert all(p["file"] == name for p in body["problems"]), body["problems"]
        after = counts(db)
        changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
        assert not changed, f"upload {seed} refused but rows were written: {changed}"
        return
    event(f"upload {seed}: 201")
    after = counts(db)
    assert after["import_batches"] == before["import_batches"] + 1
    with reading(db) as c:
        table = BATCH_TABLES[kind]
        assert c.execute(text(f"SELECT count(*) FROM {table} WHERE batch_id = :b"),  # noqa: S608
                         {"b": body["batch_id"]}).scalar() == after[table] - before[table] == body["records"]


ENCODING_GIVEN = st.sampled_from([None] * 6 + ["utf-8", "gbk", "utf-16", "latin-1", "klingon", "rot13"])


@QUICK
@given(seed=st.sampled_from(DB_SEEDS), ops=mutations, encoding=ENCODING_GIVEN)
def test_mutated_uploads_get_201_or_422_and_write_nothing_when_refused(store, api_world, seed, ops, encoding):
    check_upload(store, api_world, seed, mutate(store["seeds"][seed][1], ops), encoding=encoding)


@pytest.mark.stress
@HEAVY
@given(seed=st.sampled_from(DB_SEEDS), ops=st.lists(byte_op, min_size=1, max_size=8), encoding=ENCODING_GIVEN)
def test_mutated_uploads_get_201_or_422_and_write_nothing_when_refused_many(store, api_world, seed, ops, encoding):
    check_upload(store, api_world, seed, mutate(store["seeds"][seed][1], ops), encoding=encoding)


# ---------------------------------------------------------------------------------------
# the same documents through the commands that read them: never a traceback


def check_command(documents, tables, seed: str, data: bytes) -> None:
    """``reunite lr FILE.fam``, ``reunite identify FILE`` (DVI) and ``reunite populations
    import``: an exit code and a message, never an exception other than a ReuniteError."""
    from typer.testing import CliRunner

    from reunite.cli import app

    k = next(documents["n"])
    suffix = Path(seed).suffix or ".csv"
    path = documents["root"] / f"c{k}{suffix}"
    path.write_bytes(data)
    if seed in ("long", "wide"):
        args = ["populations", "import", str(path), "--name", f"cli{k}"]
    elif seed.startswith("table "):  # a .fam's database, named by the file (a name taken: --name in the message)
        args = ["populations", "import", str(path)]
    elif seed.startswith("dvi"):
        args = ["identify", str(path), "--json"]
    else:
        args = ["lr", str(path), "--json"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    exc = result.exception
    event(f"{args[0]} {seed}: exit {result.exit_code}")
    if exc is not None and not isinstance(exc, SystemExit):
        if isinstance(exc, ReuniteError) and str(exc).startswith("--name") and "imported under that name" in str(exc):
            return  # the database name of an earlier example's file: the option is named
        refused(exc, path, f"{args[0]} {seed}")


CLI_SEEDS = ["paternity.fam", "halfsib_case.fam", "dvi-example.fam", "dvi example1.json", "long", "wide",
             "table paternity.fam"]


def _cli_seed(documents, tables, seed: str) -> bytes:
    if seed in ("long", "wide"):
        return tables["seeds"][seed]
    return documents["seeds"][seed.removeprefix("table ")]


@settings(QUICK, max_examples=int(12 * SCALE))
@given(seed=st.sampled_from(CLI_SEEDS), ops=mutations)
def test_commands_on_mutated_files_never_traceback(documents, tables, seed, ops):
    check_command(documents, tables, seed, mutate(_cli_seed(documents, tables, seed), ops))


@pytest.mark.stress
@settings(HEAVY, max_examples=int(150 * SCALE))
@given(seed=st.sampled_from(CLI_SEEDS), ops=st.lists(byte_op, min_size=1, max_size=8))
def test_commands_on_mutated_files_never_traceback_many(documents, tables, seed, ops):
    check_command(documents, tables, seed, mutate(_cli_seed(documents, tables, seed), ops))
