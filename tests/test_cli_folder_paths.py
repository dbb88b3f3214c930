"""A folder given where a file is expected is named as a folder, not as a missing file."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from reunite.cli import app
from reunite.errors import ReuniteError


@pytest.mark.parametrize("args", [["populations", "import", "{d}", "--name", "T"], ["identify", "{d}"]])
def test_a_folder_is_named_as_a_folder(tmp_path, monkeypatch, args):
    monkeypatch.setenv("REUNITE_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, [a.format(d=tmp_path) for a in args])
    assert isinstance(result.exception, ReuniteError), result.output
    assert "is a folder" in str(result.exception)


def test_a_familias_database_never_named_takes_the_file_name(tmp_path, monkeypatch):
    """Familias writes "unknown" for a database never named: the table takes the file's name."""
    import shutil
    from pathlib import Path

    monkeypatch.setenv("REUNITE_DATA_DIR", str(tmp_path / "data"))
    fam = Path(__file__).parent / "data" / "familias" / "fam"
    for name in ("paternity", "kinship-riddle"):  # both say "unknown"
        shutil.copy(fam / f"{name}.fam", tmp_path / f"{name}.fam")
        result = CliRunner().invoke(app, ["populations", "import", str(tmp_path / f"{name}.fam")])
        assert result.exit_code == 0, result.output
        assert f"imported table {name}:" in result.output
