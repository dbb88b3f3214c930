"""/api/v1/searches (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/searches", tags=["searches"])
