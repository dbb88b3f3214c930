"""/api/v1/users (stub: to be filled)."""

from fastapi import APIRouter

router = APIRouter(prefix="/users", tags=["users"])
