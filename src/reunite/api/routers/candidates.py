"""/api/v1/candidates (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/candidates", tags=["candidates"])
