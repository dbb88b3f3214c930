"""/api/v1/outcomes (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/outcomes", tags=["outcomes"])
