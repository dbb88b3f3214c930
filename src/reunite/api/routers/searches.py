"""/api/v1/searches: one-to-many searches of unidentified persons against every family (the
server's in-memory family index), and the searches left pending.  Codes only."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from reunite.api.deps import get_engine, get_model, requires
from reunite.api.index_cache import index_cache
from reunite.api.routers.imports import SearchSummaryOut, summary_out
from reunite.cases import intake
from reunite.genetics.kinship import json_number
from reunite.security.actor import Actor

router = APIRouter(prefix="/searches", tags=["searches"])

SCAN_THREADS = os.cpu_count() or 1  # one search's scan is split between threads (it releases the GIL)
Code = Annotated[str, Field(min_length=1, max_length=128)]


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unidentified: list[Code] = Field(min_length=1, max_length=100,
                                     description="codes of the unidentified persons to search against every family")
    min_lr: float = Field(1.0, ge=0.0, le=1e300, allow_inf_nan=False, description="report candidates with LR >= this")
    top: int = Field(20, ge=1, le=1000, description="at most this many candidates per person")
    age_tolerance: float = Field(3.0, ge=0.0, le=150.0, allow_inf_nan=False,
                                 description="years an estimated birth date may be off")
    store: bool = Field(True, description="store the candidates (idempotent) and notify their owners")


class CandidateOut(BaseModel):
    rank: int
    candidate_id: int | None
    unidentified: str
    family: str
    missing: str
    lr: float | str  # "Inf" for an infinite LR (JSON has no infinity), as everywhere in the API
    log10_lr: float | str
    loci_compared: int
    inconsistent_loci: list[str]
    flags: list[dict]


class SearchOut(BaseModel):
    searched: list[str]
    pairs_compared: int
    skipped_sex: int
    skipped_age: int
    skipped_loci: int
    candidates: list[CandidateOut]
    new_candidate_ids: list[int]
    notes: list[str]
    identity_flags: dict[str, list[str]]


class PendingOut(BaseModel):
    families: int
    unidentified: int


class PendingRun(BaseModel):
    searches: list[SearchSummaryOut]


@router.post("", response_model=SearchOut)
def run_search(
    body: SearchIn,
    actor: Actor = Depends(requires("search:run")),
    engine=Depends(get_engine),
    model=Depends(get_model),
    cache=Depends(index_cache),
):
    """Search unidentified persons (codes) against every family: ranked candidates with LR,
    log10 LR, family and missing person's codes, identity flags."""
    found = intake.search_unidentified(engine, model, actor=actor, codes=body.unidentified, min_lr=body.min_lr,
                                       top=body.top, age_tolerance=body.age_tolerance, store=body.store,
                                       index=cache, workers=SCAN_THREADS)
    r = found.result
    ids = found.candidate_ids
    return SearchOut(
        searched=list(body.unidentified), pairs_compared=r.num_compared, skipped_sex=r.skipped_sex,
        skipped_age=r.skipped_age, skipped_loci=r.skipped_loci,
        candidates=[CandidateOut(rank=c.rank, candidate_id=ids.get((c.unidentified.id, c.family.id, c.missing)),
                                 unidentified=c.unidentified.code, family=c.family.code, missing=c.missing,
                                 lr=json_number(c.lr), log10_lr=json_number(c.log10_lr), loci_compared=c.loci_compared,
                                 inconsistent_loci=list(c.inconsistent_loci), flags=list(c.flags))
                    for c in r.candidates],
        new_candidate_ids=found.summary.new_candidate_ids, notes=found.notes, identity_flags=found.lone_flags)


@router.get("/pending", response_model=PendingOut)
def pending(actor: Actor = Depends(requires("search:run")), engine=Depends(get_engine)):
    """How many searches are recorded as pending (an import or a report whose search did not finish)."""
    waiting = intake.pending_counts(engine, actor=actor)
    return PendingOut(families=waiting.get("family", 0), unidentified=waiting.get("unidentified", 0))


@router.post("/pending", response_model=PendingRun)
def run_pending(
    actor: Actor = Depends(requires("search:run")),
    engine=Depends(get_engine),
    model=Depends(get_model),
    cache=Depends(index_cache),
):
    """Run the pending searches now (as the import would have: LR >= 1, the 20 best, stored)."""
    return PendingRun(searches=[summary_out(s) for s in intake.complete_pending(engine, model, actor=actor,
                                                                                   index=cache)])
