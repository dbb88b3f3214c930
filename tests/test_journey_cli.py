"""The whole journey through the CLI only (``reunite ... --as USER``), each step by the user
whose job it is, ending with ``reunite audit verify``; then one audit row changed with SQL
and ``reunite audit verify`` fails naming that entry.

Genotypes are simulated by gene dropping through a family pedigree (never real people)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from reunite.cli import app
from reunite.demo_workflow import simulate_family, simulate_unrelated, write_genotypes
from workflow_world import make_world

REPORT = "R-513431-2024-202"
CHILD = "LY24-C11"
OPERATION = "OP-371300-2024-11"
REUNITE = Path(sys.executable).parent / "reunite"


def _cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
    if code and result.exception is not None and not isinstance(result.exception, SystemExit):
        return result.output + str(result.exception)  # the console script's main() prints it as 'error: ...'
    return result.output


def _candidate(tmp_path: Path, user: str, report: str) -> dict:
    out = tmp_path / f"candidates-{user}.csv"
    _cli("candidates", "--report", report, "--csv", str(out), "--as", user)
    with out.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["unidentified"] == CHILD]
    assert len(rows) == 1, rows
    return rows[0]


def test_from_report_to_return_home_through_the_cli(db_url, tmp_path, monkeypatch):
    """On SQLite and on PostgreSQL (skipped with the reason when no server answers)."""
    url = db_url
    world = make_world(url)
    world.engine.dispose()
    monkeypatch.setenv("REUNITE_DATABASE_URL", url)
    monkeypatch.delenv("REUNITE_USER", raising=False)
    family = simulate_family(child_sex="F", seed=73)
    others = simulate_unrelated([("LY24-C10", "M")], seed=74)

    # the analyst imports the references (grandmother's side: the mother and her sister)
    refs = write_genotypes(tmp_path / "refs.csv", {f"{REPORT}-MO": family["MO"], f"{REPORT}-S1": family["S1"]})
    assert "imported 2 profiles" in _cli("import", "genotypes", str(refs), "--lab", "LAB-510000", "--as", "analyst")
    # the Zhaojue investigator registers the report with two references
    out = _cli("report", "add", REPORT, "--child-name", "阿苏阿呷 Asu Aga (simulated)", "--child-sex", "F",
               "--birth-date", "2023-06-01", "--missing-date", "2023-12-20", "--missing-place", "513431",
               "--circumstances", "Simulated: gone from the house on market day",
               "--reference", f"mother:{REPORT}-MO::form-1",
               "--reference", f"full_sibling:{REPORT}-S1:{family['S1']['_sex']}:form-2", "--as", "inv_zhaojue")
    assert f"report {REPORT} registered" in out
    assert "given" in _cli("report", "show", REPORT, "--as", "inv_zhaojue")

    # the rescue in Linyi: the analyst imports the children's profiles, the Linyi police registers them
    kids = write_genotypes(tmp_path / "kids.csv", {"SD-LY24-C10": others["LY24-C10"], f"SD-{CHILD}": family["M"]})
    _cli("import", "genotypes", str(kids), "--lab", "LAB-370000", "--as", "analyst")
    _cli("operation", "add", OPERATION, "--name", "rescue (simulated)", "--date", "2024-03-12", "--place", "371324",
         "--as", "inv_linyi")
    for code, sex in (("LY24-C10", "M"), (CHILD, "F")):
        out = _cli("child", "add", code, "--sample", f"SD-{code}", "--sex", sex, "--found-date", "2024-03-12",
                   "--found-place", "371324", "--estimated-birth-date", "2023-05-15", "--operation", OPERATION,
                   "--placement-kind", "welfare_institution", "--as", "inv_linyi")
        assert f"unidentified person {code} registered" in out and "searched (unidentified)" in out
    assert CHILD in _cli("operation", "show", OPERATION, "--as", "inv_linyi")

    # the candidate appears, and the report's investigator is told
    row = _candidate(tmp_path, "inv_zhaojue", REPORT)
    cid = row["id"]
    assert row["status"] == "new" and float(row["log10_lr"]) >= 4
    inbox = _cli("inbox", "list", "--as", "inv_zhaojue")
    assert f"New candidate {cid}" in inbox and CHILD in inbox

    # review
    _cli("candidates", "assign", cid, "--to", "reviewer1", "--as", "inv_zhaojue")
    _cli("candidates", "review", cid, "--as", "reviewer1")
    _cli("candidates", "request-confirmation", cid, "--comment", "mother and sister consistent", "--as", "reviewer1")
    assert _candidate(tmp_path, "reviewer1", REPORT)["status"] == "confirmation_requested"

    # a new, independent sample of the child, attached as a confirmation test
    second = write_genotypes(tmp_path / "second.csv", {f"SD-{CHILD}-B": family["M"]})
    _cli("import", "genotypes", str(second), "--lab", "LAB-370000", "--as", "analyst")
    out = _cli("candidates", "confirm-sample", cid, "--sample", f"SD-{CHILD}-B", "--target", "child", "--as", "analyst")
    assert "supports the match" in out

    # four eyes: not the reviewer who asked; the second reviewer confirms
    assert "four eyes" in _cli("candidates", "confirm", cid, "--as", "reviewer1", code=1)
    _cli("candidates", "confirm", cid, "--comment", "second sample agrees", "--as", "reviewer2")
    assert _candidate(tmp_path, "reviewer2", REPORT)["status"] == "confirmed"

    # the welfare officer records the return home with follow-up visits
    out = _cli("outcome", "add", CHILD, "--kind", "returned_home", "--date", date.today().isoformat(),
               "--notes", "returned to the mother (simulated)", "--follow-ups", "30,90", "--as", "welfare_linyi")
    assert "returned_home" in out
    shown = _cli("outcome", "show", CHILD, "--as", "welfare_linyi")
    assert "identified" in shown and REPORT in shown
    board = _cli("dashboard", "--as", "welfare_linyi")
    assert "follow-up visits due within 7 days: 0" in board and "confirmations pending: 0" in board  # visit 1: day 30
    assert "open missing-child reports: 0" in _cli("dashboard", "--as", "inv_butuo")  # identified now
    due = _cli("outcome", "due", "--within", "31", "--as", "welfare_linyi")
    assert CHILD in due and "due within 31 days" in due  # the 30-day visit
    assert "no follow-up visit due within 0 days" in _cli("outcome", "due", "--within", "0", "--as", "welfare_linyi")
    assert "--within:" in _cli("outcome", "due", "--within", "-1", "--as", "welfare_linyi", code=1)

    # the auditor: the chain is intact and holds every step
    assert "audit chain intact" in _cli("audit", "verify", "--as", "auditor")
    log = _cli("audit", "list", "--oldest", "--limit", "500", "--as", "auditor")
    for action in ("import.genotypes", "report.create", "operation.create", "unidentified.create", "candidate.assign",
                   "candidate.start_review", "candidate.request_confirmation", "candidate.confirmation_test",
                   "candidate.confirm", "unidentified.identified", "outcome.create"):
        assert action in log, action
    env = {**os.environ, "REUNITE_DATABASE_URL": url}
    done = subprocess.run([str(REUNITE), "audit", "verify", "--as", "auditor"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0 and "intact" in done.stdout, done.stderr

    # someone with the database file changes one entry: verify fails and names it
    with world.engine.begin() as db:
        seq = db.execute(text("SELECT seq FROM audit_log WHERE action = 'candidate.confirm'")).scalar_one()
        db.execute(text("UPDATE audit_log SET actor = 'reviewer1' WHERE seq = :seq"), {"seq": seq})
    world.engine.dispose()
    out = _cli("audit", "verify", "--as", "auditor", code=1)
    assert f"BROKEN at entry {seq}" in out
    done = subprocess.run([str(REUNITE), "audit", "verify", "--as", "auditor"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 1 and f"entry {seq}" in done.stderr + done.stdout
