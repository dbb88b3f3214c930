"""CLI hygiene: ``--version`` alone, output paths and options checked before any work, tables
that fold rather than truncate in a narrow terminal, and demo hints that work as printed.

The console script itself is run (a subprocess) where a clean message without a traceback is
the point; every database here is the demo's simulated one.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reunite import __version__
from reunite.cli import _fmt_lr, app
from reunite.errors import ReuniteError

runner = CliRunner()
REUNITE = Path(sys.executable).parent / "reunite"


def run(args, *, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
    """The console script, as a user runs it."""
    return subprocess.run([str(REUNITE), *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def columns(text: str) -> dict[int, str]:
    """Per column index, the text of every table cell in it, fragments joined (spaces dropped).

    A folded cell continues on the next lines of its column, so a value that was folded, not
    cut, is a substring of its column's text."""
    out: dict[int, str] = defaultdict(str)
    for line in text.splitlines():
        if "│" in line or "┃" in line:
            for k, part in enumerate(re.split("[│┃]", line)[1:-1]):
                out[k] += part.replace(" ", "")
    return out


# --- --version ------------------------------------------------------------------------------------

def test_version_works_on_its_own():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"reunite {__version__}"
    done = run(["--version"])
    assert done.returncode == 0 and done.stdout.strip() == f"reunite {__version__}"
    assert run(["--version", "populations"]).stdout.strip() == f"reunite {__version__}"


# --- output paths and options, before any work -------------------------------------------------

@pytest.fixture
def no_database(tmp_path):
    """A database URL whose file does not exist: a command that did any work would create it."""
    db = tmp_path / "absent.db"
    return db, {"REUNITE_DATABASE_URL": f"sqlite:///{db}"}


def _refused(done: subprocess.CompletedProcess, *texts: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stderr.startswith("error:")
    flat = " ".join(done.stderr.split())
    for text in texts:
        assert text in flat, (text, flat)


def test_search_out_in_a_missing_folder_is_refused_before_any_work(tmp_path, no_database):
    db, env = no_database
    done = run(["search", "--all", "--out", "/nonexistent/dir/m.csv"], env=env)
    _refused(done, "--out /nonexistent/dir/m.csv", "/nonexistent/dir does not exist")
    assert not db.exists()
    done = run(["search", "--all", "--out", str(tmp_path)], env=env)
    _refused(done, "is a folder", "give a file name")
    assert not db.exists()


def test_simulate_and_demo_out_are_checked_before_any_work(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    _refused(run(["simulate", "--seed", "1", "--families", "5", "--unidentified", "2", "--out", str(a_file)]),
             "is a file, not a folder")
    _refused(run(["simulate", "--seed", "1", "--out", str(a_file / "sub")]), "is a file, so the folder cannot")
    _refused(run(["demo", "--out", str(a_file)]), "is a file, not a folder")
    _refused(run(["simulate", "--seed", "1", "--families", "-1", "--out", str(tmp_path / "s")]),
             "--families: expected 0 or more, found -1")
    assert a_file.read_text() == "keep me" and not (tmp_path / "s").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_an_unwritable_output_folder_is_refused(tmp_path, no_database):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _refused(run(["search", "--all", "--out", str(locked / "m.csv")], env=no_database[1]),
                 "permission denied")
        _refused(run(["simulate", "--seed", "1", "--out", str(locked / "sim")]), "permission denied")
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("args,texts", [
    (["--min-lr", "-1"], ["--min-lr: expected an LR of 0 or more", "found -1"]),
    (["--min-lr", "nan"], ["--min-lr: expected an LR of 0 or more"]),
    (["--top", "0"], ["--top: expected 1 or more", "found 0", "leave --top out"]),
    (["--top", "-3"], ["--top: expected 1 or more", "found -3", "leave --top out"]),
])
def test_search_options_are_checked_before_any_work(args, texts, no_database):
    db, env = no_database
    _refused(run(["search", "--all", *args], env=env), *texts)
    assert not db.exists()
    result = runner.invoke(app, ["search", "--unidentified", "U1", *args], env=env)
    assert isinstance(result.exception, ReuniteError)


def test_top_is_documented():
    result = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "200"})
    assert "--top" in result.output and "20 best" in result.output


# --- the demo: hints that work, tables that fold --------------------------------------------------

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A small demo run in a fresh folder, in a 40-column terminal: (folder, stdout)."""
    cwd = tmp_path_factory.mktemp("demo")
    done = run(["demo", "--families", "40", "--unidentified", "15", "--out", "out"], cwd=cwd,
               env={"COLUMNS": "40"})
    assert done.returncode == 0, done.stderr
    return cwd, done.stdout


def test_demo_hints_work_as_printed(demo_run):
    cwd, stdout = demo_run
    hints = stdout[stdout.index("Where to look next"):].splitlines()
    commands = [line.strip()[2:] for line in hints if line.strip().startswith("$ ")]
    assert any(" lr out/cases.json" in c for c in commands)
    assert any("REUNITE_DATABASE_URL=sqlite:///out/reunite.db" in c and " stats" in c for c in commands)
    assert any(" search --unidentified " in c for c in commands)
    for command in commands:
        if command.startswith("make "):  # the benchmark takes minutes: only check that it exists
            command = command.replace("make ", "make -n ", 1)
        done = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                              timeout=600, env={k: v for k, v in os.environ.items()
                                                if k != "REUNITE_DATABASE_URL"})
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        assert "Traceback" not in done.stderr, command
    paths = [line.strip() for line in hints[1:] if line.startswith("    ") and not line.strip().startswith("$ ")]
    assert paths and all((cwd / p).exists() for p in paths), paths


def test_demo_case_file_gives_the_demo_lrs(demo_run):
    from reunite.demo import demo_cases
    from reunite.genetics.kinship import kinship_lr_many

    cwd, _ = demo_run
    expected = kinship_lr_many([(cid, h1, h2, m, 0.0) for cid, _, h1, h2, m in demo_cases(seed=2016)])
    done = run(["lr", "out/cases.json", "--json"], cwd=cwd)
    assert done.returncode == 0, done.stderr
    ours = json.loads(done.stdout)["results"]
    assert [r["id"] for r in ours] == [r.id for r in expected]
    for o, e in zip(ours, expected):
        assert o["lr_total"] == e.lr_total and o["lr_per_marker"] == e.lr_per_marker


def test_demo_tables_fold_in_a_narrow_terminal(demo_run):
    from reunite.demo import demo_cases
    from reunite.genetics.kinship import kinship_lr_many

    cwd, stdout = demo_run
    assert "…" not in stdout
    cols = columns(stdout)
    for r in kinship_lr_many([(cid, h1, h2, m, 0.0) for cid, _, h1, h2, m in demo_cases(seed=2016)]):
        assert r.id.replace("_", "") in cols[0].replace("_", "") or r.id in cols[0]
        assert _fmt_lr(r.lr_total) in cols[3], (_fmt_lr(r.lr_total), cols[3])
    with open(cwd / "out" / "matches.csv", newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["rank"] == "1"]
    strongest = max(rows, key=lambda row: float(row["log10_lr"]))
    assert strongest["unidentified_id"] in cols[0] and strongest["family_id"] in cols[1]
    assert _fmt_lr(float(strongest["lr"])) in cols[3]


def test_search_and_lr_tables_fold_in_a_narrow_terminal(demo_run, tmp_path):
    cwd, _ = demo_run
    env = {"REUNITE_DATABASE_URL": f"sqlite:///{cwd / 'out' / 'reunite.db'}", "COLUMNS": "40"}
    with open(cwd / "out" / "matches.csv", newline="") as fh:
        uid = max(csv.DictReader(fh), key=lambda row: float(row["log10_lr"]))["unidentified_id"]
    out = tmp_path / "m.csv"
    done = run(["search", "--unidentified", uid, "--no-store", "--out", str(out)], env=env)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    cols = columns(done.stdout)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    header = [h.strip() for h in cols.values()]
    lr_col = next(k for k, text in cols.items() if text.startswith("LR"))
    for row in rows:
        assert _fmt_lr(float(row["lr"])) in cols[lr_col], header
        assert row["family_id"] in "".join(cols.values())
    done = run(["lr", str(cwd / "out" / "cases.json")], env={"COLUMNS": "40"})
    assert done.returncode == 0 and "…" not in done.stdout
    # a summary wider than the terminal is one block per case ("  LR: 4.5893e+14"): every LR whole
    for r in json.loads(run(["lr", str(cwd / "out" / "cases.json"), "--json"]).stdout)["results"]:
        assert f"  LR: {_fmt_lr(r['lr_total'])}\n" in done.stdout
    done = run(["populations"], env={"COLUMNS": "40"})
    assert done.returncode == 0 and "…" not in done.stdout
    assert "CHN_national_GBT37223" in columns(done.stdout)[0]


def test_search_pending_refuses_options_it_would_ignore(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    for extra in (["--min-lr", "100"], ["--top", "5"], ["--no-store"], ["--age-tolerance", "10"],
                  ["--out", str(tmp_path / "m.csv")]):
        result = CliRunner().invoke(app, ["search", "--pending", *extra])
        assert result.exit_code == 1, result.output
        message = " ".join((result.output + str(result.exception or "")).split())
        assert "takes no " + extra[0] in message
