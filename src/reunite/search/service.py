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
from reunite.search.index import member_rows
from reunite.search.engine import FamilyRecord, SearchResult, UnidentifiedRecord, index_search, search
from reunite.store.models import Family, FamilyMember, MatchCandidate, Sample, Unidentified
from reunite.store.profiles import GeneticModel, unpack_profile


def load_families(session: Session, ids: list[int] | None = None) -> list[FamilyRecord]:
    """Families (all, or those with the given database ids) with pedigrees and profiles."""
    if ids is not None and len(ids) > 500:  # keep statements small
        ids = sorted(ids)
        return [f for k in range(0, len(ids), 500) for f in load_families(session, ids[k:k + 500])]
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
               store: bool = True, workers: int = 1, progress=None, use_index: bool | None = None,
               index=None) -> SearchResult:
    """Search the given unidentified persons against the given families (default: all).

    Per unidentified person against all families at θ = 0, the family index is used
    (``use_index``, default: when it applies; ``index``: one already brought up to date by
    :func:`family_index`); otherwise the engine (:func:`search`)."""
    unidentified = load_unidentified(session, unidentified_ids)
    if use_index is None:
        use_index = index_applies(model, per=per, family_ids=family_ids)
    if use_index:
        index = index if index is not None else family_index(session, model)
        result = index_search(unidentified, index, model=model, min_lr=min_lr, top_k=top_k,
                              workers=workers, progress=progress,
                              load_families=lambda ids: load_families(session, ids))
    else:
        families = load_families(session, family_ids)
        result = search(unidentified, families, model=model, min_lr=min_lr, top_k=top_k, per=per,
                        workers=workers, progress=progress)
    if store:
        store_candidates(session, result, model)
    return result


# ----------------------------------------------------------------------------------------
# The family index, kept next to the database and brought up to date before each search

def index_path(engine) -> Path | None:
    """Where the family index of a database is kept: ``$REUNITE_INDEX``, else next to a
    SQLite file (``reunite.db.index``), else in the user's cache folder; None for an
    in-memory database."""
    import hashlib
    import os

    if os.environ.get("REUNITE_INDEX"):
        return Path(os.environ["REUNITE_INDEX"])
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        return Path(url.database + ".index")
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reunite"
    return base / f"index-{digest}.npz"


def iter_family_rows(session: Session, ids=None, *, chunk: int = 50_000):
    """Families (all, or the given database ids) as :meth:`FamilyIndex.add_rows` takes them,
    streamed from the database (pedigrees of the same shape share one validation)."""
    wanted = None if ids is None else set(ids)
    cq = select(Family.id, Family.code)
    q = (select(FamilyMember.family_id, FamilyMember.person_code, FamilyMember.father_code,
                FamilyMember.mother_code, FamilyMember.sex, FamilyMember.role, Sample.profile)
         .outerjoin(Sample, Sample.id == FamilyMember.sample_id)
         .order_by(FamilyMember.family_id, FamilyMember.id))
    if wanted is not None:  # a range, filtered here (no statement with thousands of parameters)
        if not wanted:
            return
        lo, hi = min(wanted), max(wanted)
        cq = cq.where(Family.id.between(lo, hi))
        q = q.where(FamilyMember.family_id.between(lo, hi))
    codes = dict(session.execute(cq).all())
    shapes: dict[tuple, tuple] = {}
    current, members = None, []

    def emit(fid, members):
        return member_rows(fid, codes.get(fid, str(fid)), members, shapes=shapes)

    # Core rows, streamed (the option on the statement: on the connection it would stay set)
    result = session.connection().execute(q.execution_options(stream_results=True))
    for part in result.partitions(chunk):
        for row in part:
            if wanted is not None and row[0] not in wanted:
                continue
            if row[0] != current:
                if members:
                    yield emit(current, members)
                current, members = row[0], []
            members.append(row)
    if members:
        yield emit(current, members)


def index_applies(model: GeneticModel, *, per: str = "unidentified", family_ids=None) -> bool:
    """Whether :func:`run_search` uses the family index for this search."""
    return model.theta == 0.0 and per == "unidentified" and family_ids is None


def _batch_token(batch) -> str:
    """A family import as the index records it: id, time (UTC), rows and file (an id alone
    is reused after a rolled-back import)."""
    from datetime import timezone

    at = batch.created_at
    at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
    return f"{batch.id}|{at.isoformat()}|{batch.num_rows}|{batch.source}"


def family_index(session: Session, model: GeneticModel, *, save: bool = True, progress=None):
    """The database's family index, loaded from its file and brought up to date (new
    families added).  Rebuilt when the file is missing or unreadable, made for another
    database, genetic model or software version, or when a family import it holds is not in
    the database as it was (an import rolled back after the index was saved, a restored
    backup).  Saved atomically (write, then rename); a file that cannot be written is left
    as it was (the search goes on with the index in memory)."""
    import warnings

    from sqlalchemy import func

    from reunite.errors import ReuniteError
    from reunite.search.index import FamilyIndex
    from reunite.store.models import ImportBatch, Setting

    path = index_path(session.get_bind())
    row = session.get(Setting, "database_id")
    database = json.loads(row.value) if row is not None else None
    imports = sorted(_batch_token(b) for b in session.execute(
        select(ImportBatch).where(ImportBatch.kind == "families")).scalars())
    fresh = FamilyIndex(model)
    fresh.database_id = database
    index = None
    if path is not None and path.exists() and database is not None:
        try:
            stored = FamilyIndex.load(path, model)
            if stored.database_id == database and set(stored.family_imports) <= set(imports):
                index = stored
        except ReuniteError:  # unreadable, or made for another model or version
            index = None
    if index is None:
        index = fresh
    count, total, top = session.execute(select(func.count(Family.id), func.sum(Family.id),
                                               func.max(Family.id))).one()
    have = index.indexed
    if (index.family_imports == imports and count == len(have) and (total or 0) == sum(have)
            and (top or 0) == max(have, default=0)):
        return index
    db_ids = set(session.execute(select(Family.id)).scalars())
    if not have <= db_ids:  # families gone from the database: start again
        index = fresh
    index.family_imports = imports
    new = sorted(db_ids - index.indexed)
    index.add_rows(iter_family_rows(session, None if len(new) == len(db_ids) else new), progress=progress)
    if save and path is not None:
        try:
            index.save(path)
        except OSError as exc:
            warnings.warn(f"the family index could not be saved to {path}: {exc}", stacklevel=2)
    return index
