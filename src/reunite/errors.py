"""Exceptions raised by reunite.

Every error says what was expected, what was found, and how to fix it; parsers add the
file and line (or case, marker and person) where the problem is.
"""


class ReuniteError(Exception):
    """Base class of every error reunite raises on purpose."""


class PedigreeError(ReuniteError):
    """A pedigree is malformed: unknown parent, wrong sex, a cycle, a duplicate id."""


class MarkerError(ReuniteError):
    """A marker is malformed: bad allele, bad genotype, frequencies that do not sum to 1."""


class FrequencyError(ReuniteError):
    """An allele-frequency table is missing, malformed or does not sum to 1."""


class MutationModelError(ReuniteError):
    """A mutation model is unknown or its parameters are out of range."""


class CaseFormatError(ReuniteError):
    """A kinship case file or case does not follow the kinship case format."""


class NotFound(ReuniteError):
    """A record asked for does not exist (or is not visible to the user: the same answer)."""


class PermissionDenied(ReuniteError):
    """The user's roles or jurisdiction do not allow the operation."""


class AuthenticationError(ReuniteError):
    """No valid login, session or token (wrong password, expired, revoked, locked)."""


class Conflict(ReuniteError):
    """The operation clashes with the record's state: an illegal review transition, a
    duplicate code, a record changed by someone else meanwhile."""
