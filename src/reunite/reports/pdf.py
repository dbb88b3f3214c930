"""PDF reports issued by reunite (the services the web pages, the CLI and the API call):

- :func:`issue_kinship_report`: the kinship report of a confirmed candidate
  (:mod:`reunite.reports.pdf_kinship`);
- :func:`issue_operation_report`: a rescue operation's summary
  (:mod:`reunite.reports.pdf_operation`);
- :func:`issue_statistics_report`: the statistics report of a period
  (:mod:`reunite.reports.pdf_statistics`).

Each gathers its facts (checking the actor's permissions and jurisdiction), reserves the
report number, makes the PDF once in the requested language and registers the hash of those
very bytes (:mod:`reunite.reports.registry`; audited ``document.issue``).  Run each in one
write transaction; serve the returned bytes as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from reunite import i18n
from reunite.errors import ReuniteError
from reunite.reports import registry
from reunite.security.actor import Actor


@dataclass
class IssuedDocument:
    """An issued report: its register entry (:func:`registry.report_dict`), the PDF's bytes
    and a file name for it."""

    report: dict
    pdf: bytes
    filename: str

    @property
    def number(self) -> int:
        return self.report["id"]

    @property
    def sha256(self) -> str:
        return self.report["sha256"]


def _language(language: str | None) -> str:
    return i18n.check_language(language or i18n.DEFAULT_LANGUAGE, what="lang")


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:60] or "report"


def issue_kinship_report(session: Session, candidate_id: int, *, actor: Actor, language: str | None = None,
                         settings=None) -> IssuedDocument:
    """The kinship report of confirmed candidate ``candidate_id``, issued and registered
    (``document:issue``; refused for a candidate not confirmed)."""
    from reunite.reports.pdf_kinship import kinship_facts, render_kinship

    lang = _language(language)
    actor.require("document:issue")
    with i18n.use_language(lang):  # the pedigrees' labels (father, mother ...) in the report's language
        facts = kinship_facts(session, candidate_id, actor=actor, settings=settings)
    row, data = registry.issue_rendered(
        session, actor=actor, kind="kinship", subject=str(facts["candidate"]), language=lang,
        render=lambda number, at: render_kinship(facts, number=number, issued_at=at, language=lang))
    return IssuedDocument(registry.report_dict(row), data,
                          f"kinship-report-{row.id}-candidate-{facts['candidate']}-{lang}.pdf")


def issue_operation_report(session: Session, code: str, *, actor: Actor, language: str | None = None) -> IssuedDocument:
    """The summary of rescue operation ``code`` (in the actor's jurisdiction), issued."""
    from reunite.reports.pdf_operation import operation_facts, render_operation

    lang = _language(language)
    actor.require("document:issue")
    facts = operation_facts(session, code, actor=actor)
    row, data = registry.issue_rendered(
        session, actor=actor, kind="operation", subject=facts["operation"]["code"], language=lang,
        render=lambda number, at: render_operation(facts, number=number, issued_at=at, language=lang))
    return IssuedDocument(registry.report_dict(row), data,
                          f"operation-summary-{row.id}-{_safe(facts['operation']['code'])}-{lang}.pdf")


def check_period(start: date | None, end: date | None) -> tuple[date, date]:
    """A period's first and last day (both given, start not after end)."""
    if start is None or end is None:
        raise ReuniteError(f"{'start' if start is None else 'end'}: expected a date (YYYY-MM-DD), found nothing")
    if start > end:
        raise ReuniteError(f"end: expected a date on or after start {start.isoformat()}, found {end.isoformat()}")
    return start, end


def issue_statistics_report(session: Session, *, actor: Actor, start: date | None, end: date | None,
                            language: str | None = None, settings=None) -> IssuedDocument:
    """The statistics report of the period ``start`` to ``end`` (what the actor may see), issued."""
    from reunite.reports.pdf_statistics import render_statistics, statistics_facts

    lang = _language(language)
    actor.require("document:issue")
    start, end = check_period(start, end)
    facts = statistics_facts(session, actor=actor, start=start, end=end, settings=settings)
    subject = f"{start.isoformat()}/{end.isoformat()}"
    row, data = registry.issue_rendered(
        session, actor=actor, kind="statistics", subject=subject, language=lang,
        render=lambda number, at: render_statistics(facts, number=number, issued_at=at, language=lang))
    return IssuedDocument(registry.report_dict(row), data,
                          f"statistics-report-{row.id}-{start.isoformat()}-{end.isoformat()}-{lang}.pdf")
