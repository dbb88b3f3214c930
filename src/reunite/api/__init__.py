"""The REST API (``/api/v1``): FastAPI routers per resource calling the workflow services;
HTTP only (no statistics or SQL here)."""
