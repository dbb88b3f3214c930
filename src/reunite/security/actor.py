"""Who is acting: the user, their roles and permissions, their jurisdiction, and from where.

Every service call takes an :class:`Actor` (keyword ``actor``); the CLI, the API and the web
build it from a login, a token or ``--as``.  Jurisdictions are materialised paths
(``CN/510000/513400/``): a record is in the actor's subtree when its path starts with the
actor's.  A record without a jurisdiction is national.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reunite.errors import PermissionDenied
from reunite.security.permissions import PERMISSIONS, permissions_of

NATIONAL_PATH = "CN/"


@dataclass(frozen=True)
class Actor:
    username: str
    user_id: int | None
    roles: frozenset[str]
    jurisdiction_path: str = NATIONAL_PATH
    jurisdiction_id: int | None = None
    agency_id: int | None = None
    address: str | None = None
    via: str = "cli"  # cli | api | web | system
    permissions: frozenset[str] = field(default=frozenset())

    def __post_init__(self) -> None:
        if not self.permissions:
            object.__setattr__(self, "permissions", permissions_of(self.roles))

    def can(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise KeyError(f"unknown permission {permission!r}")
        return permission in self.permissions

    def require(self, permission: str) -> None:
        """Raise :class:`PermissionDenied` unless one of the actor's roles grants ``permission``."""
        if not self.can(permission):
            roles = ", ".join(sorted(self.roles)) or "none"
            raise PermissionDenied(f"{self.username} (roles: {roles}) may not {PERMISSIONS[permission]} "
                                   f"(permission {permission!r})")

    def in_scope(self, path: str | None) -> bool:
        """Whether a record of jurisdiction ``path`` (None: national) is in the actor's subtree."""
        return (path or NATIONAL_PATH).startswith(self.jurisdiction_path)

    def sees_personal(self, path: str | None) -> bool:
        """Names and contacts of a record: ``personal:read`` and the record in the subtree."""
        return self.can("personal:read") and self.in_scope(path)


def system_actor(username: str = "system") -> Actor:
    """The actor of work no user started (background re-searches, migrations): no permissions."""
    return Actor(username=username, user_id=None, roles=frozenset(), via="system")
