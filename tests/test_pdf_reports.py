"""PDF reports: the kinship report of a confirmed candidate read back as text (pdftotext where
installed, else pypdf) in both languages; the register of issued reports (verify says yes for
the file, no once one byte changed); the CLI's verify exit codes; refusals.

Simulated data only (never real people)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from datetime import date

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from reunite.cases import review
from reunite.cases.candidates import candidate_detail
from reunite.cases.confirmation import add_confirmation_sample
from reunite.cli import app
from reunite.errors import Conflict, PermissionDenied
from reunite.reports import registry
from reunite.reports.pdf import issue_kinship_report, issue_operation_report, issue_statistics_report
from reunite.reports.pdf_common import prior_text
from reunite.store.models import Unidentified
from reunite.store.models_workflow import AuditEntry, IssuedReport
from review_fixtures import build, second_child_sample, to_confirmation_requested


def pdf_text(data: bytes, tmp_path) -> str:
    """The text of a PDF: pdftotext (poppler) when installed, else pypdf."""
    if shutil.which("pdftotext"):
        path = tmp_path / "read.pdf"
        path.write_bytes(data)
        return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True,
                              text=True, timeout=60).stdout
    import io

    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def compact(text: str) -> str:
    """The text without white space (pypdf spaces out CJK glyphs; tables break lines)."""
    return re.sub(r"\s+", "", text)


def confirm_one(rw) -> tuple[int, str, str]:
    """Walk the first true match to 'confirmed': reviewer1 requests confirmation, a second
    sample of the child is attached, reviewer2 confirms.  (candidate id, child, family)."""
    u, f, _, cid = rw.true_pairs()[0]
    to_confirmation_requested(rw, cid)
    second_child_sample(rw, u, "SCHILD2")
    rw.write(lambda s: add_confirmation_sample(s, cid, actor=rw.actor("analyst"), sample_code="SCHILD2",
                                               target="child", model=rw.model))
    rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("reviewer2"), settings=rw.world.settings))
    return cid, u, f


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pdf")
    rw = build(tmp)
    cid, child, family = confirm_one(rw)
    docs = {lang: rw.write(lambda s: issue_kinship_report(s, cid, actor=rw.actor("inv_butuo"), language=lang,
                                                          settings=rw.world.settings))
            for lang in ("zh_CN", "en")}
    detail = rw.write(lambda s: candidate_detail(s, cid, actor=rw.actor("inv_butuo"), settings=rw.world.settings))
    yield {"rw": rw, "cid": cid, "child": child, "family": family, "docs": docs, "detail": detail, "tmp": tmp}
    rw.engine.dispose()


def test_the_kinship_report_says_what_a_court_needs(world, tmp_path):
    detail = world["detail"]
    for lang, doc in world["docs"].items():
        text = pdf_text(doc.pdf, tmp_path)
        flat = compact(text)
        assert doc.pdf.startswith(b"%PDF") and doc.filename.endswith(f"-{lang}.pdf")
        # the propositions
        if lang == "en":
            assert "H1: the child" in text and "H2: the child" in text and "is unrelated to family" in text
            assert "Kinship report" in text and "Posterior probability of H1" in text
        else:
            assert "亲缘鉴定报告" in flat and "无亲缘关系" in flat and "H1的后验概率" in flat
        assert compact(f"{world['child']}") in flat and world["family"] in flat
        # every locus compared, and the total LR to its printed precision
        for row in detail["loci"]:
            if row["lr"] is not None:
                assert row["locus"] in flat, (lang, row["locus"])
        printed = re.search(r"log10LR(-?\d+\.\d{4})", flat)
        assert printed and math.isclose(float(printed.group(1)), detail["log10_lr"], abs_tol=5e-5)
        # the prior, θ, the frequency table and its source, the software, the verification line
        assert compact(prior_text(detail["prior"])) in flat
        assert "θ=0" in flat
        assert "CHN_national_GBT37223" in flat and "CN_GBT37223_APPD" in flat
        assert "reunite0.1" in flat or "reunite" in flat
        assert "reunitereportverifyFILE.pdf" in flat
        # the confirmation sample and the reviewers (display names) with the number of the report
        assert "SCHILD2" in flat and "Reviewer1" in flat and "Reviewer2" in flat
        assert str(doc.number) in flat
    zh = compact(pdf_text(world["docs"]["zh_CN"].pdf, tmp_path))
    missing_name = detail["family"]["personal"]["child"]["name"]
    assert missing_name.startswith("王小") and missing_name in zh  # the Chinese name, from the embedded font


def test_each_issued_report_is_registered_with_its_hash_in_the_audit_log(world):
    rw = world["rw"]
    for doc in world["docs"].values():
        row = rw.read(lambda s: s.get(IssuedReport, doc.number))
        assert row.sha256 == registry.sha256_of(doc.pdf) and row.size_bytes == len(doc.pdf)
        assert row.kind == "kinship" and row.subject == str(world["cid"]) and row.issued_by == "inv_butuo"
        entry = rw.read(lambda s: s.execute(select(AuditEntry).where(AuditEntry.seq == row.audit_seq)).scalar_one())
        assert entry.action == "document.issue" and row.sha256 in entry.details


def test_verify_says_yes_for_the_file_and_no_after_one_byte_changed(world):
    rw = world["rw"]
    doc = world["docs"]["en"]
    ok = rw.read(lambda s: registry.verify(s, doc.pdf))
    assert ok.issued and ok.status == "issued" and ok.report["id"] == doc.number
    changed = bytearray(doc.pdf)
    changed[len(changed) // 2] ^= 0x01
    bad = rw.read(lambda s: registry.verify(s, bytes(changed)))
    assert not bad.issued and bad.status == "altered" and bad.report["id"] == doc.number
    assert "altered" in bad.describe()
    unknown = rw.read(lambda s: registry.verify(s, b"%PDF-1.4 not ours"))
    assert not unknown.issued and unknown.status == "unknown"
    assert rw.read(lambda s: registry.verify(s, b"hello")).status == "not_pdf"


def test_the_cli_verifies_and_issues(world, tmp_path):
    rw = world["rw"]
    env = {"REUNITE_DATABASE_URL": rw.world.url, "COLUMNS": "200"}
    good = tmp_path / "good.pdf"
    good.write_bytes(world["docs"]["zh_CN"].pdf)
    result = CliRunner().invoke(app, ["report", "verify", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert "unaltered issued report" in result.output and "inv_butuo" in result.output
    assert f"subject: {world['cid']}" in result.output
    bad = tmp_path / "bad.pdf"
    data = bytearray(good.read_bytes())
    data[-100] ^= 0x01
    bad.write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["report", "verify", str(bad)], env=env)
    assert result.exit_code == 1 and "NOT" in result.output
    # issuing through the CLI acts as a user and registers the file written
    out = tmp_path / "kinship.pdf"
    result = CliRunner().invoke(app, ["report", "kinship", str(world["cid"]), "--out", str(out), "--lang", "en",
                                      "--as", "reviewer2"], env=env)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["report", "verify", str(out)], env=env)
    assert result.exit_code == 0 and "issued by: reviewer2" in result.output


def test_refused_for_a_candidate_not_confirmed_and_without_the_permission(world):
    rw = world["rw"]
    other = next(c for u, f, m, c in rw.true_pairs()[1:]
                 if rw.read(lambda s: review.state(s, c))["status"] != "confirmed")
    with pytest.raises(Conflict, match="confirmed"):
        rw.write(lambda s: issue_kinship_report(s, other, actor=rw.actor("inv_butuo"), language="en",
                                                settings=rw.world.settings))
    with pytest.raises(PermissionDenied, match="document:issue"):  # auditors read, they do not issue
        rw.write(lambda s: issue_kinship_report(s, world["cid"], actor=rw.actor("auditor"), language="en",
                                                settings=rw.world.settings))
    with pytest.raises(PermissionDenied, match="jurisdiction"):  # another county's candidate
        rw.write(lambda s: issue_kinship_report(s, world["cid"], actor=rw.actor("inv_zhaojue"), language="en",
                                                settings=rw.world.settings))
    count = rw.read(lambda s: s.query(IssuedReport).filter(IssuedReport.subject == str(other)).count())
    assert count == 0  # nothing registered for a refused report


def test_operation_summary_and_statistics_report(world, tmp_path):
    from reunite.cases.operations import create_operation

    rw = world["rw"]

    def make(s):
        op = create_operation(s, actor=rw.actor("inv_linyi"), code="OP-PDF-1", name="春雷行动",
                              operation_date=date(2025, 3, 1))
        s.execute(update(Unidentified).where(Unidentified.code == world["child"]).values(operation_id=op.id))

    rw.write(make)
    doc = rw.write(lambda s: issue_operation_report(s, "OP-PDF-1", actor=rw.actor("inv_linyi"), language="zh_CN"))
    flat = compact(pdf_text(doc.pdf, tmp_path))
    assert "解救行动摘要" in flat and "春雷行动" in flat and world["child"] in flat
    assert f"child{world['child']}" in flat  # the child's name (simulated), shown in Linyi
    coded = rw.write(lambda s: issue_operation_report(s, "OP-PDF-1", actor=rw.actor("analyst"), language="en"))
    flat = compact(pdf_text(coded.pdf, tmp_path))
    assert world["child"] in flat and f"child{world['child']}" not in flat  # codes only for the analyst
    with pytest.raises(PermissionDenied):
        rw.write(lambda s: issue_operation_report(s, "OP-PDF-1", actor=rw.actor("inv_butuo"), language="en"))
    stats = rw.write(lambda s: issue_statistics_report(s, actor=rw.actor("inv_butuo"), start=date(2020, 1, 1),
                                                       end=date.today(), language="en", settings=rw.world.settings))
    text = pdf_text(stats.pdf, tmp_path)
    assert "Statistics report" in text and "Missing-child reports" in text
    assert rw.read(lambda s: registry.verify(s, stats.pdf)).issued
    page = rw.read(lambda s: registry.list_issued(s, actor=rw.actor("inv_butuo")))
    assert {r["kind"] for r in page.items} >= {"kinship", "statistics"}
    assert all(r["subject"] != "OP-PDF-1" for r in page.items)  # Linyi's operation: not Butuo's
