"""Roles as bundles of permissions: the one table every face (CLI, API, web) checks.

A permission names a resource and an action.  Reading names, contacts and other identifying
text needs ``personal:read`` *and* the record being in the user's jurisdiction subtree
(:mod:`reunite.security.actor`); everything else is codes only.
"""

from __future__ import annotations

from reunite.store.models_workflow import ROLES

PERMISSIONS: dict[str, str] = {
    "personal:read": "read names, contacts and circumstances of records in one's jurisdiction",
    "report:read": "list and read missing-child reports (codes, dates, places, status)",
    "report:write": "register and edit missing-child reports and their references",
    "consent:withdraw": "record that a family reference withdrew consent",
    "operation:read": "list and read rescue operations",
    "operation:write": "register and edit rescue operations",
    "unidentified:read": "list and read unidentified persons",
    "unidentified:write": "edit unidentified persons' details and placement",
    "data:import": "import genotypes, families and unidentified persons",
    "search:run": "run searches",
    "candidate:read": "list and read candidates (codes, LRs, per-locus tables, history)",
    "candidate:assign": "assign a candidate to a reviewer",
    "candidate:review": "start a review, request confirmation, reject",
    "candidate:confirm": "confirm a candidate (a second reviewer: four eyes)",
    "confirmation:import": "attach a confirmation sample to a candidate",
    "outcome:read": "read outcomes and follow-ups",
    "outcome:write": "record outcomes and follow-up visits",
    "registration:read": "read late birth-registration checks",
    "registration:write": "run late birth-registration checks",
    "user:read": "list users",
    "user:write": "add, change, disable users; revoke their tokens",
    "jurisdiction:write": "add jurisdictions and agencies",
    "audit:read": "read the audit log",
    "audit:verify": "verify the audit chain",
    "notification:read": "read one's own inbox",
    "document:issue": "issue PDF reports (kinship reports, operation summaries, statistics)",
    "statistics:read": "see the dashboards' counts and charts",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "analyst": frozenset({
        "data:import", "search:run", "candidate:read", "confirmation:import", "unidentified:read",
        "operation:read", "report:read", "registration:read", "notification:read", "document:issue",
        "statistics:read"}),
    "investigator": frozenset({
        "personal:read", "report:read", "report:write", "consent:withdraw", "operation:read", "operation:write",
        "unidentified:read", "unidentified:write", "candidate:read", "candidate:assign", "outcome:read",
        "registration:read", "notification:read", "document:issue", "statistics:read"}),
    "reviewer": frozenset({
        "candidate:read", "candidate:assign", "candidate:review", "candidate:confirm", "report:read",
        "unidentified:read", "operation:read", "outcome:read", "notification:read", "document:issue",
        "statistics:read"}),
    "welfare": frozenset({
        "personal:read", "unidentified:read", "unidentified:write", "outcome:read", "outcome:write",
        "report:read", "candidate:read", "operation:read", "notification:read", "document:issue",
        "statistics:read"}),
    "registration": frozenset({
        "personal:read", "registration:read", "registration:write", "unidentified:read", "notification:read"}),
    "administrator": frozenset({
        "user:read", "user:write", "jurisdiction:write", "notification:read"}),
    "auditor": frozenset({
        "audit:read", "audit:verify", "user:read", "report:read", "candidate:read", "outcome:read",
        "notification:read", "statistics:read"}),
}

assert set(ROLE_PERMISSIONS) == set(ROLES), "every role has a row"
assert all(p in PERMISSIONS for perms in ROLE_PERMISSIONS.values() for p in perms), "every permission is named"


def permissions_of(roles) -> frozenset[str]:
    """The union of the roles' permissions."""
    out: set[str] = set()
    for role in roles:
        out |= ROLE_PERMISSIONS[role]
    return frozenset(out)
