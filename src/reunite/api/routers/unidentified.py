"""/api/v1/unidentified (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/unidentified", tags=["unidentified"])
