"""Page: joint identification of a rescue operation's children (``/operations/{code}/identification``).

The page reads the view of :func:`reunite.cases.joint_identification.identify_operation`
(the same as ``reunite identify --operation CODE --json`` and the API's
``GET /api/v1/operations/{code}/identification``); it only chooses colours and words.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Request

from reunite.api.errors import status_of
from reunite.cases import joint_identification as service
from reunite.errors import ReuniteError
from reunite.i18n import N_, format_lr, format_number
from reunite.i18n import gettext as _
from reunite.web.pages import WebUser, page_requires, render

router = APIRouter()

#: the matrix's colour bands by log10 LR (each band is also written in the cell: colour never alone)
BANDS = ((6, "lr-6", N_("LR ≥ 1,000,000")), (4, "lr-4", N_("10,000 ≤ LR < 1,000,000")),
         (2, "lr-2", N_("100 ≤ LR < 10,000")), (0, "lr-0", N_("1 ≤ LR < 100")),
         (-math.inf, "lr-neg", N_("LR < 1 (against)")))


def band(cell: dict) -> str:
    """The CSS class of a matrix cell: its LR band, or excluded / not compared (sex)."""
    if cell["state"] == "excluded":
        return "lr-excluded"
    if cell["state"] == "sex":
        return "lr-sex"
    value = cell["log10_lr"]
    if isinstance(value, str):
        return "lr-6" if value == "Infinity" else "lr-neg"
    return next(css for low, css, _ in BANDS if value >= low)


def log10_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return {"Infinity": "∞", "-Infinity": "−∞"}.get(value, value)
    return f"{value:.2f}"


def lr_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return {"Infinity": "∞", "-Infinity": "−∞"}.get(value, value)
    return format_lr(value)


def probability(value) -> str:
    if value is None or isinstance(value, str):
        return "—" if value is None else value
    return f"{value:.4f}" if value >= 1e-4 or value == 0 else f"{value:.2e}"


def note_text(item: dict) -> str:
    """A note of the view (``note_items``) in the page's language."""
    kind = item["kind"]
    if kind == "identified":
        return _("Already identified, not compared: %(children)s") % {"children": ", ".join(item["children"])}
    if kind == "sample_withdrawn":
        return _("Sample withdrawn, not compared: %(children)s") % {"children": ", ".join(item["children"])}
    if kind == "loci_dropped":
        return _("Loci typed in the children but not compared (not autosomal, or not usable in the frequency "
                 "table): %(loci)s") % {"loci": ", ".join(item["loci"])}
    if kind == "theta":
        return _("The database's genetic model has θ = %(theta)s; joint identification is computed at θ = 0, so "
                 "its pairwise LRs may differ from the stored candidates'.") % {"theta": item["theta"]}
    if kind == "consent_withdrawn":
        return _("Family %(family)s: %(num)s reference(s) left out, consent withdrawn.") % {
            "family": item["family"], "num": item["num"]}
    if kind == "no_reference":
        return _("Family %(family)s: no typed reference at the compared loci; not compared.") % {
            "family": item["family"]}
    if kind == "impossible_family":
        return _("Family %(family)s: the references' genotypes are impossible on the pedigree at %(loci)s "
                 "(likelihood 0); not compared: check the pedigree and the typing.") % {
            "family": item["family"], "loci": ", ".join(item["loci"])}
    if kind == "no_missing":
        return _("Family %(family)s: no missing person; not compared.") % {"family": item["family"]}
    if kind == "found":
        return _("Missing persons already found (a confirmed candidate) are not offered to the other children: "
                 "%(missing)s") % {"missing": ", ".join(item["missing"])}
    if kind == "no_children":
        return _("The operation has no unidentified child with an active sample.")
    if kind == "no_families":
        return _("No family to compare: no child of the operation has a candidate (other than rejected), and none "
                 "was named.")
    if kind == "limit":
        return _("Pairings with a pairwise LR below %(limit)s left out of the joint search: %(num)s") % {
            "limit": item["limit"], "num": item["num"]}
    if kind == "all_zero":
        return _("Every assignment has likelihood 0.")
    return _("Note of the statistics engine: %(text)s") % {"text": item.get("text", "")}


def error_text(item: dict | None) -> str:
    """Why the joint search was not run, in the page's language."""
    if not item:
        return ""
    if item["kind"] == "too_many":
        return _("%(num)s assignments would have to be searched, more than the joint search takes. Raise the "
                 "smallest pairwise LR kept, or compare fewer families; the pairwise LRs are shown below.") % {
            "num": format_number(item["num"])}
    return item.get("text", "")


def _number(raw: str | None, *, what: str, kind=float):
    if raw is None or not raw.strip():
        return None
    try:
        return kind(raw.strip())
    except ValueError:
        raise ReuniteError(f"{what}: expected a number, found {raw[:40]!r}") from None


@router.get("/operations/{code}/identification")
def identification_page(request: Request, code: str, user: WebUser = Depends(page_requires("candidate:read"))):
    params = request.query_params
    families = [f.strip() for f in params.getlist("family") for f in f.split(",") if f.strip()][:50]
    form = {"family": ", ".join(families), "limit": params.get("limit") or "", "top": params.get("top") or ""}
    error = None
    view = None
    try:
        limit = _number(params.get("limit"), what="limit")
        top = _number(params.get("top"), what="top", kind=int)
        view = service.identify_operation_in(
            request.app.state.engine, code, actor=user.actor, model=request.app.state.model, families=families,
            limit=service.DEFAULT_LIMIT if limit is None else limit,
            top=service.DEFAULT_TOP if top is None else top)
    except ReuniteError as exc:
        if status_of(exc) in (403, 404):
            raise
        error = str(exc)
    return render(request, "identification/operation.html", status=400 if error else 200, code=code, view=view,
                  form=form, error=error, bands=BANDS, band=band, log10_text=log10_text, lr_text=lr_text, note_text=note_text, error_text=error_text, probability=probability,
                  sex_label=_sex_label)


SEXES = {"M": N_("Male"), "F": N_("Female"), "U": N_("Unknown")}


def _sex_label(sex: str) -> str:
    return _(SEXES.get(sex, SEXES["U"]))
