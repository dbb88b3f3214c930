"""/api/v1/operations (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/operations", tags=["operations"])
