"""Pages: planning and validation.

- ``/reports/{code}/plan``: what a family's references can prove (the view of
  :func:`reunite.cases.planning.plan_family`, as ``reunite plan --family`` and
  ``GET /api/v1/reports/{code}/plan`` give it; audited);
- ``/planning``: expected false candidates and the share of true children found against the
  LR threshold, for the database (:func:`reunite.cases.planning.plan_database`), with its chart
  drawn on the server (inline SVG, no script).

Simulations are fewer here than at the terminal so that a page answers in a few seconds; the
results are cached by the service.  The routes only choose words."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Request

from reunite.api.errors import status_of
from reunite.cases import planning as service
from reunite.errors import PermissionDenied, ReuniteError
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.reports.charts import FAMILY_TYPE_LABELS
from reunite.reports.planning_chart import planning_svg
from reunite.web.pages import WebUser, page_requires, reader_session, render

router = APIRouter()

#: simulations of a page (the CLI and the API allow more)
FAMILY_SIMULATIONS = 20_000
#: a relative's genotypes drawn per marker when ranking relatives on a page (exact at the terminal)
RELATIVE_GENOTYPES = 24
#: the seconds a page's ranking of relatives may take (then none is ranked, and the page says so)
RELATIVES_BUDGET_S = 20.0
DATABASE_SIMULATIONS = 10_000
DATABASE_FAMILIES_PER_TYPE = 10
#: thresholds a page offers for a family
THRESHOLDS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0)
#: thresholds whose columns the database page's family-type table shows
TYPE_COLUMNS = (100.0, 10_000.0, 1_000_000.0, 100_000_000.0)

RELATIONS = {
    "father": N_("father"), "mother": N_("mother"), "child": N_("child"), "full sibling": N_("full sibling"),
    "half sibling": N_("half sibling"), "paternal grandfather": N_("paternal grandfather"),
    "paternal grandmother": N_("paternal grandmother"), "maternal grandfather": N_("maternal grandfather"),
    "maternal grandmother": N_("maternal grandmother"), "paternal uncle/aunt": N_("paternal uncle or aunt"),
    "maternal uncle/aunt": N_("maternal uncle or aunt"), "a further full sibling": N_("a further full sibling"),
    "relative": N_("relative"),
}


def relation_text(relation: str) -> str:
    return _(RELATIONS[relation]) if relation in RELATIONS else relation


def probability(value) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    if value == 0:
        return "0"
    return f"{value:.4f}" if value >= 1e-3 else f"{value:.2e}"


def log10_text(value) -> str:
    if isinstance(value, str):
        return {"Inf": "∞", "-Inf": "−∞"}.get(value, value)
    return "—" if value is None else f"{value:.2f}"


def power_text(value: float) -> str:
    exponent = math.log10(value)
    return f"10^{exponent:g}" if float(exponent).is_integer() else f"{value:g}"


def type_label(row: dict) -> str:
    """A family type in the page's language: the simulator's names, else its references."""
    if row["name"] in FAMILY_TYPE_LABELS:
        return _(FAMILY_TYPE_LABELS[row["name"]])
    return _("References: %(relations)s") % {
        "relations": ", ".join(relation_text(r) for r in row.get("references", []))}


def note_text(item: dict) -> str:
    kind = item["kind"]
    if kind == "loci_left_out":
        return _("Loci typed in the references but not searched by the database's model (left out): %(loci)s") % {
            "loci": ", ".join(item["loci"])}
    if kind == "marker":
        if not item["usable"]:
            return _("%(marker)s: the references' genotypes are impossible on this pedigree even with mutation; the "
                     "marker is left out of the totals.") % {"marker": item["marker"]}
        return _("%(marker)s: the references alone need a mutation here, so an unrelated child cannot be excluded "
                 "at this marker; it is left out of the probability of exclusion.") % {"marker": item["marker"]}
    if kind == "relatives_not_ranked":
        return _("%(num)s untyped relatives were not ranked: ranking them would take longer than a page may. "
                 "'reunite plan --family' at the terminal ranks them.") % {"num": item["num"]}
    if kind == "scaled":
        return _("Compared pairs scaled to %(n)s unidentified children (the database holds %(held)s).") % {
            "n": f"{item['num_unidentified']:,}", "held": f"{item['held']:,}"}
    if kind == "folded":
        return _("The %(shapes)s rarest family shapes (%(families)s families, %(pairs)s compared pairs) were not "
                 "simulated: they are counted at the average rate of the %(planned)s most common shapes.") % {
            "shapes": f"{item['shapes']:,}", "families": f"{item['families']:,}", "pairs": f"{item['pairs']:,}",
            "planned": item["planned"]}
    if kind == "simulated_fallback":
        return _("The database has no family with a typed reference yet: the simulated family mix is shown.")
    return kind


def _number(request: Request, name: str, default: float, *, whole: bool = False):
    text = request.query_params.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise ReuniteError(_("%(name)s: expected a number, found %(value)s") % {"name": name, "value": text[:40]}) \
            from None
    return value


@router.get("/reports/{code}/plan")
def family_plan_page(code: str, request: Request, user: WebUser = Depends(page_requires("report:read"))):
    """The family's plan at the chosen threshold (``threshold``, ``seed``)."""
    error, plan, status = None, None, 200
    form = {k: request.query_params.get(k, "") for k in ("threshold", "seed")}
    try:
        threshold = _number(request, "threshold", service.DEFAULT_THRESHOLD)
        seed = _number(request, "seed", service.DEFAULT_SEED, whole=True)
        plan = service.plan_family_in(request.app.state.engine, code, actor=user.actor, threshold=threshold,
                                      seed=seed, num_simulations=FAMILY_SIMULATIONS,
                                      relative_genotypes=RELATIVE_GENOTYPES,
                                      relatives_budget_s=RELATIVES_BUDGET_S)
    except PermissionDenied:
        raise
    except ReuniteError as exc:
        error, status = str(exc), status_of(exc)
    thresholds = [(f"{t:g}", power_text(t)) for t in THRESHOLDS]
    return render(request, "planning/family.html", status=status, code=code, plan=plan, error=error, form=form,
                  thresholds=thresholds, relation_text=relation_text, probability=probability,
                  log10_text=log10_text, note_text=note_text, power_text=power_text)


@router.get("/planning")
def database_plan_page(request: Request, user: WebUser = Depends(page_requires("statistics:read"))):
    """The database's plan (``mix``: database or simulated; ``seed``)."""
    error, status = None, 200
    asked = request.query_params.get("mix", "database")
    mix = asked if asked in service.MIXES else "database"
    form = {"seed": request.query_params.get("seed", ""), "mix": mix}
    if asked != mix:  # a mix the form does not offer is reported, not silently replaced
        error, status = _("mix: expected one of %(mixes)s, found %(value)s; the database's families are shown") % {
            "mixes": ", ".join(service.MIXES), "value": asked[:40]}, 400
    try:
        seed = _number(request, "seed", service.DEFAULT_SEED, whole=True)
    except ReuniteError as exc:
        error, status, seed = str(exc), 400, service.DEFAULT_SEED
    try:
        with reader_session(request) as s:
            plan = service.plan_database(s, actor=user.actor, seed=seed, mix=mix,
                                         num_simulations=DATABASE_SIMULATIONS,
                                         families_per_type=DATABASE_FAMILIES_PER_TYPE)
    except PermissionDenied:
        raise
    except ReuniteError as exc:
        error, status = str(exc), status_of(exc)
        with reader_session(request) as s:
            plan = service.plan_database(s, actor=user.actor, seed=service.DEFAULT_SEED, mix=mix,
                                         num_simulations=DATABASE_SIMULATIONS,
                                         families_per_type=DATABASE_FAMILIES_PER_TYPE)
    svg = planning_svg(plan, title=_("Expected false candidates and true children found"),
                       false_label=_("Expected false candidates (log scale)"),
                       found_label=_("Share of true children found"),
                       x_label=_("LR threshold (log scale)"), no_data=_("No thresholds"), heading=False)
    columns = [j for j, t in enumerate(plan["thresholds"]) if t in TYPE_COLUMNS]
    mixes = [("database", _("The database's families")), ("simulated", _("The simulated family mix"))]
    return render(request, "planning/database.html", status=status, plan=plan, svg=svg, error=error, form=form,
                  mixes=mixes, columns=columns, type_label=type_label, probability=probability,
                  power_text=power_text, note_text=note_text)
