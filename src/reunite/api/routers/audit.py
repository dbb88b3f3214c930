"""/api/v1/audit (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/audit", tags=["audit"])
