"""SQLAlchemy 2 models of the reunite database.

Genetic tables hold sample codes only (pseudonymised); names and contact details live in
``person_details``, which nothing genetic joins to.  A profile is stored packed, one row per
sample: ``"LOCUS=a/b;LOCUS=a/b;..."``, loci sorted (see :mod:`reunite.store.profiles`).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """Database-wide settings, e.g. the genetic model chosen at ``reunite db init``."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ImportBatch(Base):
    """One import: which file, what kind, how many rows, when."""

    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    num_rows: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    report: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: imported, skipped and why
    file_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


OWNER_KINDS = ("family_member", "unidentified", "claimed_parent", "confirmation")


class Sample(Base):
    """A typed STR profile, known by its sample code only.

    ``owner_kind`` is NULL until the sample is given to a person; family members and
    unidentified persons reference ``(id, owner_kind)``, so the database itself keeps a
    sample to one person (see migration 0003).
    """

    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("id", "owner_kind", name="uq_samples_id_owner_kind"),
        CheckConstraint("owner_kind IS NULL OR owner_kind IN ('family_member', 'unidentified', "
                        "'claimed_parent', 'confirmation')", name="ck_samples_owner_kind"),
        CheckConstraint("status IN ('active', 'withdrawn')", name="ck_samples_status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    profile: Mapped[str] = mapped_column(Text)
    num_loci: Mapped[int] = mapped_column(Integer)
    lab: Mapped[str | None] = mapped_column(String(128), nullable=True)
    typed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), nullable=True)
    owner_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    amelogenin: Mapped[str | None] = mapped_column(String(16), nullable=True)  # "X/Y", "X/X", "X", ...
    y_profile: Mapped[str | None] = mapped_column(Text, nullable=True)  # packed Y-STRs, kept for later


class Family(Base):
    """A reference group: a pedigree with one or more missing persons."""

    __tablename__ = "families"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    population: Mapped[str | None] = mapped_column(String(64), nullable=True)
    family_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), nullable=True)


class FamilyMember(Base):
    """A person of a family pedigree: reference (typed), missing, or untyped."""

    __tablename__ = "family_members"
    __table_args__ = (
        UniqueConstraint("family_id", "person_code"),
        CheckConstraint("(sample_id IS NULL AND sample_owner_kind IS NULL) OR "
                        "(sample_id IS NOT NULL AND COALESCE(sample_owner_kind, '') = 'family_member')",
                        name="ck_family_members_sample_owner_kind"),
        ForeignKeyConstraint(["sample_id", "sample_owner_kind"], ["samples.id", "samples.owner_kind"],
                             name="fk_family_members_sample_owner"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    person_code: Mapped[str] = mapped_column(String(128))
    father_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    mother_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sex: Mapped[str] = mapped_column(String(1))
    role: Mapped[str] = mapped_column(String(16))
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("samples.id"), nullable=True, index=True,
                                                  unique=True)
    sample_owner_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # what investigators know of a missing person (role 'missing')
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    missing_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    missing_place: Mapped[str | None] = mapped_column(Text, nullable=True)


class Unidentified(Base):
    """A rescued child, a child of unclear origin, a begging child, or a registration check."""

    __tablename__ = "unidentified"
    __table_args__ = (
        CheckConstraint("sample_owner_kind = 'unidentified'", name="ck_unidentified_sample_owner_kind"),
        ForeignKeyConstraint(["sample_id", "sample_owner_kind"], ["samples.id", "samples.owner_kind"],
                             name="fk_unidentified_sample_owner"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id"), index=True, unique=True)
    sample_owner_kind: Mapped[str] = mapped_column(String(16), default="unidentified",
                                                   server_default="unidentified")
    sex: Mapped[str] = mapped_column(String(1), default="U")
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    estimated_birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    found_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    found_place: Mapped[str | None] = mapped_column(Text, nullable=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), nullable=True)
    # the workflow (migration 0004); a NULL jurisdiction is a national record
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("rescue_operations.id"), nullable=True, index=True)
    found_place_id: Mapped[int | None] = mapped_column(ForeignKey("jurisdictions.id"), nullable=True)
    jurisdiction_id: Mapped[int | None] = mapped_column(ForeignKey("jurisdictions.id"), nullable=True, index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    placement_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    placement_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="unidentified", server_default="unidentified")
    identified_report_id: Mapped[int | None] = mapped_column(ForeignKey("missing_reports.id"), nullable=True)


class PersonDetail(Base):
    """Identifying details (name, contact), kept apart from every genetic table."""

    __tablename__ = "person_details"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # family_member | unidentified
    subject_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    contact: Mapped[str | None] = mapped_column(Text, nullable=True)


class MatchCandidate(Base):
    """A candidate match: unidentified person placed as a family's missing person."""

    __tablename__ = "match_candidates"
    __table_args__ = (UniqueConstraint("unidentified_id", "family_id", "missing_code"),
                      # the dashboards count and the charts bin candidates by status and LR
                      Index("ix_match_candidates_status_log10_lr", "status", "log10_lr"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unidentified_id: Mapped[int] = mapped_column(ForeignKey("unidentified.id"), index=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    missing_code: Mapped[str] = mapped_column(String(128))
    lr: Mapped[float] = mapped_column(Float)
    log10_lr: Mapped[float] = mapped_column(Float)
    loci_compared: Mapped[int] = mapped_column(Integer)
    inconsistent_loci: Mapped[str] = mapped_column(Text, default="")
    lr_per_locus: Mapped[str] = mapped_column(Text)  # JSON
    provenance: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(32), default="new")  # see CANDIDATE_STATUSES
    flags: Mapped[str] = mapped_column(Text, default="", server_default="")  # identity flags, JSON list
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PendingSearch(Base):
    """A search owed after an import, recorded in the import's own transaction and deleted
    when the search has stored its candidates (``reunite search --pending`` runs them)."""

    __tablename__ = "pending_searches"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id", name="uq_pending_searches_kind_subject"),
        CheckConstraint("kind IN ('unidentified', 'family')", name="ck_pending_searches_kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # unidentified | family
    subject_id: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RecordVersion(Base):
    """An earlier version of a record, kept when it is corrected: who, when, why, and the
    record as it was (JSON).  Nothing is overwritten without one."""

    __tablename__ = "record_versions"
    __table_args__ = (UniqueConstraint("entity", "entity_id", "version",
                                       name="uq_record_versions_entity_version"),
                      Index("ix_record_versions_entity", "entity", "entity_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))  # sample | family | family_member | unidentified
    entity_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))  # retype | withdraw | pedigree | sex | ...
    data: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reason: Mapped[str] = mapped_column(Text)


# the workflow's tables (reports, users, audit, review, outcomes) share this metadata
from reunite.store import models_workflow  # noqa: E402,F401  (imported last: it uses Base)
