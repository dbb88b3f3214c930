"""The statistics report of a period: the numbers of
:func:`reunite.cases.statistics.period_summary` (reports, candidates, confirmations,
operations, children found, outcomes by kind, follow-up visits, imports) in the actor's
jurisdiction, with the charts (cases over time, province-to-province flows, the LR
distribution of the candidates) drawn by :mod:`reunite.reports.charts`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from reunite import i18n
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.reports.pdf_common import ReportPDF
from reunite.security.actor import Actor

REPORT_STATUS_LABELS = {"open": N_("open"), "candidate_under_review": N_("candidate under review"),
                        "identified": N_("identified"), "closed": N_("closed")}
CANDIDATE_STATUS_LABELS = {"new": N_("new"), "assigned": N_("assigned"), "under_review": N_("under review"),
                           "confirmation_requested": N_("confirmation requested")}


def statistics_facts(session: Session, *, actor: Actor, start: date, end: date, settings=None) -> dict:
    """The numbers and series of the period (``document:issue`` and ``statistics:read``)."""
    from reunite.cases import statistics

    actor.require("document:issue")
    summary = statistics.period_summary(session, actor=actor, start=start, end=end, settings=settings)
    lr = statistics.lr_distribution(session, actor=actor, settings=settings)
    return {"summary": summary, "lr": lr, "start": start, "end": end, "scope": actor.jurisdiction_path,
            "actor": actor.username}


def _n(value) -> str:
    return "-" if value is None else i18n.format_number(value)


def _chart(pdf: ReportPDF, make) -> None:
    try:
        svg = make()
    except NotImplementedError:  # pragma: no cover - a chart not built yet
        pdf.paragraph(_("(This chart is not available.)"), size=8.5, color=90)
        return
    pdf.svg(svg, max_height=90)


def render_statistics(facts: dict, *, number: int | None, issued_at: datetime, language: str) -> bytes:
    """The statistics report's PDF in ``language``."""
    from reunite.reports import charts
    from reunite.reports.pdf_operation import OUTCOME_LABELS

    s = facts["summary"]
    with i18n.use_language(language):
        pdf = ReportPDF(title=_("Statistics report"), number=number, issued_at=issued_at, language=language)
        period = _("%(start)s to %(end)s") % {"start": i18n.format_date(facts["start"], format="long"),
                                              "end": i18n.format_date(facts["end"], format="long")}
        pdf.title_block(period)
        pdf.facts([
            (_("Report number"), str(number) if number is not None else _("(not issued)")),
            (_("Date of issue"), i18n.format_date(issued_at, format="long")),
            (_("Period covered"), period),
            (_("Jurisdiction"), facts["scope"]),
            (_("Issued by"), facts["actor"]),
        ])
        pdf.paragraph(_("Counts of the records in the jurisdiction of the user who issued the report; "
                        "'in the period' counts what happened between the first and the last day, both "
                        "included; 'now' counts the records as they are on the date of issue."), size=8.5, color=90)

        r, c, f = s["reports"], s["candidates"], s["follow_ups"]
        pdf.heading(_("Missing-child reports"))
        pdf.facts([(_("Registered in the period"), _n(r["new"])), (_("Open at the end of the period"),
                                                                   _n(r.get("open_at_end"))),
                   (_("All reports now"), _n(r["total"]))]
                  + [(_(REPORT_STATUS_LABELS.get(k, k)) + " " + _("(now)"), _n(v)) for k, v in r["by_status"].items()])

        pdf.heading(_("Candidates and confirmations"))
        pdf.facts([(_("New candidates in the period"), _n(c["new"])),
                   (_("New candidates at or above the notify threshold"), _n(c["new_above_threshold"])),
                   (_("Confirmation requested in the period"), _n(c["confirmation_requested"])),
                   (_("Confirmation samples added in the period"), _n(s["confirmation_tests"])),
                   (_("Confirmed in the period"), _n(c["confirmed"])),
                   (_("Rejected in the period"), _n(c["rejected"]))]
                  + [(_(CANDIDATE_STATUS_LABELS.get(k, k)) + " " + _("(now)"), _n(v))
                     for k, v in c["open_by_status"].items()], label_width=0.45)

        pdf.heading(_("Rescue operations and children found"))
        pdf.facts([(_("Rescue operations in the period"), _n(s["operations"]["count"])),
                   (_("Children registered through them"), _n(s["operations"]["children"])),
                   (_("Unidentified children found in the period"), _n(s["unidentified"]["found"])),
                   (_("Lab files imported in the period"), _n(s.get("imports")) if s.get("imports") is not None
                    else "")], label_width=0.45)

        pdf.heading(_("Outcomes and follow-up visits"))
        pdf.facts([(_(OUTCOME_LABELS.get(k, k)), _n(v)) for k, v in s["outcomes"].items()]
                  + [(_("Follow-up visits due in the period"), _n(f["due"])),
                     (_("Follow-up visits done in the period"), _n(f["done"])),
                     (_("Follow-up visits overdue at the end of the period"), _n(f["overdue_at_end"]))],
                  label_width=0.45)

        pdf.heading(_("Reunions and open cases over time"))
        labels = {"open_cases": _("Open cases"), "reunions": _("Reunions (returned home)"),
                  "new_reports": _("New reports")}
        _chart(pdf, lambda: charts.cases_over_time_svg(s["months"], title=_("Reunions and open cases over time"),
                                                       labels=labels, y_label=_("cases"),
                                                       no_data=_("No reports or outcomes in this period")))
        months = [m for i, m in enumerate(s["months"]) if m.get("new_reports") or m.get("reunions")
                  or i == len(s["months"]) - 1]
        if months:
            pdf.grid([_("Month"), _("New reports"), _("Reunions (returned home)"), _("Open cases")],
                     [[m["period"], _n(m.get("new_reports")), _n(m.get("reunions")), _n(m.get("open_cases"))]
                      for m in months], widths=[0.25, 0.25, 0.25, 0.25], size=8)
            pdf.paragraph(_("Months with new reports or reunions, and the last month of the period."), size=8.5,
                          color=90)

        flows_title = _("Where children went missing and where they were found")
        pdf.heading(flows_title)
        _chart(pdf, lambda: charts.flows_svg(s["flows"], title=flows_title,
                                             no_data=_("No confirmed identifications with both places in this period"),
                                             note=_("Provinces; confirmed identifications only.")))
        if s["flows"]:
            pdf.grid([_("Province where the child went missing"), _("Province where the child was found"),
                      _("Children")],
                     [[fl["from_name"], fl["to_name"], _n(fl["count"])] for fl in s["flows"]],
                     widths=[0.4, 0.4, 0.2], size=8)

        lr = facts["lr"]
        pdf.heading(_("LR distribution of candidates"))
        thresholds = {"notify": _("notify threshold"), "review": _("review threshold")}
        _chart(pdf, lambda: charts.lr_histogram_svg(None, bins=lr["bins"], thresholds=lr["thresholds"],
                                                    title=_("LR distribution of candidates"),
                                                    x_label=_("likelihood ratio (log scale)"), y_label=_("candidates"),
                                                    threshold_labels=thresholds,
                                                    no_data=_("No candidates with a finite LR")))
        pdf.paragraph(_("All candidates in the jurisdiction now, not only those of the period."), size=8.5, color=90)

        pdf.heading(_("Registration of this report"))
        pdf.paragraph(_("This report is registered under number %(number)s: the SHA-256 of this file, who issued "
                        "it and when are recorded in the audit log of reunite. Whether a copy is unaltered can be "
                        "checked with the command below or on the page Documents, Verify a PDF.")
                      % {"number": number if number is not None else "-"}, size=9)
        pdf.paragraph(_("verify with: %(command)s") % {"command": "reunite report verify FILE.pdf"}, size=9)
        return pdf.to_bytes()
