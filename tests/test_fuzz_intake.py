"""Never a traceback: every reader of laboratory and police files, fed random bytes, random
encodings and random mutations of valid files, either imports (and what it stores is
canonical: alleles are repeat numbers as reunite writes them, ids pass ``check_text``) or
raises a :class:`reunite.errors.ReuniteError` that names the file.

Readers: genotype files (long, wide, GeneMapper / ID-X run exports, OSIRIS spreadsheets),
controls and control-profile files, families, unidentified persons, correction files
(``retype_sample`` with a file, ``correct_pedigree``) and kinship case files; a few through the
``reunite`` CLI.  Deterministic (``derandomize``) and small, so CI stays stable; a found crash
is kept below as an ``@example`` or a plain regression test.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from lab_exports import Injection, ladder, simulate_profile, write_run
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.errors import ReuniteError
from reunite.genetics.loci import normalise_allele, repeat_problem
from reunite.store.models import Family, FamilyMember, Sample, Setting, Unidentified
from reunite.store.profiles import GeneticModel, unpack_profile
from reunite.store.textio import MAX_TEXT_LENGTH, check_text

MODEL = GeneticModel("CHN_national_GBT37223")
SCALE = float(os.environ.get("REUNITE_FUZZ_SCALE", "1"))  # > 1 to hunt for more crashes locally
FUZZ = settings(max_examples=int(150 * SCALE), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
FEW = settings(FUZZ, max_examples=int(40 * SCALE))
HANG_SECONDS = 30  # one example taking longer is a hang
WHO = {"changed_by": "fuzz", "reason": "fuzz test"}


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    def alarm(signum, frame):
        raise AssertionError(f"an example ran for more than {seconds} s: a hang")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------------------
# valid files (simulated people only) and the databases they go into

def _sim():
    from reunite.simulate import simulate_database, write_database

    return simulate_database, write_database


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Valid files of every kind, a database holding the genotypes only (families and
    unidentified persons can be imported into it) and one holding everything (corrections)."""
    from reunite.store.db import make_engine, upgrade
    from reunite.store.importers import import_all, import_genotypes

    simulate_database, write_database = _sim()
    root = tmp_path_factory.mktemp("fuzzintake")
    paths = write_database(simulate_database(2, 2, seed=7), root / "sim")
    genotypes = paths["genotypes"].read_text(encoding="utf-8")
    families = paths["families"].read_text(encoding="utf-8")
    unidentified = paths["unidentified"].read_text(encoding="utf-8")

    engines = {}
    for name in ("samples", "full"):
        db = root / f"{name}.db"
        engine = make_engine(f"sqlite:///{db}")
        upgrade(engine)
        with Session(engine) as s, s.begin():
            s.add(Setting(key="genetic_model", value=json.dumps(MODEL.to_json())))
            if name == "samples":
                import_genotypes(s, paths["genotypes"], model=MODEL)
            else:
                import_all(s, paths, model=MODEL)
        engine.dispose()
        engines[name] = (make_engine(f"sqlite:///{db}"), db)

    profiles = {}
    for line in genotypes.splitlines()[1:]:
        sample, locus, a, b = line.split(",")
        profiles.setdefault(sample, {})[locus] = (a, b)
    samples = sorted(profiles)
    # the long file of two new samples (simulated profiles under new codes); the wide file of the same
    keep = samples[:2]
    long_text = "sample_id,locus,allele1,allele2\n" + "".join(
        f"G{s},{locus},{a},{b}\n" for s in keep for locus, (a, b) in profiles[s].items())
    loci = list(profiles[keep[0]])
    wide_text = "sample_id," + ",".join(loci) + "\n" + "".join(
        f"G{s}," + ",".join(f"{a}/{b}" for a, b in (profiles[s][locus] for locus in loci)) + "\n" for s in keep)
    # a GeneMapper ID-X run: ladder, positive and negative control, a sample injected twice
    rng = np.random.default_rng(3)
    prof = simulate_profile(rng)
    run = root / "run.txt"
    write_run(run, [Injection("A01_Ladder.fsa", "Ladder", "Allelic Ladder", ladder()),
                    Injection("A02_PC.fsa", "PC 9947A", "Positive Control", simulate_profile(rng, sex="F")),
                    Injection("A03_NC.fsa", "NEG 1", "Negative Control", {}),
                    Injection("A04_X.fsa", "RUNX1", "Sample", prof),
                    Injection("A05_X.fsa", "RUNX1", "Sample", {k: v for k, v in prof.items() if k != "FGA"})])
    run_text = run.read_text(encoding="utf-8")
    osiris_loci = ["D3S1358", "vWA", "D16S539", "TH01", "FGA", "D8S1179", "D21S11", "D18S51", "D5S818",
                   "D13S317", "D7S820", "CSF1PO", "TPOX", "D2S1338", "D19S433", "AMEL"]
    osiris_text = "Sample\t" + "\t".join(f"{m}-{k % 4 + 1}" for k, m in enumerate(osiris_loci)) + "\n"
    for name, p in (("Ladder", ladder()), ("OSX1", simulate_profile(rng)), ("OSX2", simulate_profile(rng))):
        osiris_text += name + "\t" + "\t".join(", ".join(p[m][:6]) for m in osiris_loci) + "\n"
    controls_text = "kind,pattern\nladder,.*ladder.*\npositive_control,pc.*\nnegative_control,neg.*\nblank,rb\\d*\n"
    control_profiles_text = "control,locus,allele1,allele2\n" + "".join(
        f"PC,{m},{a},{b}\n" for m, (a, b) in (("D3S1358", ("15", "16")), ("vWA", ("17", "18")),
                                              ("TH01", ("8", "9.3")), ("AMEL", ("X", "X"))))
    # families: the missing person's row with the optional columns
    fam_rows = list(csv.reader(io.StringIO(families)))
    fam_rows[0] += ["birth_date", "missing_date", "missing_place"]
    for row in fam_rows[1:]:
        row += (["2010-03-04", "2015-06-01", "Kunming, Yunnan"] if row[5] == "missing" else ["", "", ""])
    families_text = _csv(fam_rows)
    fam_code = fam_rows[1][0]
    pedigree_text = _csv([fam_rows[0]] + [r for r in fam_rows[1:] if r[0] == fam_code])
    # a re-typing: the first sample with one locus changed, in a long file
    retyped = samples[0]
    locus0 = next(iter(profiles[retyped]))
    retype_text = "sample_id,locus,allele1,allele2\n" + "".join(
        f"{retyped},{locus},{'11' if locus == locus0 else a},{'12' if locus == locus0 else b}\n"
        for locus, (a, b) in profiles[retyped].items())
    cases_text = (Path(__file__).parent / "data" / "cases.json").read_text(encoding="utf-8")
    cases = json.loads(cases_text)
    small_cases = json.dumps({"cases": cases["cases"][:3]} if isinstance(cases, dict) else cases[:3], indent=1)

    yield _World({
        "root": root, "engines": engines, "samples": samples, "family": fam_code, "retyped": retyped,
        "texts": {"long": long_text, "wide": wide_text, "run": run_text, "osiris": osiris_text,
                  "controls": controls_text, "control_profiles": control_profiles_text,
                  "families": families_text, "unidentified": unidentified, "pedigree": pedigree_text,
                  "retype": retype_text, "cases": small_cases},
    })
    for engine, _ in engines.values():
        engine.dispose()


class _World(dict):
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return "<world>"


def _csv(rows, delimiter=",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


# ---------------------------------------------------------------------------------------
# mutations

FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
WEIRD = ["", '"', '""', "'", ",", "\t", ";", "|", "\r", "\n", "\r\n", "\u2028", "\u2029", "\u0085",
         "\x00", "\x01", "\x1b", "\x7f", "\x0c", "\x0b", "\ufeff", "\u200b", " ", "  ", "９．３", "１２",
         "OL", "0", "999", "9.3", "9.30", "09", "X", "Y", "X,Y", "14/17", "14, 17", 'a"b', '"quoted, value"',
         "NaN", "inf", "-1", "1e1", "１２/１３", "٩", "x" * 129, "y" * (MAX_TEXT_LENGTH + 1),
         "z" * 100_001, "家", "福州, 福建", "𝟘", "\ud7ff", "Ladder", "PC", "NEG", "AMEL", "vWA", "THO1",
         "D3S1358", "sample_id", "Sample Name", "Marker", "Allele 3", "allele3", "2099-01-01",
         "2015-02-30", "reference", "missing", "untyped", "M", "F", "U"]
HEADER_NAMES = ["Sample", "Sample Name", "Sample File", "Sample Type", "Marker", "Allele 1", "Allele 2", "Allele 3",
                "Allele", "Size 1", "Height 1", "Panel", "Dye", "AN", "Run Name", "sample_id", "Sample ID", "locus",
                "allele1", "allele2", "allele3", "allele10", "family_id", "person_id", "father_id", "mother_id", "sex",
                "role", "family_type", "birth_date", "missing_date", "missing_place", "category",
                "estimated_birth_date", "found_date", "found_place", "kind", "pattern", "control", "TH01", "THO1",
                "vWA", "VWA", "vWA-2", "AMEL", "Amelogenin", "DYS391", "Yindel", "SE33", "Penta D", "PENTA_D", "-1",
                "", " ", "Person ID", "PERSON-ID", "ｐｅｒｓｏｎ＿ｉｄ"]
weird = st.one_of(st.sampled_from(WEIRD), st.text(max_size=8))
FIELD_FNS = {
    "fullwidth": lambda v: v.translate(FULLWIDTH),
    "upper": str.upper, "lower": str.lower, "spaces": lambda v: f"  {v} ",
    "bom": lambda v: "\ufeff" + v, "quoted": lambda v: f'"{v}"', "halfquote": lambda v: f'"{v}',
    "double": lambda v: v + v, "underscore": lambda v: v.replace(" ", "_"), "nbsp": lambda v: v.replace(" ", "\xa0"),
    "trailing_comma": lambda v: v + ",", "trailing_tab": lambda v: v + "\t", "cr": lambda v: v + "\r",
}

op = st.one_of(
    st.tuples(st.sampled_from(["drop_field", "dup_field"]), st.integers(0, 400), st.integers(0, 30)),
    st.tuples(st.sampled_from(["insert_field", "replace_field"]), st.integers(0, 400), st.integers(0, 30), weird),
    st.tuples(st.just("field_fn"), st.integers(0, 400), st.integers(0, 30), st.sampled_from(sorted(FIELD_FNS))),
    st.tuples(st.just("header_fn"), st.just(0), st.integers(0, 30), st.sampled_from(sorted(FIELD_FNS))),
    st.tuples(st.sampled_from(["insert_field", "replace_field"]), st.just(0), st.integers(0, 30),
              st.sampled_from(HEADER_NAMES)),
    st.tuples(st.sampled_from(["drop_field", "dup_field"]), st.just(0), st.integers(0, 30)),
    st.tuples(st.sampled_from(["drop_row", "dup_row", "blank_row", "trailing_delim"]), st.integers(0, 400)),
    st.tuples(st.just("swap_rows"), st.integers(0, 400), st.integers(0, 400)),
)
text_op = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 10**6), weird),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 40)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
)
# --encoding values that are not text encodings, or whose decoder fails without a position
BAD_ENCODINGS = ["klingon", "rot13", "base64", "zlib", "punycode", "undefined", "idna", "utf-8\x00", ""]
ENCODINGS = ["utf-8", "utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16", "utf-16-le", "utf-16-be", "latin-1"]


@st.composite
def mutated(draw, kind: str):
    """``(bytes, encoding given to the reader or None, what was done)`` for a mutation of the
    valid file of ``kind``."""
    text = WORLD_TEXTS[kind]
    delimiter = "\t" if kind in ("run", "osiris") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)) if kind != "cases" else []
    ops = draw(st.lists(op, max_size=3)) if rows else []
    for o in ops:
        name, r = o[0], o[1] % len(rows)
        row = rows[r]
        c = o[2] % (len(row) + 1) if len(o) > 2 and isinstance(o[2], int) else 0
        if name == "drop_field" and c < len(row):
            del row[c]
        elif name == "dup_field" and c < len(row):
            row.insert(c, row[c])
        elif name == "insert_field":
            row.insert(c, o[3])
        elif name == "replace_field" and c < len(row):
            row[c] = o[3]
        elif name in ("field_fn", "header_fn") and c < len(row):
            row[c] = FIELD_FNS[o[3]](row[c])
        elif name == "drop_row" and len(rows) > 1:
            del rows[r]
        elif name == "dup_row":
            rows.insert(r, list(row))
        elif name == "blank_row":
            rows.insert(r, [])
        elif name == "trailing_delim":
            row.append("")
        elif name == "swap_rows":
            r2 = o[2] % len(rows)
            rows[r], rows[r2] = rows[r2], rows[r]
    if rows:
        sep = draw(st.sampled_from([delimiter] * 4 + [",", "\t", ";"]))
        end = draw(st.sampled_from(["\n", "\r\n", "\r", "\u2028"]))
        style = draw(st.sampled_from(["raw", "minimal", "all"]))
        if style == "raw":
            text = end.join(sep.join(row) for row in rows) + draw(st.sampled_from([end, ""]))
        else:
            out = io.StringIO()
            csv.writer(out, delimiter=sep, lineterminator=end,
                       quoting=csv.QUOTE_ALL if style == "all" else csv.QUOTE_MINIMAL).writerows(rows)
            text = out.getvalue()
    for o in draw(st.lists(text_op, max_size=3 if kind == "cases" else 1)):
        at = o[1] % (len(text) + 1)
        if o[0] == "insert":
            text = text[:at] + o[2] + text[at:]
        elif o[0] == "delete":
            text = text[:at] + text[at + o[2]:]
        else:
            text = text[:at]
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    given_encoding = draw(st.sampled_from([None] * 8 + [encoding, encoding, "gbk", "utf8", "UTF_16"] + BAD_ENCODINGS))
    return data, given_encoding, (ops, encoding)


WORLD_TEXTS: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _texts(world):
    WORLD_TEXTS.update(world["texts"])


# ---------------------------------------------------------------------------------------
# the readers and what they store


def _canonical_allele(a: str) -> bool:
    return normalise_allele(a) == a and repeat_problem(a) is None


def _id_ok(value: str) -> bool:
    """An id as reunite stores it: one line, no control characters, at most 128 characters,
    NFKC-normalised and stripped, and no invisible characters (zero-width spaces, BOMs), which
    would make two ids that look the same differ."""
    return bool(value) and check_text(value, what="id", where="db", max_length=128) is None and \
        value == unicodedata.normalize("NFKC", value).strip() and \
        not any(unicodedata.category(c) == "Cf" for c in value)


def _check_stored(session: Session) -> None:
    """What an import stored (in the still open transaction) is canonical."""
    known = MODEL.loci()
    for code, profile, amel, y in session.execute(select(Sample.code, Sample.profile, Sample.amelogenin,
                                                         Sample.y_profile)):
        assert _id_ok(code), code
        for locus, (a, b) in unpack_profile(profile).items():
            assert locus in known, (code, locus)
            assert _canonical_allele(a) and _canonical_allele(b), (code, locus, a, b)
            assert float(a) <= float(b), (code, locus, a, b)
        assert amel in (None, "X", "Y", "X/X", "X/Y", "Y/Y"), (code, amel)
        for part in (y or "").split(";"):
            if part:
                locus, _, alleles = part.partition("=")
                assert all(_canonical_allele(a) for a in alleles.split("/")), (code, part)
    for (code,) in session.execute(select(Family.code)):
        assert _id_ok(code), code
    for values in session.execute(select(FamilyMember.person_code, FamilyMember.father_code,
                                         FamilyMember.mother_code, FamilyMember.missing_place)):
        *ids, place = values
        for v in ids:
            assert v is None or _id_ok(v), v
        assert place is None or check_text(place, what="place", where="db") is None, place
    for code, place in session.execute(select(Unidentified.code, Unidentified.found_place)):
        assert _id_ok(code), code
        assert place is None or check_text(place, what="place", where="db") is None, place


def _intake(world, reader: str, path: Path, encoding: str | None, *, strict: bool = False,
            lenient: bool = False) -> None:
    """Run one reader on ``path``; a ReuniteError must name the file; anything stored must be
    canonical; the transaction is rolled back."""
    from reunite.genetics.caseio import load_case_document, read_cases
    from reunite.store.corrections import correct_pedigree, retype_sample
    from reunite.store.importers import (
        import_families,
        import_genotypes,
        import_unidentified,
    )
    from reunite.store.runexport import load_control_patterns, load_control_profiles

    with no_hang():
        try:
            if reader in ("controls", "control_profiles"):
                (load_control_patterns if reader == "controls" else load_control_profiles)(path)
                event(f"{reader}: read")
                return
            if reader == "cases":
                doc = load_case_document(path)
                cases = read_cases(doc, source=str(path), lenient=lenient)
                for entry in cases.entries:
                    assert entry.error is None or isinstance(entry.error, ReuniteError)
                event(f"{reader}: read, {sum(e.error is None for e in cases.entries)} good case(s)")
                return
            engine = world["engines"]["full" if reader in ("retype", "pedigree") else "samples"][0]
            with Session(engine) as session:
                session.begin()
                try:
                    if reader == "genotypes":
                        import_genotypes(session, path, model=MODEL, encoding=encoding, strict=strict,
                                         lenient=lenient)
                    elif reader == "families":
                        import_families(session, path, model=MODEL, encoding=encoding, lenient=lenient)
                    elif reader == "unidentified":
                        import_unidentified(session, path, encoding=encoding, lenient=lenient)
                    elif reader == "retype":
                        retype_sample(session, world["retyped"], model=MODEL, path=path, encoding=encoding, **WHO)
                    elif reader == "pedigree":
                        correct_pedigree(session, world["family"], path=path, encoding=encoding, lenient=lenient,
                                         model=MODEL, **WHO)
                    session.flush()
                    _check_stored(session)
                    event(f"{reader}: imported")
                finally:
                    session.rollback()
        except ReuniteError as exc:
            event(f"{reader}: {type(exc).__name__}")
            if os.environ.get("REUNITE_FUZZ_WHY"):  # why files are refused, to tune the mutations
                event(re.sub(r"\d+", "N", str(exc).splitlines()[-1].replace(str(path), "FILE"))[:90])
            message = str(exc)
            named = str(path) in message or (encoding is not None and "--encoding" in message)
            assert named, f"{type(exc).__name__} does not name the file: {message[:500]}"


def _write(world, name: str, data: bytes) -> Path:
    path = world["root"] / "cases" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------
# the properties

GENOTYPE_KINDS = ["long", "wide", "run", "osiris"]


@FUZZ
@given(kind=st.sampled_from(GENOTYPE_KINDS), data=st.data(), strict=st.booleans(), lenient=st.booleans())
def test_mutated_genotype_files_import_or_name_the_file(world, kind, data, strict, lenient):
    raw, encoding, _ = data.draw(mutated(kind))
    _intake(world, "genotypes", _write(world, f"{kind}.txt", raw), encoding, strict=strict, lenient=lenient)


@FUZZ
@given(kind=st.sampled_from(["families", "unidentified"]), data=st.data(), lenient=st.booleans())
def test_mutated_person_files_import_or_name_the_file(world, kind, data, lenient):
    raw, encoding, _ = data.draw(mutated(kind))
    _intake(world, kind, _write(world, f"{kind}.csv", raw), encoding, lenient=lenient)


@FEW
@given(kind=st.sampled_from(["controls", "control_profiles"]), data=st.data())
def test_mutated_control_files_load_or_name_the_file(world, kind, data):
    raw, _, _ = data.draw(mutated(kind))
    _intake(world, kind, _write(world, f"{kind}.csv", raw), None)


@FUZZ
@given(kind=st.sampled_from(["retype", "pedigree"]), data=st.data(), lenient=st.booleans())
def test_mutated_correction_files_apply_or_name_the_file(world, kind, data, lenient):
    raw, encoding, _ = data.draw(mutated(kind))
    _intake(world, kind, _write(world, f"{kind}.csv", raw), encoding, lenient=lenient)


@FEW
@given(data=st.data(), lenient=st.booleans())
def test_mutated_case_files_read_or_name_the_file(world, data, lenient):
    raw, _, _ = data.draw(mutated("cases"))
    _intake(world, "cases", _write(world, "cases.json", raw), None, lenient=lenient)


READERS = ["genotypes", "families", "unidentified", "controls", "control_profiles", "retype", "pedigree", "cases"]


@FUZZ
@given(reader=st.sampled_from(READERS), raw=st.one_of(
    st.binary(max_size=300),
    st.builds(lambda head, body: head + body,
              st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"sample_id,locus,allele1,allele2\n",
                               b"Sample Name\tMarker\tAllele 1\tAllele 2\n", b"person_id,sample_id\n",
                               b"family_id,person_id,father_id,mother_id,sex,role,sample_id\n", b'{"cases": [']),
              st.binary(max_size=200))),
       encoding=st.sampled_from([None, None, "utf-8", "gbk", "utf-16", "latin-1", "utf-16-be"] + BAD_ENCODINGS))
def test_random_bytes_never_crash(world, reader, raw, encoding):
    _intake(world, reader, _write(world, f"bytes-{reader}.txt", raw), encoding)


# ---------------------------------------------------------------------------------------
# through the CLI (a copy of the database per example: the CLI commits)

runner = CliRunner()


@FEW
@given(kind=st.sampled_from(["long", "run", "families", "unidentified"]), data=st.data())
def test_cli_import_of_mutated_files_never_tracebacks(world, kind, data):
    from pg_backend import copy_database
    from reunite.cli import app

    raw, encoding, _ = data.draw(mutated(kind))
    path = _write(world, f"cli-{kind}.txt", raw)
    db = world["root"] / "cli.db"
    world["engines"]["samples"][0].dispose()
    copy_database(world["engines"]["samples"][1], db)  # PostgreSQL (make test-pg): a template copy
    what = {"long": "genotypes", "run": "genotypes"}.get(kind, kind)
    args = ["import", what, str(path)] + (["--encoding", encoding] if encoding else []) + \
        ([] if what == "genotypes" else ["--no-search"])
    with no_hang():
        result = runner.invoke(app, args, env={"REUNITE_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200"})
    exc = result.exception
    event(f"cli import {what}: exit {result.exit_code} {type(exc).__name__ if exc else ''}")
    if exc is not None and not isinstance(exc, SystemExit):
        assert isinstance(exc, ReuniteError), repr(exc)
        assert str(path) in str(exc) or "--encoding" in str(exc), str(exc)[:500]


@FEW
@given(data=st.data())
def test_cli_case_files_never_traceback(world, data):
    from reunite.cli import app

    raw, _, _ = data.draw(mutated("cases"))
    path = _write(world, "cli-cases.json", raw)
    with no_hang(60):
        result = runner.invoke(app, ["lr", str(path), "--keep-going", "--json"])
    exc = result.exception
    event(f"cli lr: exit {result.exit_code} {type(exc).__name__ if exc else ''}")
    if exc is not None and not isinstance(exc, SystemExit):
        assert isinstance(exc, ReuniteError), repr(exc)
        assert str(path) in str(exc), str(exc)[:500]


# ---------------------------------------------------------------------------------------
# kinship case files: structured mutations (values replaced deep inside valid cases)

CASE_KEYS = ["id", "father", "mother", "sex", "inbreeding", "name", "afreq", "genotypes", "mutation", "model",
             "rate", "rate2", "range", "matrix", "female", "male", "H1", "H2", "theta", "markers", "population",
             "format", "cases", "theat", "Mutation"]
json_key = st.one_of(st.sampled_from(CASE_KEYS), st.text(max_size=3))
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(18, 400).map(lambda n: 10 ** n),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "a/b", "1/2", "a", "M", "F", "AF", "CH", "MO", "equal", "stepwise", "custom",
                     "none", "unrelated", "TH01", "THO1", "vWA", "VWA", "９．３", "\x00", "\u2028"]),
    st.integers(100, 5000).map(lambda n: "x" * n), st.text(max_size=5))
json_value = st.recursive(json_leaf, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(json_key, children, max_size=4)), max_leaves=8)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for k, v in enumerate(node):
            yield from _paths(v, prefix + (k,))


@st.composite
def mutated_case_document(draw):
    doc = json.loads(WORLD_TEXTS["cases"])
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        value = draw(json_value)
        if not path:
            doc = value
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        how = draw(st.sampled_from(["replace", "delete", "add"]))
        if how == "replace":
            parent[path[-1]] = value
        elif how == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(json_key)] = value
        else:
            parent.insert(path[-1], value)
    text = json.dumps(doc, allow_nan=True, ensure_ascii=draw(st.booleans()))
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig"])))


@FUZZ
@given(raw=mutated_case_document(), lenient=st.booleans())
@example(raw=b'{"cases": [{"id": "a", "theta": 1' + b"0" * 5000 + b"}]}", lenient=False)
@example(raw=json.dumps({"cases": [{"id": "a", "theta": 10**400, "H1": [], "markers": []}]}).encode(), lenient=False)
@example(raw=json.dumps({"cases": [{"id": "a", "H1": [{"id": "A"}], "markers": [{"name": "M1", "afreq": {"1": 1.0}}],
                                    "mutation": {"model": "equal", "rate": 10**400}}]}).encode(), lenient=False)
@example(raw=json.dumps({"cases": [{"id": "a", "H1": [{"id": "A"}], "markers": [{"name": "M1", "afreq": {"1": 1.0}}],
                                    "mutation": {"model": "custom", "matrix": [[10**400]]}}]}).encode(), lenient=False)
@example(raw=json.dumps({"cases": [{"id": "a", "H1": [{"id": "A"}],
                                    "markers": [{"name": "M1", "afreq": {"1": 10**400}}]}]}).encode(), lenient=False)
def test_structurally_mutated_cases_run_or_say_why(world, raw, lenient):
    """Read and run: every case gives an LR or a ReuniteError; the document's errors name the file."""
    from reunite.genetics.caseio import load_case_document, read_cases
    from reunite.genetics.kinship import kinship_lr_many

    path = _write(world, "structured.json", raw)
    with no_hang():
        try:
            cases = read_cases(load_case_document(path), source=str(path), lenient=lenient)
        except ReuniteError as exc:
            event(f"cases: {type(exc).__name__}")
            assert str(path) in str(exc), str(exc)[:500]
            return
        good = [e.case for e in cases.entries if e.error is None]
        for entry in cases.entries:
            assert entry.error is None or isinstance(entry.error, ReuniteError), repr(entry.error)
        event(f"cases: {len(good)} of {len(cases.entries)} parsed")
        results = kinship_lr_many([(c.id, c.h1, c.h2, c.markers, c.theta) for c in good], keep_going=True)
        assert len(results) == len(good)
        for result in results:
            assert not isinstance(result, Exception) or isinstance(result, ReuniteError), repr(result)


# ---------------------------------------------------------------------------------------
# crashes the fuzzing found, kept as plain regression tests


def test_run_export_header_sample_with_marker_is_refused_not_a_traceback(world):
    """'Sample' + 'Marker' (no 'Sample Name') was taken for a GeneMapper export and crashed."""
    from reunite.store.importers import ImportRejected, read_genotypes

    path = _write(world, "sample-marker.txt", b"Sample\tMarker\tAllele 1\tAllele 2\nS1\tTH01\t9\t9.3\n")
    with pytest.raises(ImportRejected, match="Sample Name") as err:
        read_genotypes(path, model=MODEL)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("encoding", BAD_ENCODINGS[1:])
def test_encodings_that_are_not_text_encodings_are_refused(world, encoding):
    """--encoding rot13/base64/zlib (bytes codecs), punycode/undefined (no position) and a NUL
    in the name raised LookupError, UnicodeError or ValueError."""
    from reunite.store.textio import FileFormatError, read_table

    for data in (b"sample_id,locus,allele1,allele2\nS1,TH01,9,9.3\n" + b"x" * 70,
                 "sample_id,locus,allele1,allele2\nS1,TH01,9,9.3,福州\n".encode()):  # idna: no 'replace'
        path = _write(world, "enc.csv", data)
        try:
            read_table(path, encoding=encoding)
        except FileFormatError as exc:
            assert str(path) in str(exc) or "--encoding" in str(exc)
        else:  # idna decodes plain ASCII; an empty --encoding is no encoding (detected)
            assert encoding == "" or (encoding == "idna" and data.isascii()), f"--encoding {encoding!r} was accepted"


def test_invisible_characters_in_ids_are_dropped(world):
    """A BOM inside a file (two files concatenated) or a zero-width space pasted with an id
    made 'S1' and '\\ufeffS1' two different samples."""
    from reunite.store.importers import import_genotypes, import_unidentified

    long_text = world["texts"]["long"]
    first = long_text.splitlines()[1].split(",")[0]
    path = _write(world, "bom-ids.csv", long_text.replace(first, "\ufeff" + first + "\u200b", 1).encode())
    engine = world["engines"]["samples"][0]
    with Session(engine) as session:
        session.begin()
        try:
            import_genotypes(session, path, model=MODEL)
            codes = set(session.execute(select(Sample.code)).scalars())
            assert first in codes and not any("\ufeff" in c or "\u200b" in c for c in codes)
            people = _write(world, "bom-people.csv",
                            f"person_id,sample_id\n\u200bU9,{first}\u2060\n".encode("utf-8-sig"))
            import_unidentified(session, people)
            assert session.execute(select(Unidentified.code)).scalars().all() == ["U9"]
        finally:
            session.rollback()
