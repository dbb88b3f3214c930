"""The main journey as people take it, in a real browser (Debian's Chromium) and through the
pages only, in English and in Chinese (each on a fresh world): the laboratory uploads the
family's references, the Butuo investigator registers the missing-child report, the laboratory
uploads the rescued children's files, the new candidate is on the dashboard, its per-locus table
is read, a reviewer asks for confirmation, the confirmation sample is uploaded and attached, a
second reviewer confirms (four eyes), the welfare officer records the return home, the kinship
report PDF is downloaded and its text read, the auditor verifies the audit log, and a user of
another county is refused the report.

Every form is found by its labels and every button by its role and name, so the journey also
proves the pages are labelled; each page passes axe-core and is saved as a screenshot
(``test-artifacts/screenshots/<lang>-NN-step.png``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import pytest

from browser_support import ARTIFACTS, LiveServer, launch_browser, log_in, look, path_is, path_matches, tr
from journey_world import (CHILD, CHILD_NAME, CONFIRMATION, FATHER, LAB_SHANDONG, LAB_SICHUAN, MOTHER, REPORT,
                           REPORT_FORM, make_journey_world)

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


class Journey:
    """One language's journey: the server, the browser, numbered screenshots."""

    def __init__(self, jw, server, browser, lang: str):
        self.jw, self.server, self.browser, self.lang = jw, server, browser, lang
        self.step = 0

    def t(self, message: str, **values) -> str:
        return tr(self.lang, message, **values)

    def as_user(self, username: str, next_path: str = "/dashboard"):
        return log_in(self.browser, self.server, username, self.jw.password, self.lang, next_path=next_path)

    def look(self, page, what: str) -> None:
        self.step += 1
        look(page, f"{self.lang}-{self.step:02d}-{what}", f"{what} ({self.lang})")

    def go(self, page, path: str):
        response = page.goto(f"{self.server.url}{path}")
        assert response is not None and response.status == 200, (path, response and response.status)
        return page

    def field(self, scope, label: str):
        """The form field labelled ``label`` (translated; a required field's label ends with *)."""
        return scope.get_by_label(re.compile(rf"^\s*{re.escape(self.t(label))}[\s*]*$"))

    def upload(self, page, key: str, kind: str, *, lab: str | None = None) -> None:
        """The analyst uploads one of the laboratory's files through the upload page."""
        self.go(page, "/imports/upload")
        self.field(page, "Kind of file").select_option(kind)
        self.field(page, "File").set_input_files(str(self.jw.files[key]))
        if lab:
            page.get_by_label(self.t("Laboratory (genotypes)")).fill(lab)
        search = page.get_by_label(self.t("Search the new families or unidentified persons now"))
        search.check()
        self.look(page, f"upload-{key}")
        page.get_by_role("button", name=self.t("Upload and import")).click()
        page.wait_for_url(path_is("/imports/upload"))
        assert page.locator("h1").inner_text() == self.t("Import report"), page.content()[:3000]
        assert self.jw.files[key].name in page.locator(".flash").inner_text()
        self.look(page, f"imported-{key}")


def _pdf_text(path) -> str:
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                              text=True).stdout
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(str(path)).pages)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_from_report_to_return_home_in_the_browser(browser, tmp_path, lang):
    jw = make_journey_world(tmp_path / "world")
    with LiveServer(jw.world.app()) as server:
        j = Journey(jw, server, browser, lang)

        # 1. the Sichuan laboratory's analyst uploads the parents' reference samples
        analyst = j.as_user("analyst", "/imports/upload")
        j.upload(analyst, "references", "genotypes", lab=LAB_SICHUAN)

        # 2. the Butuo investigator registers the report with the two references and their consent
        inv = j.as_user("inv_butuo", "/reports/new")
        f = REPORT_FORM
        inv.get_by_label(j.t("Report code")).fill(f["code"])
        inv.get_by_label(j.t("Child's name")).fill(f["child_name"])
        inv.get_by_label(j.t("Sex"), exact=True).select_option(f["child_sex"])
        inv.get_by_label(j.t("Birth date (or earliest)")).fill(f["child_birth_date"])
        inv.get_by_label(j.t("Missing date")).fill(f["missing_date"])
        inv.get_by_label(j.t("Missing place (county code)")).fill(f["missing_place_code"])
        inv.get_by_label(j.t("Circumstances")).fill(f["circumstances"])
        inv.get_by_label(j.t("Contact name")).fill(f["contact_name"])
        inv.get_by_label(j.t("Telephone or address")).fill(f["contact"])
        for i, (relation, sample, sex, consent) in enumerate(f["references"], start=1):
            inv.get_by_label(f"{j.t('Relation')} {i}", exact=True).select_option(relation)
            inv.get_by_label(f"{j.t('Sample code')} {i}", exact=True).fill(sample)
            inv.get_by_label(f"{j.t('Sex')} {i}", exact=True).select_option(sex)
            inv.get_by_label(f"{j.t('Consent form')} {i}", exact=True).fill(consent)
        j.look(inv, "report-form")
        inv.get_by_role("button", name=j.t("Register the report")).click()
        inv.wait_for_url(path_is(f"/reports/{REPORT}"))
        assert j.t("Report %(code)s registered.", code=REPORT) in inv.content()
        body = inv.locator("main").inner_text()
        for text in (REPORT, CHILD_NAME, FATHER, MOTHER):
            assert text in body, text
        j.look(inv, "report")

        # 3. the Shandong laboratory uploads the rescued children's profiles, then the children
        j.upload(analyst, "rescued_genotypes", "genotypes", lab=LAB_SHANDONG)
        j.upload(analyst, "rescued_children", "unidentified")
        new = analyst.locator("main a[href^='/candidates/']")
        assert new.count() == 1, analyst.locator("main").inner_text()
        candidate_path = new.first.get_attribute("href")
        candidate_id = int(candidate_path.rsplit("/", 1)[1])

        # 4. the new candidate is on the investigator's dashboard
        j.go(inv, "/dashboard")
        link = inv.locator(f"main a[href='/candidates/{candidate_id}']")
        assert link.count() >= 1, inv.locator("main").inner_text()
        j.look(inv, "dashboard-new-candidate")

        # 5. its page: every locus with the alleles and the locus's LR, the total LR
        link.first.click()
        inv.wait_for_url(path_is(candidate_path))
        table = _locus_table(inv, j)
        rows = {r["locus"]: r for r in table}
        assert set(jw.loci) <= set(rows), sorted(set(jw.loci) - set(rows))
        for locus in jw.loci:
            child = jw.profiles[f"SD-{CHILD}"][locus]
            assert all(str(a) in rows[locus]["text"] for a in child), (locus, child, rows[locus]["text"])
            assert re.search(r"\d", rows[locus]["lr"]), (locus, rows[locus])
        total = inv.locator("dl.facts div", has=inv.locator("dt", has_text=j.t("Total LR"))).locator("dd")
        log10_lr = float(re.search(r"log10 ([\d.]+)", total.inner_text()).group(1))
        assert log10_lr >= 8, total.inner_text()
        j.look(inv, "candidate")

        # 6. the investigator assigns it to reviewer1, who reviews it and asks for confirmation
        _step(j, inv, candidate_path, "Assign", fill={"Reviewer": "reviewer1"})
        reviewer1 = j.as_user("reviewer1", candidate_path)
        _step(j, reviewer1, candidate_path, "Start the review")
        _step(j, reviewer1, candidate_path, "Request confirmation",
              fill={"Comment": "consistent with both parents at every locus (simulated)"})
        j.look(reviewer1, "confirmation-requested")

        # 7. the laboratory uploads a second sample of the child and attaches it to the candidate
        j.upload(analyst, "confirmation", "genotypes", lab=LAB_SHANDONG)
        j.go(analyst, candidate_path)
        _step(j, analyst, candidate_path, "Attach and compute", fill={"Sample code": CONFIRMATION})
        assert CONFIRMATION in analyst.locator("main").inner_text()
        j.look(analyst, "confirmation-sample")

        # 8. four eyes: reviewer1 is offered no confirm button; reviewer2 confirms
        j.go(reviewer1, candidate_path)
        assert reviewer1.get_by_role("button", name=j.t("Confirm")).count() == 0
        reviewer2 = j.as_user("reviewer2", candidate_path)
        _step(j, reviewer2, candidate_path, "Confirm", fill={"Comment": "the second sample agrees (simulated)"})
        assert j.t("confirmed") in reviewer2.locator("main").inner_text()
        j.look(reviewer2, "confirmed")

        # 9. the welfare officer records the return home
        welfare = j.as_user("welfare_linyi", f"/outcomes/new?child={CHILD}")
        assert j.field(welfare, "Child code").input_value() == CHILD
        j.field(welfare, "Outcome").select_option("returned_home")
        if not j.field(welfare, "Date").input_value():
            j.field(welfare, "Date").fill(date.today().isoformat())
        j.field(welfare, "Notes").fill("returned to the parents (simulated)")
        j.field(welfare, "Follow-up visits").fill("30,90")
        j.look(welfare, "outcome-form")
        welfare.get_by_role("button", name=j.t("Record the outcome")).click()
        welfare.wait_for_url(path_matches(r"/outcomes/\d+"))
        assert CHILD in welfare.locator("main").inner_text()
        j.look(welfare, "outcome")

        # 10. the kinship report: downloaded from the candidate page, its text read
        j.go(reviewer2, candidate_path)
        with reviewer2.expect_download() as download:
            reviewer2.get_by_role("link", name=j.t("Kinship report (PDF)")).first.click()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pdf = ARTIFACTS / f"{lang}-kinship-report.pdf"
        download.value.save_as(pdf)
        text = _pdf_text(pdf)
        squeezed = re.sub(r"\s+", "", text)
        assert CHILD in text and REPORT in text, text[:2000]
        assert "H1" in text and "H2" in text, text[:2000]
        for locus in jw.loci:
            assert locus in squeezed, locus
        for label in ("Propositions", "Total likelihood ratio (LR)"):
            assert re.sub(r"\s+", "", j.t(label)) in squeezed, label
        assert f"{log10_lr:.2f}" in text, (log10_lr, text[:3000])  # the same total LR as on the page
        for who in ("reviewer1", "reviewer2", CONFIRMATION):
            assert who in text, who

        # the file is an unaltered issued report: the verify page says so
        j.go(reviewer2, "/documents/verify")
        j.field(reviewer2, "PDF file").set_input_files(str(pdf))
        reviewer2.get_by_role("button", name=j.t("Verify"), exact=True).click()
        reviewer2.wait_for_url(path_is("/documents/verify"))
        assert "alert-info" in reviewer2.locator("#verify-result").get_attribute("class")
        j.look(reviewer2, "pdf-verified")

        # 11. the auditor verifies the audit log: the chain is intact
        auditor = j.as_user("auditor", "/audit")
        j.look(auditor, "audit")
        auditor.get_by_role("button", name=j.t("Verify the chain")).click()
        auditor.wait_for_url(path_is("/audit/verify"))
        assert j.t("The audit chain is intact.") in auditor.locator("main").inner_text()
        j.look(auditor, "audit-verified")

        # 12. a user of another county is refused the Butuo report: its code and status only, no
        # name, no references, no candidate; its edit form refused
        zhaojue = j.as_user("inv_zhaojue", f"/reports/{REPORT}")
        body = zhaojue.locator("main").inner_text()
        assert j.t("This report is owned by another jurisdiction: you see its code, status, agency and "
                   "jurisdiction only.") in body, body
        for hidden in (CHILD_NAME, FATHER, MOTHER, CHILD):
            assert hidden not in zhaojue.content(), hidden
        j.look(zhaojue, "restricted-report")
        response = zhaojue.goto(f"{server.url}/reports/{REPORT}/edit")
        assert response.status == 403, response.status
        assert CHILD_NAME not in zhaojue.content()
        j.look(zhaojue, "refused")
        zhaojue.context.close()
        for page in (analyst, inv, reviewer1, reviewer2, welfare, auditor):
            page.context.close()


def _locus_table(page, j) -> list[dict]:
    """The candidate page's per-locus table: one dict per row (locus, LR cell text, row text)."""
    table = page.locator("table", has=page.get_by_role("columnheader", name=j.t("Locus")))
    assert table.count() >= 1, page.locator("main").inner_text()[:3000]
    headers = [h.strip() for h in table.first.locator("thead th").all_inner_texts()]
    lr_col = headers.index(j.t("LR"))
    out = []
    for row in table.first.locator("tbody tr").all():
        cells = [c.strip() for c in row.locator("th, td").all_inner_texts()]
        out.append({"locus": cells[0], "lr": cells[lr_col], "text": " ".join(cells)})
    return out


def _step(j, page, candidate_path: str, button: str, *, fill: dict | None = None) -> None:
    """Take one transition on the candidate page: the button's form filled by labels, sent."""
    j.go(page, candidate_path)
    form = page.locator("form", has=page.get_by_role("button", name=j.t(button), exact=True))
    assert form.count() >= 1, (button, page.locator("main").inner_text()[:3000])
    for label, value in (fill or {}).items():
        box = j.field(form.first, label)
        if box.evaluate("e => e.tagName") == "SELECT":
            box.select_option(value)
        else:
            box.fill(value)
    form.first.get_by_role("button", name=j.t(button), exact=True).click()
    page.wait_for_url(path_is(candidate_path))
    assert page.locator(".alert-error").count() == 0, page.locator(".alert-error").all_inner_texts()
