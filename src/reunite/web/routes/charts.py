"""Pages: charts (LR distribution, reunions and open cases over time, province-to-province
flows, identification by family type in simulations), drawn as SVG on the server, each with
its numbers as a table."""

from __future__ import annotations


from fastapi import APIRouter, Depends, Request

from reunite.cases import statistics
from reunite.errors import ReuniteError
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.reports import charts
from reunite.web.pages import WebUser, page_requires, query_date, reader_session, render

router = APIRouter()

#: how the flows are dated (query parameter ``flows_by``)
FLOWS_BY = {"missing": N_("year the child went missing"), "confirmed": N_("year the identification was confirmed")}


def _svgs(data: dict) -> dict[str, str]:
    """The four charts, every word translated here."""
    labels = {"open_cases": _("Open cases"), "reunions": _("Reunions (returned home)"),
              "new_reports": _("New reports")}
    thresholds = {"notify": _("notify threshold"), "review": _("review threshold")}
    family = {k: _(v) for k, v in charts.FAMILY_TYPE_LABELS.items()}
    lr = data["lr"]
    return {
        "lr": charts.lr_histogram_svg(None, bins=lr["bins"], thresholds=lr["thresholds"],
                                      title=_("LR distribution of candidates"),
                                      x_label=_("likelihood ratio (log scale)"),
                                      y_label=_("candidates"), threshold_labels=thresholds,
                                      no_data=_("No candidates with a finite LR"), heading=False),
        "time": charts.cases_over_time_svg(data["months"], title=_("Reunions and open cases over time"),
                                           labels=labels, y_label=_("cases"),
                                           no_data=_("No reports or outcomes in this period"), heading=False),
        "flows": charts.flows_svg(data["flows"], title=_("Where children went missing and where they were found"),
                                  no_data=_("No confirmed identifications with both places in this period"),
                                  note=_("Provinces; confirmed identifications only."), heading=False),
        "family": charts.share_by_family_type_svg(
            data["family_types"], title=_("Share of true identifications by family type (simulation)"),
            labels=family, no_data=_("No simulation"),
            note=_("Simulated families: the true family ranked first with LR at or above the threshold."),
            heading=False),
    }


@router.get("/charts")
def charts_page(request: Request, user: WebUser = Depends(page_requires("statistics:read"))):
    """The charts of the user's jurisdiction for a period (``start``, ``end``: YYYY-MM-DD)."""
    error = None
    form = {k: request.query_params.get(k, "") for k in ("start", "end", "flows_by")}
    flows_by = form["flows_by"] if form["flows_by"] in FLOWS_BY else "missing"
    try:
        start, end = query_date(request, "start"), query_date(request, "end")
        with reader_session(request) as s:
            data = statistics.chart_data(s, actor=user.actor, start=start, end=end, flows_by=flows_by,
                                         settings=request.app.state.settings)
    except ReuniteError as exc:
        error = str(exc)
        with reader_session(request) as s:
            data = statistics.chart_data(s, actor=user.actor, flows_by=flows_by, settings=request.app.state.settings)
    years = sorted({y for f in data["flows"] for y in f["years"]})
    return render(request, "charts/index.html", status=400 if error else 200, data=data, svg=_svgs(data),
                  form=form, flows_by=flows_by, flows_by_options=[(k, _(v)) for k, v in FLOWS_BY.items()],
                  flows_by_label=_(FLOWS_BY[flows_by]),
                  years=years, family_labels=charts.FAMILY_TYPE_LABELS, error=error)
