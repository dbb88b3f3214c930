"""``reunite plan`` tables: a gain that rounds to zero reads "+0.00" (never "+-0.00"), and a family
type's name is never folded across lines."""

from __future__ import annotations

import math

from rich.console import Console

from reunite import cli_plan


def test_gain_text():
    assert cli_plan._gain(-0.001) == "+0.00"
    assert cli_plan._gain(0.0) == "+0.00"
    assert cli_plan._gain(27.764) == "+27.76"
    assert cli_plan._gain(-1.5) == "-1.50"
    assert cli_plan._gain(math.inf) == cli_plan._log(math.inf)


def test_family_type_names_are_whole(monkeypatch):
    import reunite.cli_common as common

    console = Console(width=80, record=True, force_terminal=False)
    monkeypatch.setattr(common, "console", console)
    types = [{"name": name, "num_families": 400, "num_pairs": 100_000, "p_h1": [0.99, 0.9], "p_h2": [1e-6, 1e-9]}
             for name in ("both_parents", "siblings_only", "parents_and_sibling")]
    out = {"num_families": 1200, "mix": "database", "num_unidentified": 250, "num_pairs": 300_000,
           "thresholds": [100.0, 10000.0], "expected_false_candidates": [3.0, 0.003],
           "se_expected_false_candidates": [0.1, 0.0001], "share_true_found": [0.99, 0.9], "family_types": types,
           "notes": [], "provenance": {"genetic_model": "m", "kit": ["A"], "seed": 1,
                                       "simulated_families_per_type": 20, "num_simulations_per_type": 1000}}
    cli_plan._print_database(out)
    text = console.export_text()
    for row in types:
        assert f"│ {row['name']} " in text, text


def test_a_bad_chart_path_is_a_clear_error_before_any_simulation(tmp_path):
    from typer.testing import CliRunner

    from reunite.cli import app
    from reunite.errors import ReuniteError

    runner = CliRunner()
    # the path is checked before the user or the database: no database is needed to see the error
    folder = runner.invoke(app, ["plan", "--database", "--chart", str(tmp_path), "--as", "x"])
    # (reunite.cli.main prints a ReuniteError as "error: ..." with exit status 1)
    assert isinstance(folder.exception, ReuniteError) and "is a folder" in str(folder.exception)
    missing = runner.invoke(app, ["plan", "--database", "--chart", str(tmp_path / "no" / "x.svg"), "--as", "x"])
    assert isinstance(missing.exception, ReuniteError) and "does not exist" in str(missing.exception)
    zero = runner.invoke(app, ["plan", "--family", "F1", "--simulations", "0", "--as", "x"])
    assert zero.exit_code == 2 and "--simulations" in zero.output
