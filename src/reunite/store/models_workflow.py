"""SQLAlchemy models of the workflow: jurisdictions, agencies, users and tokens, the audit
chain, missing-child reports and their references' consent, rescue operations, registration
checks, candidate review history, confirmation tests, outcomes, follow-ups and notifications
(migration 0004).

Names, contacts and other identifying text live in ``person_details`` (subject_kind
``report_child``, ``report_contact``, ``unidentified``, ``family_member``), never in these
tables; every personal record carries the jurisdiction that owns it, so scoping is one
comparison of materialised paths (``jurisdictions.path``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from reunite.store.models import Base, utcnow

JURISDICTION_LEVELS = ("national", "province", "prefecture", "county")
ROLES = ("analyst", "investigator", "reviewer", "welfare", "registration", "administrator", "auditor")
REPORT_STATUSES = ("open", "candidate_under_review", "identified", "closed")
UNIDENTIFIED_CATEGORIES = ("rescued_child", "unclear_origin", "begging_child", "registration_check")
UNIDENTIFIED_STATUSES = ("unidentified", "identified")
PLACEMENT_KINDS = ("welfare_institution", "foster_family", "hospital", "family", "other")
CANDIDATE_STATUSES = ("new", "assigned", "under_review", "confirmation_requested", "confirmed", "rejected",
                      "set_aside")
OUTCOME_KINDS = ("returned_home", "family_refused", "welfare_placement", "foster_care", "adoption_referral")
CONSENT_STATES = ("given", "withdrawn")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Jurisdiction(Base):
    """A node of the administrative tree: national, province, prefecture, county (GB/T 2260
    codes).  ``path`` is the codes from the root, e.g. ``CN/510000/513400/513422/``: a record
    is in a user's subtree when its path starts with the user's."""

    __tablename__ = "jurisdictions"
    __table_args__ = (CheckConstraint(_in("level", JURISDICTION_LEVELS), name="ck_jurisdictions_level"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_zh: Mapped[str | None] = mapped_column(String(128), nullable=True)
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jurisdictions.id"), nullable=True)
    path: Mapped[str] = mapped_column(String(255), unique=True)


class Agency(Base):
    """A police bureau, laboratory, welfare institution or registration office."""

    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    name_zh: Mapped[str | None] = mapped_column(String(255), nullable=True)
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)  # police | lab | welfare | registration
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"))


class User(Base):
    """A person who uses reunite.  ``password_hash`` is Argon2id; ``totp_secret`` (base32)
    turns on the second factor.  Lockout: ``failed_logins`` and ``locked_until``."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_hash: Mapped[str] = mapped_column(Text)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)  # a TOTP code is used once
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)  # 'en' | 'zh_CN'; NULL: the browser's


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_user_roles_role"),)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class AuthToken(Base):
    """A web session (cookie, with a CSRF token) or an API bearer token; only SHA-256
    digests are stored.  Valid while not revoked and not expired."""

    __tablename__ = "auth_tokens"
    __table_args__ = (CheckConstraint("kind IN ('session', 'api')", name="ck_auth_tokens_kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditEntry(Base):
    """One entry of the append-only audit log.  ``mac`` = HMAC-SHA256(key, prev_mac ‖
    canonical JSON of the entry); ``seq`` counts from 1 without gaps (see
    :mod:`reunite.audit.chain`)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entity_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_mac: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link, one row, locked by every append (serialises writers)."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="ck_audit_head_single"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    mac: Mapped[str] = mapped_column(String(64))


class MissingReport(Base):
    """A missing-child report.  The child's name lives in person_details (``report_child``),
    the reporting family's contact in person_details (``report_contact``); ``family_id`` and
    ``missing_code`` link the report to the pedigree searched (the family's references)."""

    __tablename__ = "missing_reports"
    __table_args__ = (CheckConstraint(_in("status", REPORT_STATUSES), name="ck_missing_reports_status"),
                      CheckConstraint("child_sex IN ('M', 'F', 'U')", name="ck_missing_reports_sex"),
                      CheckConstraint("status <> 'closed' OR closed_reason IS NOT NULL",
                                      name="ck_missing_reports_closed_reason"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(128), unique=True)
    family_id: Mapped[int | None] = mapped_column(ForeignKey("families.id"), nullable=True, unique=True)
    missing_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    child_sex: Mapped[str] = mapped_column(String(1), default="U")
    child_birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)  # or the earliest of a range
    child_birth_date_latest: Mapped[date | None] = mapped_column(Date, nullable=True)
    missing_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    missing_place_id: Mapped[int | None] = mapped_column(ForeignKey("jurisdictions.id"), nullable=True)
    missing_place_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    circumstances: Mapped[str | None] = mapped_column(Text, nullable=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    investigator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="open", server_default="open")
    closed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReferenceConsent(Base):
    """A family reference's consent: its relation to the missing child, when consent was
    given, and (when withdrawn) who withdrew it, when and why.  A reference is searched only
    while its consent is 'given'."""

    __tablename__ = "reference_consents"
    __table_args__ = (CheckConstraint(_in("state", CONSENT_STATES), name="ck_reference_consents_state"),
                      CheckConstraint("state = 'given' OR (withdrawn_at IS NOT NULL AND withdrawn_reason IS NOT NULL)",
                                      name="ck_reference_consents_withdrawn"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family_member_id: Mapped[int] = mapped_column(ForeignKey("family_members.id"), unique=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("missing_reports.id"), nullable=True, index=True)
    relation: Mapped[str | None] = mapped_column(String(64), nullable=True)  # father, mother, sibling, ...
    state: Mapped[str] = mapped_column(String(16), default="given", server_default="given")
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    document: Mapped[str | None] = mapped_column(Text, nullable=True)  # the signed form's reference
    recorded_by: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class RescueOperation(Base):
    """A rescue operation: when, where, which agency, the suspects' case number; the children
    rescued are unidentified persons with ``operation_id``."""

    __tablename__ = "rescue_operations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    operation_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("jurisdictions.id"), nullable=True)
    place_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    suspects_case_number: Mapped[str | None] = mapped_column(String(128), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RegistrationCheck(Base):
    """A late birth-registration check: the child (an unidentified person, category
    'registration_check') against the claimed parents (samples owned 'claimed_parent')."""

    __tablename__ = "registration_checks"
    __table_args__ = (CheckConstraint("status IN ('consistent', 'flagged')", name="ck_registration_checks_status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(128), unique=True)
    unidentified_id: Mapped[int] = mapped_column(ForeignKey("unidentified.id"), unique=True)
    registration_number: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lr: Mapped[float] = mapped_column(Float)
    log10_lr: Mapped[float] = mapped_column(Float)
    lr_per_locus: Mapped[str] = mapped_column(Text)  # JSON
    inconsistent_loci: Mapped[str] = mapped_column(Text, default="")
    verbal: Mapped[str] = mapped_column(Text)
    threshold: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    provenance: Mapped[str] = mapped_column(Text)  # JSON
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClaimedParent(Base):
    """A claimed parent of a registration check, typed; the sample is owned 'claimed_parent'."""

    __tablename__ = "claimed_parents"
    __table_args__ = (
        CheckConstraint("role IN ('father', 'mother')", name="ck_claimed_parents_role"),
        CheckConstraint("sample_owner_kind = 'claimed_parent'", name="ck_claimed_parents_owner_kind"),
        UniqueConstraint("check_id", "role", name="uq_claimed_parents_check_role"),
        ForeignKeyConstraint(["sample_id", "sample_owner_kind"], ["samples.id", "samples.owner_kind"],
                             name="fk_claimed_parents_sample_owner"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("registration_checks.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id"), unique=True)
    sample_owner_kind: Mapped[str] = mapped_column(String(16), default="claimed_parent",
                                                   server_default="claimed_parent")


class CandidateEvent(Base):
    """One step of a candidate's review (or a re-search that changed it): who, when, from
    which status to which, and the comment.  Never updated or deleted."""

    __tablename__ = "candidate_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("match_candidates.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON: LR before/after, assignee, ...


class CandidateReview(Base):
    """The review state of a candidate (one row per candidate under review; ``match_candidates
    .status`` mirrors ``status``).  ``version`` guards concurrent transitions."""

    __tablename__ = "candidate_reviews"
    __table_args__ = (CheckConstraint(_in("status", CANDIDATE_STATUSES), name="ck_candidate_reviews_status"),
                      CheckConstraint("status NOT IN ('rejected', 'set_aside') OR reason IS NOT NULL",
                                      name="ck_candidate_reviews_reason"),
                      CheckConstraint("status <> 'confirmed' OR confirmed_by <> confirmation_requested_by",
                                      name="ck_candidate_reviews_four_eyes"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("match_candidates.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), default="new")
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    confirmation_requested_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    below_threshold: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConfirmationTest(Base):
    """A second, independent sample typed to confirm a candidate: of the child (``target``
    'child') or of a relative (``target`` the person code in the family's pedigree).  The LR
    recomputed with it is kept beside the original."""

    __tablename__ = "confirmation_tests"
    __table_args__ = (
        CheckConstraint("sample_owner_kind = 'confirmation'", name="ck_confirmation_tests_owner_kind"),
        ForeignKeyConstraint(["sample_id", "sample_owner_kind"], ["samples.id", "samples.owner_kind"],
                             name="fk_confirmation_tests_sample_owner"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("match_candidates.id"), index=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id"), unique=True)
    sample_owner_kind: Mapped[str] = mapped_column(String(16), default="confirmation",
                                                   server_default="confirmation")
    target: Mapped[str] = mapped_column(String(128))
    lr: Mapped[float] = mapped_column(Float)
    log10_lr: Mapped[float] = mapped_column(Float)
    lr_per_locus: Mapped[str] = mapped_column(Text)  # JSON
    inconsistent_loci: Mapped[str] = mapped_column(Text, default="")
    provenance: Mapped[str] = mapped_column(Text)  # JSON
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Outcome(Base):
    """What became of an identified child."""

    __tablename__ = "outcomes"
    __table_args__ = (CheckConstraint(_in("kind", OUTCOME_KINDS), name="ck_outcomes_kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unidentified_id: Mapped[int] = mapped_column(ForeignKey("unidentified.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("missing_reports.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    outcome_date: Mapped[date] = mapped_column(Date)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FollowUp(Base):
    """A follow-up visit of an outcome: due date, and when done, by whom, with notes."""

    __tablename__ = "follow_ups"
    __table_args__ = (Index("ix_follow_ups_due_open", "due_date", "done_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome_id: Mapped[int] = mapped_column(ForeignKey("outcomes.id"), index=True)
    due_date: Mapped[date] = mapped_column(Date)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Notification(Base):
    """An inbox entry of one user; ``delivery`` records e-mail/webhook attempts (JSON)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))  # candidate | confirmation | transition | follow_up
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    entity: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivery: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the subject and body as message ids with these values (JSON), translated into the
    # reader's language when shown or sent; NULL: subject and body are final English text
    message_params: Mapped[str | None] = mapped_column(Text, nullable=True)


class IssuedReport(Base):
    """A PDF report as issued: its SHA-256, who issued it and when (also in the audit log,
    entry ``audit_seq``).  ``reunite report verify FILE.pdf`` looks a file up here."""

    __tablename__ = "issued_reports"
    __table_args__ = (CheckConstraint("kind IN ('kinship', 'operation', 'statistics')", name="ck_issued_reports_kind"),
                      CheckConstraint("language IN ('en', 'zh_CN')", name="ck_issued_reports_language"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(128))  # candidate id, operation code or period
    language: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    audit_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
