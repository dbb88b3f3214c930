"""/api/v1/auth (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/auth", tags=["auth"])
