"""/api/v1/statistics: the dashboard's counts, the charts' data and a period's summary, in
the user's jurisdiction (the services of :mod:`reunite.cases.statistics`, as on the
dashboard and charts pages).  Every number is counted in SQL; the pictures are drawn by the
pages, the API gives the numbers."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder

from reunite.api.deps import authenticated, get_settings_dep, reader, requires
from reunite.cases import statistics as service
from reunite.security.actor import Actor

router = APIRouter(prefix="/statistics", tags=["statistics"])
#: the days a period may start or end (records of reunite are of this century; the bounds keep
#: nonsense like year 0999 out of the month series)
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def day(description: str, required: bool = False):
    """A period's day as a query parameter (YYYY-MM-DD, 1900 to 2999)."""
    return Query(... if required else None, ge=FIRST_DAY, le=LAST_DAY, description=description)


@router.get("/dashboard", response_model=dict[str, Any],
            summary="One's dashboard: open reports, new candidates, reviews waiting, confirmations, follow-ups, "
                    "imports (a count is null where one's permissions do not cover it)")
def dashboard(actor: Actor = Depends(authenticated), session=Depends(reader), settings=Depends(get_settings_dep)):
    return jsonable_encoder(service.dashboard(session, actor=actor, settings=settings))


@router.get("/charts", response_model=dict[str, Any],
            summary="The charts' data: LR distribution, cases over time, province flows, identification by "
                    "family type (simulation)")
def charts(start: date | None = day("the period's first day"), end: date | None = day("the period's last day"),
           flows_by: Literal["missing", "confirmed"] = Query("missing", description="the date that dates a flow"),
           actor: Actor = Depends(requires("statistics:read")), session=Depends(reader),
           settings=Depends(get_settings_dep)):
    return jsonable_encoder(service.chart_data(session, actor=actor, start=start, end=end, flows_by=flows_by,
                                               settings=settings))


@router.get("/summary", response_model=dict[str, Any],
            summary="The numbers of a period (both days included): reports, candidates, operations, outcomes, "
                    "follow-ups, flows, months")
def summary(start: date = day("the period's first day", required=True),
            end: date = day("the period's last day", required=True),
            actor: Actor = Depends(requires("statistics:read")), session=Depends(reader),
            settings=Depends(get_settings_dep)):
    return jsonable_encoder(service.period_summary(session, actor=actor, start=start, end=end, settings=settings))
