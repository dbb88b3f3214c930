"""/api/v1/imports (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/imports", tags=["imports"])
