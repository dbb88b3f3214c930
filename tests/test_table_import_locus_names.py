"""A laboratory table's locus that no shipped table and no kit knows is imported with a note
naming the closest known locus (a typo such as D8S1197 for D8S1179)."""

from __future__ import annotations

from reunite.genetics.table_import import read_table_csv


def test_a_locus_typo_gets_a_note(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text("locus,allele,frequency\nD8S1197,10,0.4\nD8S1179,11,0.6\nD8S1179,12,0.4\nD8S1197,12,0.6\n"
                    "TH01,9.3,0.5\nTH01,7,0.5\n", encoding="utf-8")
    notes = read_table_csv(path).notes
    assert notes == ["locus D8S1197 is in no shipped table and no kit: check its name (did you mean D8S1179?)"]
