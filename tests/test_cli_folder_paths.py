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
