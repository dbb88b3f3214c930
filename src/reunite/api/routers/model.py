"""/api/v1/model: the genetic model in use, the typing kits and the shipped allele-frequency
tables (the services of :mod:`reunite.cases.model_info`, as on the administration pages,
with the same permission: ``user:read``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from fastapi.encoders import jsonable_encoder

from reunite.api.deps import reader, requires
from reunite.cases import model_info as service
from reunite.security.actor import Actor

router = APIRouter(prefix="/model", tags=["model"])


@router.get("", response_model=dict[str, Any],
            summary="The genetic model: population, θ, mutation model and rates, loci that cannot be used")
def genetic_model(actor: Actor = Depends(requires("user:read")), session=Depends(reader)):
    return jsonable_encoder(service.genetic_model(session, actor=actor))


@router.get("/kits", response_model=list[dict[str, Any]], summary="The typing kits (sets of loci)")
def kits(actor: Actor = Depends(requires("user:read"))):
    return jsonable_encoder(service.list_kits(actor=actor))


@router.get("/frequency-tables", response_model=list[dict[str, Any]],
            summary="The shipped allele-frequency tables (populations)")
def frequency_tables(actor: Actor = Depends(requires("user:read"))):
    return jsonable_encoder(service.list_frequency_tables(actor=actor))


@router.get("/frequency-tables/{population}", response_model=dict[str, Any],
            summary="One table with its loci (alleles, sum of frequencies, sample size, source)")
def frequency_table(population: str = Path(min_length=1, max_length=128, description="the population's name"),
                    actor: Actor = Depends(requires("user:read"))):
    return jsonable_encoder(service.frequency_table(actor=actor, population=population))
