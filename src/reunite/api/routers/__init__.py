"""One router per resource; ``ROUTERS`` is what the app includes."""

from reunite.api.routers import (
    audit,
    auth,
    candidates,
    documents,
    identification,
    imports,
    model,
    notifications,
    operations,
    outcomes,
    registration,
    reports,
    searches,
    statistics,
    unidentified,
    users,
)

ROUTERS = [auth.router, users.router, audit.router, reports.router, operations.router, unidentified.router,
           registration.router, candidates.router, outcomes.router, notifications.router, imports.router,
           searches.router, documents.router, statistics.router, model.router, users.jurisdictions_router,
           users.agencies_router]
ROUTERS.append(identification.router)  # joint identification of a rescue operation
from reunite.api.routers import planning  # noqa: E402

ROUTERS.append(planning.router)  # planning: a family's power, the database's false candidates
