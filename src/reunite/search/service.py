"""Search against the database: load records, run the search, store candidates."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite import __version__
from reunite.genetics.frequencies import DEFAULT_FLOOR
from reunite.genetics.kinship import json_number
from reunite.genetics.pedigree import make_pedigree
from reunite.search.engine import FamilyRecord, SearchResult, UnidentifiedRecord, search
from reunite.store.models import Family, FamilyMember, MatchCandidate, Sample, Unidentified
from reunite.store.profiles import GeneticModel, unpack_profile


def load_families(session: Session, ids: list[int] | None = None) -> list[FamilyRecord]:
    """Families (all, or those with the given database ids) with pedigrees and profiles."""
    q = select(Family)
    if ids is not None:
        q = q.where(Family.id.in_(ids))
    fams = {f.id: f for f in session.execute(q).scalars()}
    if not fams:
        return []
    members: dict[int, list] = {}
    mq = select(FamilyMember, Sample.profile).outerjoin(Sample, Sample.id == FamilyMember.sample_id)
    if ids is not None:
        mq = mq.where(FamilyMember.family_id.in_(ids))
    for member, profile in session.execute(mq):
        members.setdefault(member.family_id, []).append((member, profile))
    out = []
    for fid, fam in sorted(fams.items()):
        rows = members.get(fid, [])
        pedigree = make_pedigree([{"id": m.person_code, "father": m.father_code, "mother": m.mother_code,
                                   "sex": m.sex} for m, _ in rows], where=f"family {fam.code!r}")
        out.append(FamilyRecord(
            fid, fam.code, pedigree,
            [m.person_code for m, _ in rows if m.role == "missing"],
            {m.person_code: unpack_profile(p) for m, p in rows if m.role == "reference" and p}))
    return out


def load_unidentified(session: Session, ids: list[int] | None = None) -> list[UnidentifiedRecord]:
    q = select(Unidentified, Sample.profile).join(Sample, Sample.id == Unidentified.sample_id)
    if ids is not None:
        q = q.where(Unidentified.id.in_(ids))
    return [UnidentifiedRecord(u.id, u.code, u.sex, unpack_profile(p))
            for u, p in session.execute(q.order_by(Unidentified.id))]


def provenance(model: GeneticModel, loci) -> dict:
    """What every stored candidate records about how its LR was computed."""
    return {
        "software": f"reunite {__version__}",
        "genetic_model": model.describe(),
        "frequency_table": model.population,
        "theta": model.theta,
        "mutation": {l: (m.describe() if (m := model.locus_mutation(l)) else "none") for l in loci},
        "kit": sorted(loci),
        "rare_allele_rule": f"5/2N when N is known, else floor {DEFAULT_FLOOR:g}; renormalised",
        "min_common_loci": model.min_common_loci,
        "searched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def store_candidates(session: Session, result: SearchResult, model: GeneticModel) -> int:
    """Insert or update the candidates (idempotent: one row per unidentified, family, missing)."""
    n = 0
    for c in result.candidates:
        row = session.execute(select(MatchCandidate).where(
            MatchCandidate.unidentified_id == c.unidentified.id, MatchCandidate.family_id == c.family.id,
            MatchCandidate.missing_code == c.missing)).scalar_one_or_none()
        values = dict(
            lr=c.lr, log10_lr=c.log10_lr, loci_compared=c.loci_compared,
            inconsistent_loci=",".join(c.inconsistent_loci),
            lr_per_locus=json.dumps({k: json_number(v) for k, v in c.lr_per_locus.items()}),
            provenance=json.dumps(provenance(model, c.lr_per_locus)),
            updated_at=datetime.now(timezone.utc))
        if row is None:
            session.add(MatchCandidate(unidentified_id=c.unidentified.id, family_id=c.family.id,
                                       missing_code=c.missing, status="new", **values))
        else:
            for k, v in values.items():
                setattr(row, k, v)
        n += 1
    return n


CSV_HEADER = ("unidentified_id", "family_id", "missing_id", "lr", "log10_lr", "loci_compared",
              "inconsistent_loci", "rank")


def write_csv(result: SearchResult, path) -> None:
    """The matches CSV: one row per candidate, ids as in the imported files."""
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        for c in result.candidates:
            w.writerow((c.unidentified.code, c.family.code, c.missing, repr(c.lr), f"{c.log10_lr:.6f}",
                        c.loci_compared, ";".join(c.inconsistent_loci), c.rank))


def run_search(session: Session, model: GeneticModel, *, unidentified_ids=None, family_ids=None,
               min_lr: float = 1.0, top_k: int | None = 20, per: str = "unidentified",
               store: bool = True, workers: int = 1, progress=None) -> SearchResult:
    """Search the given unidentified persons against the given families (default: all)."""
    unidentified = load_unidentified(session, unidentified_ids)
    families = load_families(session, family_ids)
    result = search(unidentified, families, model=model, min_lr=min_lr, top_k=top_k, per=per,
                    workers=workers, progress=progress)
    if store:
        store_candidates(session, result, model)
    return result
