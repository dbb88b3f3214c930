"""Pages: the dashboard (to be built: one per role)."""

from fastapi import APIRouter, Depends, Request

from reunite.web.pages import WebUser, render, web_user

router = APIRouter()


@router.get("/dashboard")
def dashboard(request: Request, user: WebUser = Depends(web_user)):
    return render(request, "dashboard.html")
