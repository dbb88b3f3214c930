"""/api/v1/registration (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/registration", tags=["registration"])
