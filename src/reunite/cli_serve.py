"""``reunite serve``: the REST API with Uvicorn (stub: to be filled)."""
