"""Pages: the dashboard, one per role (what the user's permissions and jurisdiction cover)."""

from fastapi import APIRouter, Depends, Request

from reunite.cases import statistics
from reunite.web.pages import WebUser, reader_session, render, web_user

router = APIRouter()


@router.get("/dashboard")
def dashboard(request: Request, user: WebUser = Depends(web_user)):
    """Counts with links to the filtered lists, and a few rows under each."""
    with reader_session(request) as s:
        board = statistics.dashboard(s, actor=user.actor, settings=request.app.state.settings)
    return render(request, "dashboard.html", board=board)
