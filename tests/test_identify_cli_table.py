"""``reunite identify`` tables: codes and numbers are printed whole at 80 columns, and a victim
for whom "not identified" is the most probable answer is shown so, never with a family at P 0."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from reunite.cli import app

FAM = Path(__file__).parent / "data" / "familias" / "fam" / "planecrash.fam"
runner = CliRunner()


def test_planecrash_table_at_80_columns():
    data = json.loads(runner.invoke(app, ["identify", str(FAM), "--json"]).output)
    out = runner.invoke(app, ["identify", str(FAM)], env={"COLUMNS": "80"}).output
    assert "…" not in out
    for m in data["marginals"]:
        row = next(line for line in out.splitlines() if line.startswith(f"│ {m['child']} ")
                   and ("not identified" in line or "/" in line))
        if m["best"] is None or m["not_identified"] > m["probability"]:
            assert "(not identified)" in row, row
        else:
            assert f"{m['best']['family']}/{m['best']['missing']}" in row
    assert "(not identified)" in out  # planecrash.fam (no mutation model): V3, V5, V7, V8
    assert "victim" in out and "computed at theta 0" in out


def test_no_family_is_most_probable_at_probability_zero():
    data = json.loads(runner.invoke(app, ["identify", str(FAM), "--json"]).output)
    by_child = {m["child"]: m for m in data["marginals"]}
    assert by_child["V3"]["best"] is None and by_child["V3"]["probability"] is None  # excluded from every family
    assert by_child["V1"]["best"] == {"family": "F1", "missing": "M1"}
    assert all(m["probability"] > 0 for m in data["marginals"] if m["best"] is not None)
