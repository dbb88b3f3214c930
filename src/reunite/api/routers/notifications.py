"""/api/v1/notifications (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/notifications", tags=["notifications"])
