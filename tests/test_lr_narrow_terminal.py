"""``reunite lr`` on a narrow terminal: the numbers a report quotes are never broken across
lines (a summary that does not fit becomes one block per hypothesis), and a posterior just
below 1 is never printed as a bare 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reunite.cli import app
from reunite.cli_lr import _posterior_text

FAM = Path(__file__).parent / "data" / "familias" / "fam" / "paternity.fam"
runner = CliRunner()


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_every_number_is_printed_whole(columns):
    result = runner.invoke(app, ["lr", str(FAM), "--prior", "0.5"], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    data = json.loads(runner.invoke(app, ["lr", str(FAM), "--json", "--prior", "0.5"]).output)
    h1 = next(r for r in data["results"] if r["id"] == "H1")
    out = result.output
    assert "760.3" in out  # the LR, whole
    assert f"{h1['loglik']:.6f}" in out  # ln L, whole (it was folded at 80 columns)
    assert f"{h1['posterior']['value']:.6f}" in out
    assert "moderately strong support for H1" in " ".join(out.split())


def test_a_summary_that_does_not_fit_is_one_block_per_hypothesis():
    out = runner.invoke(app, ["lr", str(FAM), "--prior", "0.5", "--summary"], env={"COLUMNS": "80"}).output
    assert "\nH1\n  LR: 760.3\n" in out
    assert "  posterior (prior 0.5): 0.998687" in out


def test_a_posterior_just_below_one_is_not_a_bare_one():
    assert _posterior_text(1 - 2.2e-15) == "> 0.9999999999"
    assert _posterior_text(1.0) == "1 (to double precision)"
    assert _posterior_text(0.9999999807) == "0.9999999807"
    assert _posterior_text(0.5) == "0.500000"
