"""The workflow: missing-child reports, rescue operations, unidentified persons, candidate
review, confirmation, outcomes, registration checks, notifications.  One service call per
user action, used by the CLI, the API and the web pages alike; every call takes the acting
:class:`~reunite.security.actor.Actor` (keyword ``actor``), checks its permission and scope,
and writes the audit log in the same transaction as the change."""
