"""A family reference withdraws consent.

Withdrawing records who, when and why on the reference's ``reference_consents`` row and
withdraws its sample at once (:func:`reunite.store.corrections.withdraw_sample`): from then
on no search uses the profile (the family is searched without that reference, the family
index and the identity lookup are rebuilt without it), and the family's candidates are
searched again (pending, run after the commit), so no candidate keeps an LR computed with
it.  The genotype itself is not erased: it stays sealed in the database (status
'withdrawn', never searched or shown as a reference) because evidence in a criminal case
must be retained; its erasure is for the court or the data-protection officer to order.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.cases.common import audit
from reunite.cases.records import MAX_CODE, clean, require_scope
from reunite.cases.reports import _report, report_path
from reunite.errors import Conflict, NotFound, ReuniteError
from reunite.security.actor import Actor
from reunite.store.models import FamilyMember, Sample
from reunite.store.models_workflow import ReferenceConsent


def withdraw_consent(session: Session, report_code: str, *, actor: Actor, sample_code: str, reason: str,
                     document: str | None = None) -> ReferenceConsent:
    """Record that the reference with ``sample_code`` of report ``report_code`` withdrew
    consent, and withdraw the sample from every search (see the module doc)."""
    from reunite.store.corrections import withdraw_sample

    actor.require("consent:withdraw")
    report = _report(session, report_code, lock=True)
    require_scope(actor, report_path(session, report), what=f"report {report.code!r}")
    sample_code = clean(sample_code, what="sample_code", max_length=MAX_CODE, required=True)
    reason = clean(reason, what="reason", required=True)
    row = session.execute(
        select(ReferenceConsent, FamilyMember.person_code)
        .join(FamilyMember, FamilyMember.id == ReferenceConsent.family_member_id)
        .join(Sample, Sample.id == FamilyMember.sample_id)
        .where(ReferenceConsent.report_id == report.id, Sample.code == sample_code)).first()
    if row is None:
        raise NotFound(f"sample_code: report {report.code!r} has no reference with sample {sample_code!r}")
    consent, person = row
    if consent.state == "withdrawn":
        raise Conflict(f"sample_code: the consent of {person!r} (sample {sample_code!r}) was already withdrawn "
                       f"on {consent.withdrawn_at:%Y-%m-%d} by {consent.withdrawn_by}")
    document = clean(document, what="document")
    consent.state = "withdrawn"
    consent.withdrawn_at = datetime.now(timezone.utc)
    consent.withdrawn_by = actor.username
    consent.withdrawn_reason = reason if not document else f"{reason} (form: {document})"
    session.flush()
    status = session.execute(select(Sample.status).where(Sample.code == sample_code)).scalar_one()
    if status == "active":
        try:
            withdraw_sample(session, sample_code, changed_by=actor.username,
                            reason=f"consent withdrawn (report {report.code}): {reason}")
        except ReuniteError as exc:  # a concurrent correction: nothing is committed
            raise Conflict(f"sample_code: {exc}") from None
    audit(session, actor, "consent.withdraw", entity="report", entity_id=report.code,
          details={"sample": sample_code, "person": person, "relation": consent.relation})
    return consent
