"""A rescue operation's summary PDF: the operation (code, name, date, place, agency; the
place's detail, the suspects' case number and the notes for users who may read them), the
children rescued (codes, sex, category, estimated birth date, status, the report that
identified them, their outcomes) and the children's given names only for users who may see
them (their jurisdiction and ``personal:read``; every such read audited by the services).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from reunite import i18n
from reunite.errors import PermissionDenied, ReuniteError
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.reports.pdf_common import ReportPDF
from reunite.security.actor import Actor

#: values shown translated
SEX_LABELS = {"M": N_("male"), "F": N_("female"), "U": N_("unknown")}
CATEGORY_LABELS = {"rescued_child": N_("rescued child"), "unclear_origin": N_("unclear origin"),
                   "begging_child": N_("begging child"), "registration_check": N_("registration check")}
STATUS_LABELS = {"unidentified": N_("unidentified"), "identified": N_("identified")}
OUTCOME_LABELS = {"returned_home": N_("returned home"), "family_refused": N_("family refused"),
                  "welfare_placement": N_("welfare placement"), "foster_care": N_("foster care"),
                  "adoption_referral": N_("adoption referral")}


def operation_facts(session: Session, code: str, *, actor: Actor) -> dict:
    """What the summary of operation ``code`` says (``document:issue``, ``operation:read``, the
    operation in the actor's jurisdiction); run it in a write transaction (reads of names
    are audited)."""
    from reunite.cases.operations import show_operation
    from reunite.cases.outcomes import child_history
    from reunite.cases.unidentified import show_unidentified

    actor.require("document:issue")
    op = show_operation(session, code, actor=actor)
    if op.get("restricted"):
        raise PermissionDenied(f"code: rescue operation {op['code']!r} belongs to jurisdiction {op['jurisdiction']}, "
                               f"outside {actor.username}'s ({actor.jurisdiction_path}); its summary is issued there")
    children = []
    for c in op.get("children", []):
        row = dict(c)
        if actor.can("unidentified:read"):
            view = show_unidentified(session, c["code"], actor=actor)
            row["given_name"] = view.get("given_name")
            row["identified_report"] = view.get("identified_report")
            row["found_date"] = view.get("found_date")
        row["outcomes"] = []
        if actor.can("outcome:read"):
            try:
                history = child_history(session, actor=actor, child_code=c["code"])
            except ReuniteError:  # the child's record is outside the actor's jurisdiction
                history = None
            if history is not None:
                row["outcomes"] = [{"kind": o.kind, "date": o.outcome_date} for o in history.outcomes]
        children.append(row)
    return {"operation": op, "children": children, "names_shown": any(c.get("given_name") for c in children)}


def _date(value) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    return i18n.format_date(value)


def render_operation(facts: dict, *, number: int | None, issued_at: datetime, language: str) -> bytes:
    """The operation summary's PDF in ``language``."""
    with i18n.use_language(language):
        pdf = ReportPDF(title=_("Rescue operation summary"), number=number, issued_at=issued_at, language=language)
        op = facts["operation"]
        pdf.title_block(op.get("name") or op["code"])
        pdf.facts([
            (_("Report number"), str(number) if number is not None else _("(not issued)")),
            (_("Date of issue"), i18n.format_date(issued_at, format="long")),
            (_("Operation code"), op["code"]),
            (_("Name"), op.get("name")),
            (_("Date"), _date(op.get("operation_date"))),
            (_("Place"), op.get("place_name") or op.get("place")),
            (_("Place (detail)"), op.get("place_detail")),
            (_("Jurisdiction"), op.get("jurisdiction")),
            (_("Agency"), op.get("agency")),
            (_("Suspects' case number"), op.get("suspects_case_number")),
            (_("Registered by"), op.get("created_by")),
            (_("Notes"), op.get("notes")),
        ])
        children = facts["children"]
        identified = sum(1 for c in children if c["status"] == "identified")
        home = sum(1 for c in children if any(o["kind"] == "returned_home" for o in c["outcomes"]))
        pdf.heading(_("Children rescued"))
        pdf.facts([(_("Children registered"), str(len(children))), (_("Children identified"), str(identified)),
                   (_("Returned home"), str(home))])
        if children:
            names = facts["names_shown"]
            headings = [_("Code")] + ([_("Given name")] if names else []) + [
                _("Sex"), _("Category"), _("Estimated birth date"), _("Status"), _("Identified by report"),
                _("Outcomes")]
            widths = ([0.12, 0.12, 0.07, 0.13, 0.12, 0.11, 0.13, 0.20] if names
                      else [0.13, 0.08, 0.14, 0.13, 0.12, 0.14, 0.26])
            rows = []
            for c in children:
                outcomes = "\n".join(f"{_(OUTCOME_LABELS.get(o['kind'], o['kind']))} ({_date(o['date'])})"
                                     for o in c["outcomes"]) or "-"
                rows.append([c["code"]] + ([c.get("given_name") or "-"] if names else []) + [
                    _(SEX_LABELS.get(c.get("sex"), "unknown")),
                    _(CATEGORY_LABELS[c["category"]]) if c.get("category") in CATEGORY_LABELS else (c.get("category")
                                                                                                     or "-"),
                    _date(c.get("estimated_birth_date")) or "-",
                    _(STATUS_LABELS[c["status"]]) if c.get("status") in STATUS_LABELS else c.get("status", "-"),
                    c.get("identified_report") or "-", outcomes])
            pdf.grid(headings, rows, widths=widths, size=8)
            if not names:
                pdf.paragraph(_("Names are shown only to users of the children's jurisdiction who may read personal "
                                "data; this copy shows codes only."), size=8.5, color=90)
        else:
            pdf.paragraph(_("No child is registered with this operation."))
        pdf.heading(_("Registration of this report"))
        pdf.paragraph(_("This report is registered under number %(number)s: the SHA-256 of this file, who issued "
                        "it and when are recorded in the audit log of reunite. Whether a copy is unaltered can be "
                        "checked with the command below or on the page Documents, Verify a PDF.")
                      % {"number": number if number is not None else "-"}, size=9)
        pdf.paragraph(_("verify with: %(command)s") % {"command": "reunite report verify FILE.pdf"}, size=9)
        return pdf.to_bytes()
