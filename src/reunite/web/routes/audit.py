"""Pages: the audit log (``audit:read``) and the check of its chain (``audit:verify``).

* ``GET /audit``: entries, newest first, with filters (actor, action — ``user.*`` is a
  prefix —, entity, entity id, date range), a page at a time;
* ``GET /audit/verify``: recomputes the chain with the server's audit key and says how many
  entries were checked, the head, and the first broken entry if any.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request

from reunite.audit import service as audit_service
from reunite.errors import ReuniteError
from reunite.web.pages import WebUser, page_requires, parse_date, reader_session, render

router = APIRouter()

FILTERS = ("actor", "action", "entity", "entity_id", "since", "until")


def _filters(request: Request) -> dict:
    return {k: (request.query_params.get(k) or "").strip()[:200] for k in FILTERS}


def _page(request: Request, user: WebUser, *, verification=None):
    filters = _filters(request)
    error, page = None, None
    try:
        since, until = parse_date(filters["since"], "since"), parse_date(filters["until"], "until")
        with reader_session(request) as s:
            page = audit_service.list_entries(
                s, actor=user.actor, by=filters["actor"] or None, action=filters["action"] or None,
                entity=filters["entity"] or None, entity_id=filters["entity_id"] or None, since=since, until=until,
                cursor=request.query_params.get("cursor") or None)
    except ReuniteError as exc:
        error = str(exc)
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "audit/index.html", status=400 if error else 200, page=page, filters=filters,
                  error=error, base_query=query, verification=verification)


@router.get("/audit")
def audit_page(request: Request, user: WebUser = Depends(page_requires("audit:read"))):
    return _page(request, user)


@router.get("/audit/verify")
def verify_page(request: Request, user: WebUser = Depends(page_requires("audit:verify"))):
    user.actor.require("audit:read")
    with reader_session(request) as s:
        verification = audit_service.verify_chain(s, actor=user.actor, key=request.app.state.settings.audit_key)
    return _page(request, user, verification=verification)
