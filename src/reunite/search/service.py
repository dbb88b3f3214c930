"""Search against the database: load records, run the search, store candidates."""

from __future__ import annotations

import csv
import json
import threading
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite import __version__
from reunite.genetics.frequencies import DEFAULT_FLOOR
from reunite.genetics.kinship import json_number
from reunite.genetics.pedigree import make_pedigree
from reunite.search.index import member_rows
from reunite.search.engine import (
    DEFAULT_AGE_TOLERANCE,
    FamilyRecord,
    SearchResult,
    UnidentifiedRecord,
    index_search,
    search,
)
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
    mq = select(FamilyMember, Sample.profile).outerjoin(  # a withdrawn sample is not a reference's profile
        Sample, (Sample.id == FamilyMember.sample_id) & (Sample.status == "active"))
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
            {m.person_code: unpack_profile(p) for m, p in rows if m.role == "reference" and p},
            {m.person_code: (m.birth_date, m.missing_date) for m, _ in rows
             if m.role == "missing" and (m.birth_date is not None or m.missing_date is not None)}))
    return out


def load_unidentified(session: Session, ids: list[int] | None = None) -> list[UnidentifiedRecord]:
    q = (select(Unidentified, Sample.profile).join(Sample, Sample.id == Unidentified.sample_id)
         .where(Sample.status == "active"))  # a person whose sample is withdrawn is not searched
    if ids is not None:
        q = q.where(Unidentified.id.in_(ids))
    return [UnidentifiedRecord(u.id, u.code, u.sex, unpack_profile(p), u.estimated_birth_date, u.found_date)
            for u, p in session.execute(q.order_by(Unidentified.id))]


def provenance(model: GeneticModel, loci, *, age_tolerance: float | None = None) -> dict:
    """What every stored candidate records about how its LR was computed (and which
    filters and checks the search applied)."""
    from reunite.search.engine import DEFAULT_AGE_TOLERANCE, tolerance_days

    age_tolerance = DEFAULT_AGE_TOLERANCE if age_tolerance is None else age_tolerance
    return {
        "software": f"reunite {__version__}",
        "genetic_model": model.describe(),
        "frequency_table": model.population,
        **_table_sha256(model.population),
        "theta": model.theta,
        "mutation": {l: (m.describe() if (m := model.locus_mutation(l)) else "none") for l in loci},
        "kit": sorted(loci),
        "rare_allele_rule": f"5/2N when N is known, else floor {DEFAULT_FLOOR:g}; renormalised",
        "min_common_loci": model.min_common_loci,
        "age_filter": {"tolerance_years": age_tolerance, "tolerance_days": tolerance_days(age_tolerance)},
        "identity_flags": {"min_common_loci": model.min_common_loci},
        "searched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _table_sha256(population: str) -> dict:
    """The checksum of a laboratory's imported table (the database keeps its own copy; a
    shipped table is named by its name alone)."""
    from reunite.genetics.frequencies import get_population

    sha = get_population(population).sha256
    return {"frequency_table_sha256": sha} if sha else {}


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
            provenance=json.dumps(provenance(model, c.lr_per_locus, age_tolerance=result.age_tolerance)),
            flags=json.dumps(c.flags),
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
              "inconsistent_loci", "rank", "flags", "reference_samples", "category", "found_place", "found_date")


def csv_details(session: Session, result: SearchResult) -> dict:
    """What the matches CSV adds to a result's candidates, read from the database: per family
    the references' sample ids (``person=sample``), per unidentified person the category,
    found place and found date."""
    fids = sorted({c.family.id for c in result.candidates})
    uids = sorted({c.unidentified.id for c in result.candidates})
    refs: dict[int, list[str]] = {}
    people: dict[int, tuple] = {}
    for start in range(0, len(fids), 500):
        for fid, person, code in session.execute(
                select(FamilyMember.family_id, FamilyMember.person_code, Sample.code)
                .join(Sample, (Sample.id == FamilyMember.sample_id) & (Sample.status == "active"))
                .where(FamilyMember.family_id.in_(fids[start:start + 500])).order_by(FamilyMember.person_code)):
            refs.setdefault(fid, []).append(f"{person}={code}")
    for start in range(0, len(uids), 500):
        for uid, category, place, found in session.execute(
                select(Unidentified.id, Unidentified.category, Unidentified.found_place, Unidentified.found_date)
                .where(Unidentified.id.in_(uids[start:start + 500]))):
            people[uid] = (category or "", place or "", found.isoformat() if found else "")
    return {"references": refs, "unidentified": people}


def write_csv(result: SearchResult, path, *, details: dict | None = None) -> None:
    """The matches CSV: one row per candidate, ids as in the imported files; ``flags``: the
    identity flags (:func:`reunite.search.identity.flag_text`), separated by ``;``;
    ``reference_samples`` (``person=sample;...``), ``category``, ``found_place`` and
    ``found_date`` from ``details`` (:func:`csv_details`; empty without it)."""
    from reunite.search.identity import flag_text

    details = details or {"references": {}, "unidentified": {}}
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        for c in result.candidates:
            w.writerow((c.unidentified.code, c.family.code, c.missing, repr(c.lr), f"{c.log10_lr:.6f}",
                        c.loci_compared, ";".join(c.inconsistent_loci), c.rank,
                        ";".join(flag_text(f) for f in c.flags),
                        ";".join(details["references"].get(c.family.id, [])),
                        *details["unidentified"].get(c.unidentified.id, ("", "", ""))))


def run_search(session: Session, model: GeneticModel, *, unidentified_ids=None, family_ids=None,
               min_lr: float = 1.0, top_k: int | None = 20, per: str = "unidentified",
               store: bool = True, workers: int = 1, progress=None, use_index: bool | None = None,
               index=None, age_tolerance: float = DEFAULT_AGE_TOLERANCE, identity=None) -> SearchResult:
    """Search the given unidentified persons against the given families (default: all).

    Per unidentified person against all families at θ = 0, the family index is used
    (``use_index``, default: when it applies; ``index``: one already brought up to date by
    :func:`family_index`); otherwise the engine (:func:`search`).  ``age_tolerance``: the
    age filter's tolerance in years.  The candidates are flagged with ``identity`` (default:
    :func:`identity_cache`, the database's lookup kept beside the family index)."""
    if use_index is None and per == "family" and unidentified_ids is None:
        # families against every unidentified person: the unidentified index (the engine's results)
        from reunite.search.unidentified_index import run_family_search

        result = run_family_search(session, model, family_ids=family_ids, min_lr=min_lr, top_k=top_k,
                                   progress=progress, age_tolerance=age_tolerance, identity=identity)
        if store:
            store_candidates(session, result, model)
        return result
    unidentified = load_unidentified(session, unidentified_ids)
    if identity is None and unidentified:
        identity = identity_cache(session, model)
    if use_index is None:
        use_index = index_applies(model, per=per, family_ids=family_ids)
    if use_index:
        index = index if index is not None else family_index(session, model)
        search_with = getattr(index, "index_search", index_search)  # a DaskIndex scans on its cluster
        result = search_with(unidentified, index, model=model, min_lr=min_lr, top_k=top_k,
                              workers=workers, progress=progress,
                              load_families=lambda ids: load_families(session, ids),
                              age_tolerance=age_tolerance, identity=identity)
    else:
        families = load_families(session, family_ids)
        result = search(unidentified, families, model=model, min_lr=min_lr, top_k=top_k, per=per,
                        workers=workers, progress=progress, age_tolerance=age_tolerance, identity=identity)
    if store:
        store_candidates(session, result, model)
    return result


def identity_lookup(session: Session, model: GeneticModel, *, unassigned: bool = False, chunk: int = 50_000):
    """Every active profile of the database as an :class:`~reunite.search.identity.IdentityLookup`
    (references of families and unidentified persons; with ``unassigned``, also samples
    given to nobody), pairs needing ``model.min_common_loci`` common loci.  Withdrawn
    samples are left out."""
    from reunite.search.identity import Holder, IdentityLookup

    lookup = IdentityLookup(min_common_loci=model.min_common_loci)
    q = (select(Sample.code, Sample.profile, FamilyMember.person_code, FamilyMember.family_id, Family.code,
                Unidentified.id, Unidentified.code)
         .outerjoin(FamilyMember, FamilyMember.sample_id == Sample.id)
         .outerjoin(Family, Family.id == FamilyMember.family_id)
         .outerjoin(Unidentified, Unidentified.sample_id == Sample.id)
         .where(Sample.status == "active")
         .order_by(Sample.id))
    result = session.connection().execute(q.execution_options(stream_results=True))
    for part in result.partitions(chunk):
        for code, profile, person, fid, fcode, uid, ucode in part:
            if person is not None:
                holder = Holder(code, "reference", person, fid, fcode)
            elif uid is not None:
                holder = Holder(code, "unidentified", ucode, unidentified_id=uid)
            elif unassigned:
                holder = Holder(code, "sample")
            else:
                continue
            lookup.add(holder, profile)
    return lookup


# ----------------------------------------------------------------------------------------
# The identity lookup, kept beside the family index and brought up to date before each search

_IDENTITY_CACHE: dict = {}  # identity file -> the lookup last read or built by this process
_IDENTITY_LOCK = threading.Lock()


def _unwritable(path: Path, exc: OSError) -> str:
    """Why ``path`` could not be written, in words: the system's reason, or that a file
    stands where a folder of the path should be."""
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return f"{blocker} is a file, not a folder"
    return exc.strerror or str(exc)


def identity_path(engine) -> Path | None:
    """Where the identity lookup of a database is kept: beside its family index
    (:func:`index_path`), named ``<index file>.identity.npz``; None for an in-memory database."""
    path = index_path(engine)
    return None if path is None else path.with_name(path.name + ".identity.npz")


def identity_state(session: Session) -> dict:
    """What the identity lookup of a database depends on, read in a few cheap statements: the
    database id, every import batch (:func:`_batch_token`), the corrections (count, last id
    and time of ``record_versions``) and the highest family member and unidentified ids."""
    from sqlalchemy import func

    from reunite.store.models import ImportBatch, RecordVersion, Setting

    row = session.get(Setting, "database_id")
    imports = sorted(_batch_token(b) for b in session.execute(
        select(ImportBatch.id, ImportBatch.created_at, ImportBatch.num_rows, ImportBatch.source)))
    count, last = session.execute(select(func.count(RecordVersion.id), func.max(RecordVersion.id))).one()
    at = session.execute(select(RecordVersion.changed_at).where(RecordVersion.id == last)).scalar() if last else None
    if at is not None:
        at = _utc_iso(at)
    return {"database_id": json.loads(row.value) if row is not None else None, "imports": imports,
            "corrections": [count, last, at],
            "max_member": session.execute(select(func.max(FamilyMember.id))).scalar(),
            "max_unidentified": session.execute(select(func.max(Unidentified.id))).scalar()}


def _add_identity_rows(lookup, session: Session, *, keep: set, new: list | None = None,
                       chunk: int = 50_000) -> tuple[int | None, int | None]:
    """Add the active profiles of the references and unidentified persons of the import
    batches in ``keep`` (None: rows of no import) to ``lookup``, streamed; with ``new``, only
    those of the import batches ``new`` are read.  Returns the highest family member and
    unidentified ids of the batches read (withdrawn samples and untyped members included)."""
    from sqlalchemy import func

    refs = (select(Family.batch_id, Sample.code, FamilyMember.person_code, FamilyMember.family_id, Family.code,
                   Sample.profile)
            .join(Family, Family.id == FamilyMember.family_id).join(Sample, Sample.id == FamilyMember.sample_id)
            .where(Sample.status == "active").order_by(FamilyMember.id))
    unid = (select(Unidentified.batch_id, Sample.code, Unidentified.code, Unidentified.id, Sample.profile)
            .join(Sample, Sample.id == Unidentified.sample_id)
            .where(Sample.status == "active").order_by(Unidentified.id))
    top_member = select(func.max(FamilyMember.id)).join(Family, Family.id == FamilyMember.family_id)
    top_unid = select(func.max(Unidentified.id))
    parts = [(refs, unid, top_member, top_unid)]
    if new is not None:
        parts = [(refs.where(Family.batch_id.in_(ids)), unid.where(Unidentified.batch_id.in_(ids)),
                  top_member.where(Family.batch_id.in_(ids)), top_unid.where(Unidentified.batch_id.in_(ids)))
                 for ids in (new[k:k + 900] for k in range(0, len(new), 900))]
    shapes = (lambda rows: (("reference", s, p, f, c, None, g) for b, s, p, f, c, g in rows if b in keep),
              lambda rows: (("unidentified", s, c, None, None, u, g) for b, s, c, u, g in rows if b in keep))
    tops = [None, None]
    for statements in parts:
        for q, shape in zip(statements[:2], shapes):
            result = session.connection().execute(q.execution_options(stream_results=True))
            for rows in result.partitions(chunk):
                lookup.add_rows(shape(rows))
        for k, q in enumerate(statements[2:]):
            tops[k] = _highest(tops[k], session.execute(q).scalar())
    return tops[0], tops[1]


def _highest(*ids):
    """The highest of the ids that are not None (None if all are)."""
    return max((i for i in ids if i is not None), default=None)


def _identity_update(lookup, session: Session, state: dict) -> bool:
    """Bring ``lookup`` (made for an earlier state of the database) up to ``state`` by adding
    the import batches made since; False (``lookup`` to be dropped) when it cannot be, that
    is unless the database is the same, no import it holds is gone, no correction was made
    since, and the new batches account for every new family member and unidentified person."""
    old = lookup.token or {}
    if (old.get("database_id") != state["database_id"] or old.get("corrections") != state["corrections"]
            or not set(old.get("imports", ())) <= set(state["imports"])):
        return False
    new = sorted({int(t.split("|", 1)[0]) for t in set(state["imports"]) - set(old["imports"])})
    top_member, top_unid = _add_identity_rows(lookup, session, keep=set(new), new=new) if new else (None, None)
    if (_highest(old.get("max_member"), top_member) != state["max_member"]
            or _highest(old.get("max_unidentified"), top_unid) != state["max_unidentified"]):
        return False
    lookup.token = state
    return True


def _built_identity(session: Session, model: GeneticModel, state: dict):
    """The identity lookup built from the whole database, for ``state`` (:func:`identity_state`)."""
    from reunite.search.identity import IdentityLookup

    lookup = IdentityLookup(min_common_loci=model.min_common_loci)
    keep = {int(t.split("|", 1)[0]) for t in state["imports"]} | {None}
    _add_identity_rows(lookup, session, keep=keep)
    lookup.token = state
    return lookup


def identity_cache(session: Session, model: GeneticModel, *, save: bool = True, rebuild: bool = False):
    """The identity lookup of the database's references and unidentified persons (what
    :func:`identity_lookup` builds, withdrawn samples left out), kept in a file beside the
    family index (:func:`identity_path`) and in this process.

    Used as it is when :func:`identity_state` is what it was built from; brought up to date
    by reading only the import batches made since when the database only gained imports;
    rebuilt after a correction (re-typed or withdrawn sample, pedigree, sex), an import it
    holds gone (rolled back, a restored backup), a family member or unidentified person
    added outside an import, or a missing, unreadable or foreign file (another database,
    format or software version).  Saved atomically (:meth:`IdentityLookup.save`); a file
    that cannot be written is left as it was and the lookup is used in memory (a warning).
    In-memory databases: built each time.  ``rebuild``: built from the database whatever
    the file holds (``reunite db index --rebuild``)."""
    import copy
    import warnings

    from reunite.errors import ReuniteError
    from reunite.search.identity import IdentityLookup
    from reunite.search.index import DamagedFileError

    path = identity_path(session.get_bind())
    state = identity_state(session)
    with _IDENTITY_LOCK:
        lookup = None
        if path is not None and state["database_id"] is not None:
            known = _IDENTITY_CACHE.pop(str(path), None)  # put back once up to date
            if rebuild:
                known = None
            if known is not None and known.token == state:
                lookup = known
            else:
                stored = None
                if path.exists() and not rebuild:
                    try:
                        stored = IdentityLookup.load(path, min_common_loci=model.min_common_loci)
                    except DamagedFileError as exc:  # truncated, corrupted: never used, rebuilt (said)
                        warnings.warn(str(exc), stacklevel=2)
                        stored = None
                    except ReuniteError:  # written by another version: rebuilt
                        stored = None
                if stored is not None and stored.token == state:
                    lookup = stored
                else:
                    for base in (stored, known):
                        if base is not None and _identity_update(base, session, state):
                            lookup = base
                            break
                    if lookup is None:
                        lookup = _built_identity(session, model, state)
                    if save:
                        try:
                            lookup.save(path)
                        except OSError as exc:
                            why = _unwritable(path, exc)
                            warnings.warn(f"the identity lookup could not be saved to {path} "
                                          f"({why}); the search goes on with it in memory, "
                                          f"and the next search builds it again. Make the folder {path.parent} "
                                          "writable, or set REUNITE_INDEX to a file in a writable folder",
                                          stacklevel=2)
            _IDENTITY_CACHE[str(path)] = lookup  # put back, also when it was up to date
        else:
            lookup = _built_identity(session, model, state)
    lookup.genotypes()  # one block, holders compacted: the view below shares them unchanged
    lookup.holders.compact()
    view = copy.copy(lookup)  # this search's minimum of common loci; the data is shared
    view.min_common_loci = max(1, int(model.min_common_loci))
    return view


# ----------------------------------------------------------------------------------------
# Pending searches: the automatic search of an import, recorded in the import's transaction

PENDING_KINDS = ("family", "unidentified")


def record_pending(session: Session, kind: str, subject_ids, *, batch_id: int | None = None,
                   reason: str = "automatic search after the import") -> int:
    """Record that the new ``kind`` records (``'family'`` or ``'unidentified'``, database ids)
    are to be searched, in the caller's transaction (the import's: the records and their
    search are committed together); returns how many were recorded (ones already pending
    are kept as they are)."""
    from sqlalchemy import insert

    from reunite.store.models import PendingSearch

    if kind not in PENDING_KINDS:
        raise ValueError(f"kind must be one of {PENDING_KINDS}, found {kind!r}")
    ids = sorted(set(subject_ids))
    have: set[int] = set()
    for start in range(0, len(ids), 900):
        have.update(session.execute(select(PendingSearch.subject_id).where(
            PendingSearch.kind == kind, PendingSearch.subject_id.in_(ids[start:start + 900]))).scalars())
    new = [i for i in ids if i not in have]
    if new:
        now = datetime.now(timezone.utc)
        session.execute(insert(PendingSearch), [
            {"kind": kind, "subject_id": i, "batch_id": batch_id, "reason": reason, "created_at": now}
            for i in new])
    return len(new)


def pending_searches(session: Session) -> dict[str, list[int]]:
    """The searches recorded and not yet done: ``{kind: [subject ids]}`` (kinds with none
    are left out)."""
    from reunite.store.models import PendingSearch

    out: dict[str, list[int]] = {}
    for kind, sid in session.execute(select(PendingSearch.kind, PendingSearch.subject_id)
                                     .order_by(PendingSearch.kind, PendingSearch.subject_id)):
        out.setdefault(kind, []).append(sid)
    return out


def _correction_pending(session: Session) -> dict[str, list[int]]:
    """The pending searches recorded by corrections (their reason starts ``correction:``)."""
    from reunite.store.models import PendingSearch

    out: dict[str, list[int]] = {}
    for kind, sid in session.execute(select(PendingSearch.kind, PendingSearch.subject_id)
                                     .where(PendingSearch.reason.like("correction:%"))):
        out.setdefault(kind, []).append(sid)
    return out


def run_pending(session: Session, model: GeneticModel, *, kind: str | None = None, subject_ids=None,
                workers: int = 1, index=None, progress=None) -> list[tuple[str, list[int], SearchResult]]:
    """Run the pending searches (all, or those of ``kind`` and ``subject_ids``) as the
    automatic search after an import runs them: new families against every unidentified
    person, new unidentified persons against every family, LR >= 1, the 20 best per query.
    The candidates are stored and the pending rows deleted in the caller's transaction,
    so a search is either done and stored or still pending.  Returns ``[(kind, ids,
    result)]``; subjects no longer in the database are dropped from the list.  Searches a
    correction left pending run through :func:`reunite.search.research.research` and come
    back as ``("correction", ids, ResearchSummary)``."""
    from sqlalchemy import delete

    from reunite.store.models import PendingSearch

    pending = pending_searches(session)
    done = []
    # searches a correction left: run as the correction runs them (earlier candidates of the
    # corrected records brought up to date or flagged superseded, not only new ones stored)
    corrected = {k: sorted(set(ids)) for k, ids in _correction_pending(session).items()
                 if (kind is None or k == kind)}
    if subject_ids is not None:
        corrected = {k: [i for i in ids if i in set(subject_ids)] for k, ids in corrected.items()}
    if any(corrected.values()):
        from reunite.search.research import research

        summary = research(session, model, unidentified_ids=corrected.get("unidentified", ()),
                           family_ids=corrected.get("family", ()),
                           because="a correction (its search was pending)", index=index, workers=workers)
        for k, ids in corrected.items():
            pending[k] = [i for i in pending.get(k, []) if i not in set(ids)]
        done.append(("correction", sorted(set().union(*corrected.values())), summary))
    for k in PENDING_KINDS:
        if kind is not None and k != kind:
            continue
        ids = pending.get(k, [])
        if subject_ids is not None:
            wanted = set(subject_ids)
            ids = [i for i in ids if i in wanted]
        if not ids:
            continue
        if k == "family":
            result = run_search(session, model, family_ids=ids, per="family", min_lr=1.0, workers=workers,
                                progress=progress)
        else:
            result = run_search(session, model, unidentified_ids=ids, min_lr=1.0, workers=workers,
                                index=index, progress=progress)
        for start in range(0, len(ids), 900):
            session.execute(delete(PendingSearch).where(PendingSearch.kind == k,
                                                        PendingSearch.subject_id.in_(ids[start:start + 900])))
        done.append((k, ids, result))
    for k, ids, _ in done:  # earlier candidates of persons the new profiles duplicate
        if k == "correction":  # research() has done it
            continue
        kw = {"unidentified_ids": ids} if k == "unidentified" else {"family_ids": ids}
        refresh_identity_flags(session, model, identity_neighbours(session, model, stored=False, **kw))
    return done


# ----------------------------------------------------------------------------------------
# Identity flags of stored candidates, kept true when other profiles arrive or change

def _chunks(values, size: int = 500):
    values = list(values)
    return (values[k:k + size] for k in range(0, len(values), size))


def identity_neighbours(session: Session, model: GeneticModel, *, unidentified_ids=(), family_ids=(),
                        stored: bool = True, identity=None) -> set[int]:
    """The unidentified persons (database ids) whose stored candidates' identity flags may
    change because the profiles of these unidentified persons, or of these families'
    references, are new or changed: those whose profile is now identical or nearly identical
    to one of them, and (``stored``: after a correction) those whose stored flags name one of
    their samples or families (the profile may be re-typed, withdrawn or no longer a
    reference).  The subjects themselves are included."""
    from sqlalchemy import or_

    uids, fids = sorted(set(unidentified_ids)), sorted(set(family_ids))
    out = set(uids)
    samples: dict[str, str] = {}  # code -> packed profile (active samples)
    family_codes: list[str] = []
    for part in _chunks(uids):
        for code, profile, status in session.execute(select(Sample.code, Sample.profile, Sample.status).join(
                Unidentified, Unidentified.sample_id == Sample.id).where(Unidentified.id.in_(part))):
            samples[code] = profile if status == "active" else None
    for part in _chunks(fids):
        family_codes += session.execute(select(Family.code).where(Family.id.in_(part))).scalars()
        for code, profile, status in session.execute(select(Sample.code, Sample.profile, Sample.status).join(
                FamilyMember, FamilyMember.sample_id == Sample.id).where(FamilyMember.family_id.in_(part))):
            samples[code] = profile if status == "active" else None
    if stored and (samples or family_codes):
        def like(key: str, value: str):
            text = json.dumps({key: value})[1:-1]
            text = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return MatchCandidate.flags.like(f"%{text}%", escape="\\")

        terms = [like("sample", c) for c in samples] + [like("family", c) for c in family_codes]
        for part in _chunks(terms, 200):
            out.update(session.execute(select(MatchCandidate.unidentified_id).distinct()
                                       .where(or_(*part))).scalars())
    profiles = [unpack_profile(p) for p in samples.values() if p]
    if profiles:
        lookup = identity if identity is not None else identity_cache(session, model)
        for matches in lookup.matches(profiles):
            for m in matches:
                holder = lookup.holders[m.target]
                if holder.unidentified_id is not None:
                    out.add(holder.unidentified_id)
    return out


def refresh_identity_flags(session: Session, model: GeneticModel, unidentified_ids, *, identity=None) -> int:
    """Compute again the identity flags stored on every candidate of these unidentified
    persons (other flags, e.g. ``superseded``, are kept): a search flags the candidates it
    stores, but a profile imported, re-typed or withdrawn later changes the flags of
    candidates stored before.  Persons whose sample is withdrawn are left as they are.
    Returns how many candidates changed."""
    from reunite.search.identity import KINDS, RELATIONS, flag_dict

    ids = sorted(set(unidentified_ids))
    people = [u for part in _chunks(ids) for u in load_unidentified(session, part)]
    if not people:
        return 0
    lookup = identity if identity is not None else identity_cache(session, model)
    own = lookup.holders.unidentified_entries(u.id for u in people)
    found = dict(zip((u.id for u in people), lookup.matches([u.profile for u in people], exclude=own)))
    changed = 0
    for part in _chunks(found):
        for row in session.execute(select(MatchCandidate).where(MatchCandidate.unidentified_id.in_(part))).scalars():
            try:
                old = json.loads(row.flags) if row.flags else []
            except ValueError:
                old = [row.flags]
            old = old if isinstance(old, list) else [old]
            new = [flag_dict(lookup.holders[m.target], m, family_id=row.family_id)
                   for m in found[row.unidentified_id]]
            new.sort(key=lambda x: (RELATIONS.index(x["relation"]), KINDS.index(x["kind"]), x["sample"]))
            new += [f for f in old if not (isinstance(f, dict) and f.get("kind") in KINDS)]
            if new != old:
                row.flags = json.dumps(new) if new else ""
                row.updated_at = datetime.now(timezone.utc)
                changed += 1
    session.flush()
    return changed


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
                FamilyMember.mother_code, FamilyMember.sex, FamilyMember.role, Sample.profile,
                FamilyMember.birth_date, FamilyMember.missing_date)
         .outerjoin(Sample, (Sample.id == FamilyMember.sample_id) & (Sample.status == "active"))  # withdrawn: untyped
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
    return per == "unidentified" and family_ids is None


def _batch_token(batch) -> str:
    """A family import as the index records it: id, time (UTC), rows and file (an id alone
    is reused after a rolled-back import)."""
    return f"{batch.id}|{_utc_iso(batch.created_at)}|{batch.num_rows}|{batch.source}"


def _utc_iso(at: datetime) -> str:
    """A stored time in ISO form, in UTC (SQLite gives it back without a time zone: UTC)."""
    return (at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)).isoformat()


_CORRECTIONS = "corrections|"


def _corrections_token(session: Session) -> str | None:
    """The last correction that changes what the family index holds (a family's pedigree or
    a member's sex; a reference's sample re-typed or withdrawn), as the index records it: id
    and time (an id alone is reused after a rolled-back correction).  None if there is none.
    An index that recorded another token is rebuilt."""
    from sqlalchemy import or_

    from reunite.store.models import RecordVersion

    reference_samples = select(FamilyMember.sample_id).where(FamilyMember.sample_id.is_not(None))
    last = session.execute(select(RecordVersion.id, RecordVersion.changed_at).where(or_(
        RecordVersion.entity == "family",
        (RecordVersion.entity == "sample") & RecordVersion.entity_id.in_(reference_samples)))
        .order_by(RecordVersion.id.desc()).limit(1)).first()
    if last is None:
        return None
    return f"{_CORRECTIONS}{last.id}|{_utc_iso(last.changed_at)}"


def family_index(session: Session, model: GeneticModel, *, save: bool = True, rebuild: bool = False,
                 must_save: bool = False, progress=None, base=None):
    """The database's family index, loaded from its file and brought up to date (new
    families added).  Rebuilt when the file is missing or unreadable, made for another
    database, genetic model or software version, or when a family import it holds is not in
    the database as it was (an import rolled back after the index was saved, a restored
    backup), or with ``rebuild``.  Saved atomically (:meth:`FamilyIndex.save`: the old file
    is replaced only once the new one is completely written); a file that cannot be written
    is left as it was and the search goes on with the index in memory (a warning), or, with
    ``must_save``, raises the ReuniteError of :func:`save_index`.  ``base``: an index already
    in memory (the server's), brought up to date in place instead of loading the file when it
    is still valid for the database (else the file, or a rebuild, as above)."""
    import warnings

    from sqlalchemy import func

    from reunite.errors import ReuniteError
    from reunite.search.index import DamagedFileError, FamilyIndex
    from reunite.store.models import ImportBatch, Setting

    path = index_path(session.get_bind())
    row = session.get(Setting, "database_id")
    database = json.loads(row.value) if row is not None else None
    imports = sorted(_batch_token(b) for b in session.execute(
        select(ImportBatch).where(ImportBatch.kind == "families")).scalars())
    corrected = _corrections_token(session)  # a pedigree, sex or reference correction: rebuilt
    imports += [corrected] if corrected else []
    fresh = FamilyIndex(model)
    fresh.database_id = database
    corrections = [t for t in imports if t.startswith(_CORRECTIONS)]

    def still_valid(held) -> bool:  # same database, no import gone, no correction since
        return (held.database_id == database and set(held.family_imports) <= set(imports)
                and [t for t in held.family_imports if t.startswith(_CORRECTIONS)] == corrections)

    index = None
    if base is not None and not rebuild and still_valid(base):
        index = base
    elif path is not None and path.exists() and database is not None and not rebuild:
        try:
            stored = FamilyIndex.load(path, model)
            if still_valid(stored):
                index = stored
            elif stored.database_id != database:
                warnings.warn(f"{path}: the family index of another database ({stored.database_id}, not "
                              f"{database}); it is rebuilt from the database", stacklevel=2)
        except DamagedFileError as exc:  # truncated, corrupted: never used, rebuilt (said)
            warnings.warn(str(exc), stacklevel=2)
            index = None
        except ReuniteError:  # made for another model or version
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
            save_index(index, path)
        except ReuniteError as exc:
            if must_save:
                raise
            warnings.warn(str(exc), stacklevel=2)
    return index


def save_index(index, path) -> None:
    """Write the family index to ``path`` (atomically, see :meth:`FamilyIndex.save`).

    Raises
    ------
    ReuniteError
        if the file or its folder cannot be written (the old file is left as it was).
    """
    from reunite.errors import ReuniteError

    path = Path(path)
    try:
        index.save(path)
    except OSError as exc:
        why = _unwritable(path, exc)
        raise ReuniteError(
            f"the family index could not be saved to {path} ({why}); the previous index file, if any, is "
            f"unchanged. Make the folder {path.parent} writable, or set REUNITE_INDEX to a file in a "
            "writable folder") from None
