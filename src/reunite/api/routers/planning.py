"""Planning and validation (the services of :mod:`reunite.cases.planning`, as ``reunite plan``
and the web's planning pages give them):

- GET /api/v1/reports/{code}/plan: what a family's references can prove (``code``: a report's
  code or a family's code), audited;
- GET /api/v1/planning/database: expected false candidates and the share of true children
  found against the LR threshold, at the database's size and family mix.

The numbers of simulations are bounded here so that a request stays short; the CLI allows
more."""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.encoders import jsonable_encoder

from reunite.api.deps import get_engine, get_model, reader, requires
from reunite.cases import planning as service
from reunite.errors import ReuniteError
from reunite.security.actor import Actor

router = APIRouter(tags=["planning"])

#: the most simulations one request may ask for (family; database, per family type)
MAX_FAMILY_SIMULATIONS = 200_000
MAX_DATABASE_SIMULATIONS = 20_000
MAX_FAMILIES_PER_TYPE = 20
#: a relative's genotypes drawn per marker when ranking relatives (exact enumeration: the CLI)
RELATIVE_GENOTYPES = 24
MAX_RELATIVE_GENOTYPES = 100
#: the seconds a request's ranking of relatives may take (then none is ranked, and the plan says so)
RELATIVES_BUDGET_S = 20.0


def parse_thresholds(text: str | None) -> list[float] | None:
    """``"1e2,1e4"`` -> [100.0, 10000.0]; a bad value is an error naming ``thresholds``."""
    if text is None or not text.strip():
        return None
    out = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            value = math.nan
        if not (value > 0 and math.isfinite(value)):
            raise ReuniteError(f"thresholds: expected LR thresholds > 0 separated by commas (e.g. 1e2,1e4), "
                               f"found {part.strip()[:40]!r}")
        out.append(value)
    if len(out) > 40:
        raise ReuniteError(f"thresholds: at most 40 thresholds, found {len(out)}")
    return out


@router.get("/reports/{code}/plan", response_model=dict[str, Any],
            summary="What a family's references can prove: the LR expected for the true child against an "
                    "unrelated child, exclusion, P(LR >= threshold), the relatives who would add most")
def family_plan(code: str = Path(min_length=1, max_length=128, description="a report's code or a family's code"),
                threshold: float = Query(service.DEFAULT_THRESHOLD, gt=0, le=1e300, description="the LR threshold"),
                seed: int = Query(service.DEFAULT_SEED, ge=0, le=2**62, description="the simulations' seed"),
                simulations: int = Query(service.DEFAULT_SIMULATIONS, ge=100, le=MAX_FAMILY_SIMULATIONS,
                                         description="simulated LR totals"),
                relatives: bool = Query(True, description="rank the untyped relatives"),
                missing: str | None = Query(None, min_length=1, max_length=128,
                                            description="the missing person (when the family has several)"),
                relative_genotypes: int = Query(RELATIVE_GENOTYPES, ge=1, le=MAX_RELATIVE_GENOTYPES,
                                                description="rank relatives over this many of their genotypes "
                                                            "drawn per marker (exact: 'reunite plan --family')"),
                actor: Actor = Depends(requires("report:read")), engine=Depends(get_engine),
                model=Depends(get_model)):
    return jsonable_encoder(service.plan_family_in(
        engine, code, actor=actor, threshold=threshold, seed=seed, num_simulations=simulations, relatives=relatives,
        missing=missing, model=model, relative_genotypes=relative_genotypes, relatives_budget_s=RELATIVES_BUDGET_S))


@router.get("/planning/database", response_model=dict[str, Any],
            summary="Expected false candidates and the share of true children found against the LR threshold, "
                    "by family type, at the database's size and family mix (simulation)")
def database_plan(thresholds: str | None = Query(None, max_length=1000,
                                                 description="LR thresholds, comma-separated (default 10^0 to 10^12)"),
                  seed: int = Query(service.DEFAULT_SEED, ge=0, le=2**62, description="the simulations' seed"),
                  simulations: int = Query(20_000, ge=100, le=MAX_DATABASE_SIMULATIONS,
                                           description="simulated LR totals per family type"),
                  families_per_type: int = Query(20, ge=1, le=MAX_FAMILIES_PER_TYPE,
                                                 description="simulated families per family type"),
                  mix: Literal["database", "simulated"] = Query("database", description="the family mix"),
                  unidentified: int | None = Query(None, ge=0, le=10**9,
                                                   description="plan for this many unidentified persons"),
                  actor: Actor = Depends(requires("statistics:read")), session=Depends(reader),
                  model=Depends(get_model)):
    ts = parse_thresholds(thresholds)
    kwargs = {} if ts is None else {"thresholds": ts}
    return jsonable_encoder(service.plan_database(
        session, actor=actor, seed=seed, num_simulations=simulations, families_per_type=families_per_type,
        mix=mix, num_unidentified=unidentified, model=model, **kwargs))
