"""Review of the store layer of issue 7: defects found by reading the code, each reproduced.

Every person and sample here is made up.
"""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.store.db import make_engine, upgrade
from reunite.store.importers import (
    ImportRejected,
    claim_samples,
    import_families,
    import_unidentified,
)
from reunite.store.models import FamilyMember, ImportBatch, Sample, Unidentified
from reunite.store.profiles import GeneticModel
from reunite.store.textio import FileFormatError, decode

MODEL = GeneticModel("CHN_national_GBT37223")
PROFILE = "D3S1358=15/16;VWA=14/17;TH01=9.3/9.3"


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    with Session(engine) as s, s.begin():
        for code in ("SFA", "SMO", "SU1", "SU2"):
            s.add(Sample(code=code, profile=PROFILE, num_loci=3))
    return engine


# ---------------------------------------------------------------------------------------
# an id cell holding only invisible characters (a zero-width space pasted with it) was
# normalised to nothing and the row, the sample link or the parent link dropped in silence


def test_invisible_only_ids_are_refused_not_dropped(engine, tmp_path):
    path = tmp_path / "families.csv"
    path.write_text("family_id,person_id,father_id,mother_id,sex,role,sample_id\n"
                    "FAM1,FA,,,M,reference,SFA\n"
                    "FAM1,MO,,,F,reference,\u200b\n"
                    "FAM1,M,FA,\u200b,F,missing,\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as exc, Session(engine) as s, s.begin():
        import_families(s, path, model=MODEL)
    text = str(exc.value)
    assert f"{path}:3:" in text and "sample_id" in text
    assert f"{path}:4:" in text and "mother_id" in text
    with Session(engine) as s:
        assert s.execute(select(FamilyMember)).first() is None

    path = tmp_path / "unidentified.csv"
    path.write_text("person_id,sample_id\nU1,SU1\n\ufeff\u200b,SU2\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as exc, Session(engine) as s, s.begin():
        import_unidentified(s, path)
    assert f"{path}:3:" in str(exc.value) and "person_id" in str(exc.value)
    with Session(engine) as s:
        assert s.execute(select(Unidentified)).first() is None


# ---------------------------------------------------------------------------------------
# an undecodable byte: the line named must be the byte's own line


def test_undecodable_byte_in_a_gbk_file_is_named_on_its_line():
    data = ("person_id,sample_id,found_place\nU1,S1,福州\nU2,S2,厦门\nU3,S3,x\n".encode("gbk")
            + b"U4,S4,\x80\n")
    with pytest.raises(FileFormatError) as exc:
        decode(data, path="g.csv")
    assert str(exc.value).startswith("g.csv:5: byte 0x80")


def test_undecodable_utf16_line_counts_characters_not_bytes():
    # U+4E0A (上) is the bytes 0A 4E in UTF-16 LE: not a line break
    data = b"\xff\xfe" + "a,b\n上上,x\n".encode("utf-16-le") + b"\x00\xd8" + "\n".encode("utf-16-le")
    with pytest.raises(FileFormatError) as exc:
        decode(data, path="u.csv")
    assert str(exc.value).startswith("u.csv:3:")


# ---------------------------------------------------------------------------------------
# a file whose name is not UTF-8 (a zip from Chinese Windows unpacked on Linux: GBK bytes in
# the name) crashed the import with a UnicodeEncodeError when its name was written


@pytest.mark.skipif(os.name != "posix", reason="byte file names")
def test_file_name_with_undecodable_bytes_imports(engine, tmp_path):
    from reunite.store.importers import import_genotypes

    folder = os.fsencode(tmp_path)
    raw = os.path.join(folder, b"\xb8\xa3\xd6\xdd.csv")
    with open(raw, "wb") as f:
        f.write(b"sample_id,locus,allele1,allele2\nS9,D3S1358,15,16\nS9,VWA,14,17\n")
    with open(os.path.join(folder, b"\xb8\xa3.csv"), "wb") as f:
        f.write(b"person_id,sample_id\nU9,S9\n")
    with Session(engine) as s, s.begin():
        report = import_genotypes(s, os.fsdecode(raw), model=MODEL)
        import_unidentified(s, os.fsdecode(os.path.join(folder, b"\xb8\xa3.csv")))
    with Session(engine) as s:
        batches = s.execute(select(ImportBatch).order_by(ImportBatch.id)).scalars().all()
        assert len(batches) == 2 and report.batch_id == batches[0].id
        for batch in batches:
            assert "\\udcb8" in batch.source
            json.loads(batch.report)


# ---------------------------------------------------------------------------------------
# a withdrawn sample is never given to a person, also when it is withdrawn while an import
# that read it as active runs (PostgreSQL: the claim is the last check)


def test_claim_refuses_a_withdrawn_sample(engine, tmp_path):
    with Session(engine) as s, s.begin():
        s.execute(Sample.__table__.update().where(Sample.code == "SU1").values(status="withdrawn"))
    with Session(engine) as s, s.begin():
        sid = s.execute(select(Sample.id).where(Sample.code == "SU1")).scalar_one()
        with pytest.raises(ImportRejected) as exc:
            claim_samples(s, tmp_path / "u.csv", [sid], "unidentified")
    assert "SU1" in str(exc.value) and "withdrawn" in str(exc.value)


def test_a_run_export_cut_off_in_its_last_line_is_refused(tmp_path):
    """GeneMapper writes every tab; a last line shorter than the header with no line break is
    a file cut off (13 with its 14 cut would read as a homozygote 13), not a short row."""
    from reunite.store.genotype_import import read_genotype_file

    header = "Sample Name\tMarker\tAllele 1\tAllele 2\n"
    rows = "".join(f"S1\t{m}\t{a}\t{b}\n" for m, a, b in (
        ("D3S1358", "15", "16"), ("vWA", "14", "17"), ("D8S1179", "12", "13"), ("D21S11", "29", "30"),
        ("D18S51", "13", "15"), ("D5S818", "11", "12"), ("D13S317", "8", "11"), ("D7S820", "10", "11"),
        ("D16S539", "9", "12"), ("CSF1PO", "10", "12"), ("TPOX", "8", "11"), ("FGA", "21", "23")))
    cut = tmp_path / "cut.txt"
    cut.write_text(header + rows + "S1\tTH01\t9")
    with pytest.raises(ImportRejected, match=r"cut\.txt:14: the file ends in the middle of this line"):
        read_genotype_file(cut, model=MODEL)
    whole = tmp_path / "whole.txt"  # the same short last line with its line break: a homozygote
    whole.write_text(header + rows + "S1\tTH01\t9\n")
    gf = read_genotype_file(whole, model=MODEL)
    assert gf.profiles["S1"]["TH01"] == ("9", "9")
