"""One module of page routes per area; ``ROUTERS`` is what ``install_web`` includes."""

from reunite.web.routes import (
    account,
    admin,
    audit,
    candidates,
    charts,
    children,
    dashboard,
    documents,
    identification,
    outcomes,
    records,
    registration,
    session,
)

ROUTERS = [session.router, account.router, dashboard.router, records.router, children.router, candidates.router, outcomes.router,
           registration.router, charts.router, documents.router, admin.router, audit.router]
ROUTERS.append(identification.router)  # /operations/{code}/identification
from reunite.web.routes import planning  # noqa: E402

ROUTERS.append(planning.router)  # /planning, /reports/{code}/plan
