"""/api/v1/reports (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/reports", tags=["reports"])
