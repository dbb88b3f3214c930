"""/api/v1/operations/{code}/identification: joint identification of a rescue operation's
children against the families (:mod:`reunite.cases.joint_identification`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query

from reunite.api.deps import get_engine, get_model, requires
from reunite.cases import joint_identification as service
from reunite.errors import ReuniteError
from reunite.security.actor import Actor

router = APIRouter(prefix="/operations", tags=["operations"])


@router.get("/{code}/identification", response_model=dict[str, Any],
            summary="Joint identification of the operation's children (pairwise LRs, best assignments, "
                    "undisputed identifications, marginals, provenance)")
def get_identification(code: str = Path(min_length=1, max_length=128, description="the operation's code"),
                       family: list[str] = Query([], max_length=50,
                                                 description="also compare these families (family or report codes)"),
                       limit: float = Query(service.DEFAULT_LIMIT, ge=0, le=1e15,
                                            description="keep a pairing only when its pairwise LR is at least this"),
                       top: int = Query(service.DEFAULT_TOP, ge=1, le=1000,
                                        description="how many joint assignments to list"),
                       actor: Actor = Depends(requires("operation:read")),
                       reader: Actor = Depends(requires("candidate:read")),
                       engine=Depends(get_engine), model=Depends(get_model)):
    """The same view as ``reunite identify --operation CODE --json``; reading it is audited
    (``operation.identify``)."""
    for code_ in family:
        if not 1 <= len(code_) <= 128:
            raise ReuniteError(f"family: expected a code of 1 to 128 characters, found {len(code_)}")
    return service.identify_operation_in(engine, code, actor=actor, model=model, families=family, limit=limit,
                                         top=top)
