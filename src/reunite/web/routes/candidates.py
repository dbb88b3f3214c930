"""Pages: the candidate list (filters, pages, sorted by LR) and the candidate page (both
pedigrees drawn, the per-locus table, flags, assumptions, posterior, sex and age,
confirmation tests, history, and the review steps this user may take).

    GET  /candidates                              the list
    GET  /candidates/{id}                         one candidate (reading names is audited)
    POST /candidates/{id}/assign                  to=reviewer, comment, version
    POST /candidates/{id}/start-review            comment, version
    POST /candidates/{id}/request-confirmation    comment, version
    POST /candidates/{id}/confirmation-sample     sample, target
    POST /candidates/{id}/confirm                 comment, version
    POST /candidates/{id}/reject                  reason, version
    POST /candidates/{id}/set-aside               reason, version

A step refused by the service shows the page again with the service's message (409 when the
candidate changed meanwhile or the step is not allowed from its status, 403 when the user may
not take it, 400 for bad input), the text typed kept.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from starlette.datastructures import FormData

from reunite.api.errors import status_of
from reunite.cases import candidates as service
from reunite.cases import confirmation, review
from reunite import i18n
from reunite.errors import ReuniteError
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.reports.pedigree import pedigree_svg
from reunite.store.models_workflow import CANDIDATE_STATUSES
from reunite.web.pages import (WebUser, checked_form, field, page_requires, parse_date, reader_session, redirect,
                                render, write)

router = APIRouter()

#: relations in pedigree labels and verbal equivalents (from the services), shown translated
SHOWN = (N_("father"), N_("mother"), N_("parent"), N_("grandfather"), N_("grandmother"), N_("grandparent"),
         N_("full sibling"), N_("half sibling"), N_("uncle"), N_("aunt"), N_("uncle or aunt"),
         N_("son or daughter"), N_("partner"), N_("relative"), N_("unrelated"),
         N_("supports the alternative: unrelated (H2)"), N_("weak support for the relationship (H1)"),
         N_("moderate support for the relationship (H1)"), N_("moderately strong support for the relationship (H1)"),
         N_("strong support for the relationship (H1)"), N_("very strong support for the relationship (H1)"),
         N_("extremely strong support for the relationship (H1)"), N_("no support for either proposition (LR = 1)"),
         N_("inconclusive (no LR)"))

#: codes the pages show in words: family types, child categories, history events, identity flags
LABELS = {"both_parents": N_("both parents"), "mother_only": N_("mother only"), "father_only": N_("father only"),
          "parents_and_sibling": N_("parents and a sibling"), "siblings_only": N_("siblings only"),
          "grandparents": N_("grandparents"), "uncle_aunt": N_("uncle or aunt"),
          "rescued_child": N_("rescued child"), "unclear_origin": N_("child of unclear origin"),
          "begging_child": N_("begging child"), "registration_check": N_("registration check"),
          "assign": N_("assigned to a reviewer"), "start_review": N_("review started"),
          "request_confirmation": N_("confirmation requested"), "confirm": N_("confirmed"), "reject": N_("rejected"),
          "set_aside": N_("set aside"), "confirmation_test": N_("confirmation test added"),
          "identical": N_("identical profile"), "identical_common_loci": N_("identical at the common loci"),
          "one_locus_apart": N_("one locus apart"), "superseded": N_("superseded"),
          "this_family_reference": N_("a reference of this family"),
          "other_family_reference": N_("a reference of another family"),
          "unidentified": N_("another unidentified child"), "sample": N_("an imported sample"),
          "report": N_("family of a missing-child report")}


def when(value: str | None) -> str:
    """An ISO timestamp from a service, in the page's language (as given if it does not parse)."""
    if not value:
        return "—"
    try:
        return i18n.format_datetime(datetime.fromisoformat(value))
    except (ValueError, TypeError):
        return str(value)


def label(code) -> str:
    """A code in words, in the page's language (the code itself when it has no words)."""
    if not code:
        return "—"
    return _(LABELS[code]) if code in LABELS else str(code)


SORTS = (("lr", N_("LR, highest first")), ("id", N_("Oldest first")))
FILTERS = ("status", "min_log10_lr", "max_log10_lr", "jurisdiction", "family_type", "created_from", "created_to",
           "assignee", "sort")
STEP_URLS = {"assign": "assign", "start-review": "start_review", "request-confirmation": "request_confirmation",
             "confirm": "confirm", "reject": "reject", "set-aside": "set_aside",
             "confirmation-sample": review.ATTACH_STEP}
DONE = {"assign": N_("The candidate was assigned."), "start_review": N_("The review has started."),
        "request_confirmation": N_("Confirmation was requested from a second reviewer."),
        "confirm": N_("The candidate was confirmed: the child is identified."),
        "reject": N_("The candidate was rejected."), "set_aside": N_("The candidate was set aside."),
        review.ATTACH_STEP: N_("The confirmation sample was attached and the LR computed again.")}


def _number(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ReuniteError(f"{name}: " + _("expected a number (log10 of the LR, e.g. 4), found %(value)s")
                           % {"value": repr(value)}) from None


def _filters(request: Request) -> dict[str, str]:
    return {k: (request.query_params.get(k) or "").strip()[:64] for k in FILTERS}


@router.get("/candidates")
def candidate_list(request: Request, user: WebUser = Depends(page_requires("candidate:read"))):
    """The candidates, filtered (status, LR range, jurisdiction, family type, days found,
    assignee), by LR (highest first) or oldest first, a page at a time."""
    filters = _filters(request)
    cursor = request.query_params.get("cursor") or None
    error, page, status = None, None, 200
    with reader_session(request) as s:
        try:
            status_value = filters["status"] or None
            if status_value is not None and status_value not in CANDIDATE_STATUSES:
                raise ReuniteError(f"status: expected one of {', '.join(CANDIDATE_STATUSES)}, found {status_value!r}")
            page = service.list_candidates(
                s, actor=user.actor, settings=request.app.state.settings, status=status_value,
                min_log10_lr=_number(filters["min_log10_lr"] or None, "min_log10_lr"),
                max_log10_lr=_number(filters["max_log10_lr"] or None, "max_log10_lr"),
                jurisdiction=filters["jurisdiction"] or None, family_type=filters["family_type"] or None,
                created_from=parse_date(filters["created_from"], "created_from"),
                created_to=parse_date(filters["created_to"], "created_to"),
                assignee=filters["assignee"] or None, sort=filters["sort"] or "lr", cursor=cursor)
        except ReuniteError as exc:
            error, status = str(exc), status_of(exc)
        choices = {"family_types": service.family_types(s, actor=user.actor),
                   "reviewers": review.reviewers(s, actor=user.actor)}
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "candidates/list.html", status=status, page=page, filters=filters, error=error, label=label,
                  statuses=CANDIDATE_STATUSES, sorts=SORTS, base_query=query, first_page=cursor is None,
                  threshold=request.app.state.settings.review_log10_lr, **choices)


def _detail_page(request: Request, user: WebUser, candidate_id: int, *, error: str | None = None,
                 status: int = 200, form: dict | None = None, focus: str | None = None):
    settings = request.app.state.settings
    page = write(request, lambda s: service.candidate_page(s, candidate_id, actor=user.actor, settings=settings))
    cand = page["candidate"]
    h1 = pedigree_svg(page["pedigrees"]["family"],
                      title=_("H1: %(child)s is %(missing)s of family %(family)s")
                      % {"child": cand["child"]["code"], "missing": cand["family"]["missing"],
                         "family": cand["family"]["code"]},
                      description=_("The family's pedigree with the child %(child)s placed as the missing person "
                                    "%(missing)s; shaded: typed persons.")
                      % {"child": cand["child"]["code"], "missing": cand["family"]["missing"]})
    h2 = pedigree_svg(page["pedigrees"]["alternative"],
                      title=_("H2: %(child)s is unrelated to family %(family)s")
                      % {"child": cand["child"]["code"], "family": cand["family"]["code"]},
                      description=_("The family's pedigree with its missing person untyped, and the child %(child)s "
                                    "drawn apart, unrelated; shaded: typed persons.")
                      % {"child": cand["child"]["code"]})
    references = [r for r in cand["references"] if r["status"] == "active"]
    return render(request, "candidates/detail.html", status=status, page=page, c=cand, h1=Markup(h1),
                  h2=Markup(h2), references=references, error=error, form=form or {}, focus=focus, label=label,
                  when=when, threshold=settings.review_log10_lr,
                  show_report=cand["status"] == "confirmed" and user.can("document:issue"))


@router.get("/candidates/{candidate_id:int}")
def candidate_page(request: Request, candidate_id: int, user: WebUser = Depends(page_requires("candidate:read"))):
    """One candidate in full (a write transaction: the reading of names is audited)."""
    return _detail_page(request, user, candidate_id)


def _version(form: FormData) -> int | None:
    value = field(form, "version")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ReuniteError(f"version: expected a whole number, found {value!r}") from None


@router.post("/candidates/{candidate_id:int}/{action}")
def candidate_step(request: Request, candidate_id: int, action: str,
                   user: WebUser = Depends(page_requires("candidate:read")), form: FormData = Depends(checked_form)):
    """Take one review step (or attach a confirmation sample); back to the candidate page."""
    step = STEP_URLS.get(action)
    if step is None:
        from reunite.errors import NotFound

        raise NotFound(f"action: no step {action!r} (one of {', '.join(STEP_URLS)})")
    actor, settings, model = user.actor, request.app.state.settings, request.app.state.model
    kept = {k: field(form, k) or "" for k in ("to", "comment", "reason", "sample", "target")}
    try:
        version = _version(form)
        comment = field(form, "comment")
        if step == "assign":
            to = field(form, "to", required=True, what=_("a reviewer"))
            work = lambda s: review.assign(s, candidate_id, actor=actor, to=to, comment=comment,  # noqa: E731
                                           version=version)
        elif step == "start_review":
            work = lambda s: review.start_review(s, candidate_id, actor=actor, comment=comment,  # noqa: E731
                                                 version=version)
        elif step == "request_confirmation":
            work = lambda s: review.request_confirmation(s, candidate_id, actor=actor,  # noqa: E731
                                                         comment=comment, version=version)
        elif step == "confirm":
            work = lambda s: review.confirm(s, candidate_id, actor=actor, comment=comment,  # noqa: E731
                                            version=version, settings=settings)
        elif step == "reject":
            reason = field(form, "reason", required=True, what=_("why the candidate is rejected"))
            work = lambda s: review.reject(s, candidate_id, actor=actor, reason=reason,  # noqa: E731
                                           version=version)
        elif step == "set_aside":
            reason = field(form, "reason", required=True, what=_("why the candidate is set aside"))
            work = lambda s: review.set_aside_by_reviewer(s, candidate_id, actor=actor,  # noqa: E731
                                                          reason=reason, version=version)
        else:
            sample = field(form, "sample", required=True, what=_("the code of an imported sample"))
            target = field(form, "target", required=True, what=_("'child' or a person of the pedigree"))
            work = lambda s: confirmation.add_confirmation_sample(  # noqa: E731
                s, candidate_id, actor=actor, sample_code=sample, target=target, model=model, settings=settings)
        write(request, work)
    except ReuniteError as exc:
        return _detail_page(request, user, candidate_id, error=str(exc), status=status_of(exc), form=kept,
                            focus=step)
    return redirect(request, f"/candidates/{candidate_id}", flash=_(DONE[step]))
