"""An imported table's file answers only to its own name: a file copied or renamed in the
registry (``B.json`` holding table ``A``) is refused, not used as table ``B`` (its LRs would
be recorded under a name that is not the table's, and a database created with it would record
a table under another name than its model's)."""

import shutil

import pytest

from reunite.errors import FrequencyError
from reunite.genetics import table_registry
from reunite.genetics.frequencies import get_population
from reunite.genetics.table_import import read_table_csv

LONG = """population,locus,allele,frequency,n_individuals
Lab,D8S1179,9,0.5,100
Lab,D8S1179,10,0.5,100
Lab,TH01,7,0.6,100
Lab,TH01,9.3,0.4,100
"""


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "reunite-data"
    monkeypatch.setenv("REUNITE_DATA_DIR", str(folder))
    table_registry.clear_caches()
    yield folder
    table_registry.clear_caches()


def test_a_table_file_under_another_name_is_refused(tmp_path, data_dir):
    source = tmp_path / "a.csv"
    source.write_text(LONG, encoding="utf-8")
    table_registry.save_table("Lab_A", read_table_csv(source), source_file=str(source))
    folder = data_dir / "frequency_tables"
    shutil.copy(folder / "Lab_A.json", folder / "Lab_B.json")
    assert get_population("Lab_A").name == "Lab_A"
    with pytest.raises(FrequencyError, match="Lab_B.json.*Lab_A"):
        get_population("Lab_B")
    with pytest.raises(FrequencyError, match="Lab_B.json"):
        table_registry.database_record("Lab_B")
    tables, problems = table_registry.scan_imported()
    assert [t.name for t in tables] == ["Lab_A"] and len(problems) == 1 and "Lab_B.json" in problems[0]
