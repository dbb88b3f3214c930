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
from reunite.i18n import N_, format_lr
from reunite.i18n import gettext as _
from reunite.web.pages import WebUser, page_requires, render, write

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
        view = write(request, lambda s: service.identify_operation(
            s, code, actor=user.actor, model=request.app.state.model, families=families,
            limit=service.DEFAULT_LIMIT if limit is None else limit, top=top or service.DEFAULT_TOP))
    except ReuniteError as exc:
        if status_of(exc) in (403, 404):
            raise
        error = str(exc)
    return render(request, "identification/operation.html", status=400 if error else 200, code=code, view=view,
                  form=form, error=error, bands=BANDS, band=band, log10_text=log10_text, lr_text=lr_text, probability=probability,
                  sex_label=_sex_label)


SEXES = {"M": N_("Male"), "F": N_("Female"), "U": N_("Unknown")}


def _sex_label(sex: str) -> str:
    return _(SEXES.get(sex, SEXES["U"]))
