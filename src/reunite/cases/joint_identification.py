"""Joint identification of the children of one rescue operation (disaster-victim
identification as the R package dvir defines it; the statistics are
:mod:`reunite.genetics.dvi`).

Who is compared with whom (:func:`identify_operation`):

* the *victims* are the operation's children still ``unidentified`` whose sample is active
  (a withdrawn sample is never searched), with their sex and their stored profiles;
* the *families* are every family holding a stored candidate of one of these children in any
  status but ``rejected`` (a reviewer's rejection takes the family out of the operation's
  joint search unless the caller names it again), plus the families (or reports) the caller
  names.  Each family is built from its stored pedigree and its references' profiles exactly
  as the search loads it (:func:`reunite.search.service.load_families`): references whose
  sample is withdrawn, or whose consent is withdrawn (:mod:`reunite.cases.consent`), are
  left out (the person stays in the pedigree, untyped).  A missing person already found (a
  confirmed candidate) is not offered to the other children; a family left with no typed
  reference is listed in the notes and not compared;
* the *loci* are those typed in the children that the database's genetic model can use
  (autosomal, with a usable frequency table), with the model's frequency table and mutation
  models (:meth:`GeneticModel.marker`).  Joint identification has no θ correction: it is
  computed at θ = 0 (a note says so when the database's model has θ > 0).

The search's age filter is not applied here: a family comes in through a candidate (which
passed it), and then every missing person of the family is offered to every child of
compatible sex, as dvir does.

The joint search keeps, for each child, the missing persons whose pairwise LR is at least
``limit`` (default 1, dvir's ``pairwiseLR(limit=)``) and nobody; with more than
``max_assignments`` assignments it stops with a message naming the count (the pairwise matrix
is still shown), and a higher ``limit`` or fewer families makes it smaller.

Scoping and audit: ``operation:read`` and ``candidate:read``; an operation of another
jurisdiction is shown restricted (code and owner) and nothing is computed.  Families owned by
another jurisdiction (their report's; national without a report) are shown by code and
jurisdiction only.  Every computation reads genetic profiles and is audited
(``operation.identify``): :func:`identify_operation_in` reads and computes in a read-only
session and writes the audit entry in a short write transaction after (before the view is
returned), so that no write lock is held while it computes.

:func:`identify_file` runs the same view on a laboratory's own file (a DVI ``.fam`` file or
the neutral DVI JSON), without the database.
"""

from __future__ import annotations

import math
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite import __version__
from reunite.cases.common import audit
from reunite.errors import NotFound, ReuniteError
from reunite.genetics.dvi import (
    DviProblem,
    ImpossibleFamily,
    JointResult,
    PairwiseLR,
    ReferenceFamily,
    Victim,
    joint_identification,
    pairwise_lr,
)
from reunite.genetics.kinship import not_autosomal
from reunite.genetics.pedigree import make_pedigree
from reunite.security.actor import Actor
from reunite.store.models import Family, FamilyMember, MatchCandidate, Sample, Unidentified
from reunite.store.models_workflow import Jurisdiction, MissingReport, ReferenceConsent
from reunite.store.profiles import GeneticModel, unpack_profile

#: pairings with a pairwise LR below this are dropped before the joint search (dvir's limit)
DEFAULT_LIMIT = 1.0
#: the joint assignments listed, best first
DEFAULT_TOP = 10
#: dvir's threshold for an undisputed identification
DEFAULT_UNDISPUTED = 1e4
#: the joint search stops (with a message naming the count) beyond this many assignments
DEFAULT_MAX_ASSIGNMENTS = 1_000_000
#: candidates in these statuses do not bring their family into the joint search
EXCLUDED_STATUSES = ("rejected",)
#: between a family's code and a person of its pedigree in the joint problem's ids
SEPARATOR = "/"


# ----------------------------------------------------------------------------------------
# the operation


def identify_operation(session: Session, code: str, *, actor: Actor, **options) -> dict:
    """The joint identification of rescue operation ``code`` in the caller's (write)
    transaction, audited there (see :func:`_identify` for the options).  A face should call
    :func:`identify_operation_in`, which holds no write lock while it computes."""
    view, entry = _identify(session, code, actor=actor, **options)
    if entry is not None:
        audit(session, actor, *entry[0], **entry[1])
    return view


def identify_operation_in(engine, code: str, *, actor: Actor, **options) -> dict:
    """:func:`identify_operation` read and computed in a read-only session (on SQLite a write
    transaction holds the database's write lock from its start: the computation would keep
    every writer waiting), then audited in a short write transaction before it is returned."""
    from reunite.cases.common import read_then_audit

    return read_then_audit(engine, actor, lambda session: _identify(session, code, actor=actor, **options))


def _identify(session: Session, code: str, *, actor: Actor, model: GeneticModel | None = None,
              families=(), limit: float | None = DEFAULT_LIMIT, top: int = DEFAULT_TOP,
              undisputed_threshold: float | None = DEFAULT_UNDISPUTED,
              max_assignments: int = DEFAULT_MAX_ASSIGNMENTS, progress=None) -> tuple[dict, tuple | None]:
    """The joint identification of rescue operation ``code``'s unidentified children against
    the families of their candidates and ``families`` (family or report codes), as a view
    for the CLI, the API and the web page (see the module doc and :func:`joint_view`).

    ``progress``: called with a short text before each step (the CLI's status line).
    Returns the view and its audit entry (``((action,), keywords)``; None when nothing was
    read: an operation of another jurisdiction).

    Raises
    ------
    PermissionDenied
        without ``operation:read`` and ``candidate:read``.
    NotFound
        for an unknown operation, family or report code.
    ReuniteError
        for a ``limit``, ``top`` or ``max_assignments`` out of range.
    """
    from reunite.cases.operations import _operation, _restricted
    from reunite.search.service import load_families

    actor.require("operation:read")
    actor.require("candidate:read")
    _check_arguments(limit=limit, top=top, undisputed_threshold=undisputed_threshold,
                     max_assignments=max_assignments)
    op, path = _operation(session, code)
    if not actor.in_scope(path):
        return {"operation": _restricted(session, op, path), "restricted": True}, None
    if model is None:
        from reunite.store.db import read_settings

        model = GeneticModel.from_json(read_settings(session)["genetic_model"])
    step = progress or (lambda text: None)
    step("reading the operation's children")
    notes = Notes()
    children = _children(session, op.id, notes)
    explicit = _explicit_families(session, families)
    step("finding the families of their candidates")
    candidates = _candidates(session, [c.id for c in children])
    family_ids = sorted({fid for (_, fid, _), row in candidates.items() if row["status"] not in EXCLUDED_STATUSES}
                        | set(explicit))
    records = load_families(session, family_ids) if family_ids else []
    withdrawn = _withdrawn_consent(session, family_ids)
    owners = _family_owners(session, family_ids)
    found = _found_missing(session, family_ids)
    loci, dropped = _loci(model, children)
    if dropped:
        notes.add("loci typed in the children but not compared: " + "; ".join(
            f"{locus} ({why})" for locus, why in sorted(dropped.items())), "loci_dropped", loci=sorted(dropped))
    if model.theta > 0:
        notes.add(f"the database's genetic model has theta {model.theta:g}; joint identification is computed "
                  "at theta 0 (no subpopulation correction), so its pairwise LRs may differ from the stored "
                  "candidates'", "theta", theta=model.theta)
    ref_families, info = [], []
    for rec in records:
        refs = {p: prof for p, prof in rec.references.items() if p not in withdrawn.get(rec.id, ())}
        dropped_refs = sorted(set(rec.references) - set(refs))
        typed = {p: {locus: g for locus, g in prof.items() if locus in loci} for p, prof in refs.items()}
        typed = {p: g for p, g in typed.items() if g}
        owner = owners.get(rec.id, {"path": None, "report": None})
        entry = {"code": rec.code, "explicit": rec.id in explicit, "jurisdiction": _path_code(owner["path"]),
                 "restricted": not actor.in_scope(owner["path"]),
                 "report": None if not actor.in_scope(owner["path"]) else owner["report"],
                 "references": len(typed), "withdrawn_references": len(dropped_refs),
                 "missing": [{"person": m, "sex": rec.pedigree[m].sex, "found": (rec.id, m) in found}
                             for m in rec.missing]}
        if dropped_refs:
            notes.add(f"family {rec.code}: {len(dropped_refs)} reference(s) left out, consent withdrawn",
                      "consent_withdrawn", family=rec.code, num=len(dropped_refs))
        if not typed:
            notes.add(f"family {rec.code}: no typed reference at the compared loci; not compared", "no_reference",
                      family=rec.code)
            entry["compared"] = False
            info.append(entry)
            continue
        if not rec.missing:
            notes.add(f"family {rec.code}: no missing person; not compared", "no_missing", family=rec.code)
            entry["compared"] = False
            info.append(entry)
            continue
        entry["compared"] = True
        info.append(entry)
        ref_families.append(_reference_family(rec, typed))
    victims = [Victim(c.code, c.sex, {locus: g for locus, g in c.profile.items() if locus in loci})
               for c in children]
    markers = [model.marker(locus) for locus in sorted(loci)]
    pairings = _pairings(victims, ref_families, found, records)
    if pairings is not None:
        keys = sorted(_key(fc, m) for fc, m in _found_keys(records, found))
        notes.add("missing persons already found (a confirmed candidate) are not offered to the other "
                  "children: " + ", ".join(keys), "found", missing=keys)
    problem = DviProblem(victims, ref_families, markers, pairings=pairings, name=op.code)
    result = None
    while victims and ref_families:
        try:
            step(f"computing {len(victims)} children x {sum(len(f.missing) for f in ref_families)} missing "
                 f"persons at {len(loci)} loci")
            result, error = _run(problem, limit=limit, top=top, undisputed_threshold=undisputed_threshold,
                                 max_assignments=max_assignments)
            break
        except ImpossibleFamily as exc:
            # one family's references contradict its pedigree (a typing or pedigree error): the
            # others are still identified; that family is left out and named
            notes.add(f"family {exc.family}: the references' genotypes are impossible on the pedigree at "
                      f"{', '.join(exc.markers)} (likelihood 0); not compared: check the pedigree and the "
                      "typing", "impossible_family", family=exc.family, loci=list(exc.markers))
            for entry in info:
                if entry["code"] == exc.family:
                    entry["compared"] = False
            ref_families = [f for f in ref_families if f.name != exc.family]
            pairings = _pairings(victims, ref_families, found, records)
            problem = DviProblem(victims, ref_families, markers, pairings=pairings, name=op.code)
    view = {"operation": {"code": op.code, "jurisdiction": _path_code(path), "name": op.name},
            "restricted": False,
            "children": [{"code": c.code, "sex": c.sex, "loci": len(v.genotypes)} for c, v in zip(children, victims)],
            "families": info}
    if result is None:
        if not victims:
            notes.add("the operation has no unidentified child with an active sample", "no_children")
        else:
            notes.add("no family to compare: no child of the operation has a candidate (other than rejected), and "
                      "none was named (--family)", "no_families")
        view.update(_empty_view(notes, model, loci, limit=limit, top=top,
                                undisputed_threshold=undisputed_threshold))
        return view, _audit_entry(op.code, view, loci)
    links = {(u, f, m): row for (u, _, m), row in candidates.items()
             for f in [row["family"]]}
    view.update(joint_view(problem, result, error=error, notes=notes, links=links,
                           provenance=_provenance(model, loci), settings={
                               "limit": limit, "top": top, "undisputed_threshold": undisputed_threshold,
                               "max_assignments": max_assignments}))
    restricted = {f["code"] for f in info if f["restricted"]}
    for col in view["missing"]:
        col["restricted"] = col["family"] in restricted
    return view, _audit_entry(op.code, view, loci)


def _check_arguments(*, limit, top, undisputed_threshold, max_assignments) -> None:
    if limit is not None and not (isinstance(limit, (int, float)) and math.isfinite(limit) and limit >= 0):
        raise ReuniteError(f"limit: expected a pairwise LR of 0 or more (e.g. 1), found {limit!r}")
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= 1000:
        raise ReuniteError(f"top: expected 1 to 1000 assignments, found {top!r}")
    if undisputed_threshold is not None and not (math.isfinite(undisputed_threshold) and undisputed_threshold > 1):
        raise ReuniteError(f"undisputed_threshold: expected an LR above 1 (dvir uses 10,000), found "
                           f"{undisputed_threshold!r}")
    if not isinstance(max_assignments, int) or not 1 <= max_assignments <= 100_000_000:
        raise ReuniteError(f"max_assignments: expected 1 to 100,000,000, found {max_assignments!r}")


class _Child:
    def __init__(self, uid: int, code: str, sex: str, profile: dict):
        self.id, self.code, self.sex, self.profile = uid, code, sex, profile


class Notes(list):
    """The notes of a view: English text (CLI, API) and, in ``items``, the same as
    ``{"kind": ..., **values}`` for a page to say in its language."""

    def __init__(self):
        super().__init__()
        self.items: list[dict] = []

    def add(self, text: str, kind: str, **values) -> None:
        self.append(text)
        self.items.append({"kind": kind, **values})


def _children(session: Session, operation_id: int, notes: Notes) -> list[_Child]:
    rows = session.execute(
        select(Unidentified.id, Unidentified.code, Unidentified.sex, Unidentified.status, Sample.status,
               Sample.profile)
        .join(Sample, Sample.id == Unidentified.sample_id)
        .where(Unidentified.operation_id == operation_id).order_by(Unidentified.code)).all()
    identified = [code for _, code, _, status, _, _ in rows if status != "unidentified"]
    withdrawn = [code for _, code, _, status, sample, _ in rows if status == "unidentified" and sample != "active"]
    if identified:
        notes.add(f"already identified, not compared: {', '.join(identified)}", "identified", children=identified)
    if withdrawn:
        notes.add(f"sample withdrawn, not compared: {', '.join(withdrawn)}", "sample_withdrawn", children=withdrawn)
    return [_Child(uid, code, sex or "U", unpack_profile(profile))
            for uid, code, sex, status, sample, profile in rows if status == "unidentified" and sample == "active"]


def _explicit_families(session: Session, codes) -> set[int]:
    """Family ids of the codes given: a family's code, or a report's code (its family)."""
    out = set()
    for code in codes or ():
        code = str(code).strip()
        fid = session.execute(select(Family.id).where(Family.code == code)).scalar_one_or_none()
        if fid is None:
            fid = session.execute(select(MissingReport.family_id).where(MissingReport.code == code)).scalar()
        if fid is None:
            raise NotFound(f"family: no family or report with code {code!r} ('reunite report list' lists the "
                           "reports; a family imported without a report goes by its code in the families file)")
        out.add(fid)
    return out


def _candidates(session: Session, child_ids: list[int]) -> dict:
    """{(child code, family id, missing): {id, status, log10_lr, family}} of the children."""
    out = {}
    for start in range(0, len(child_ids), 500):
        for cid, status, log10_lr, fid, fcode, missing, ucode in session.execute(
                select(MatchCandidate.id, MatchCandidate.status, MatchCandidate.log10_lr, MatchCandidate.family_id,
                       Family.code, MatchCandidate.missing_code, Unidentified.code)
                .join(Family, Family.id == MatchCandidate.family_id)
                .join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
                .where(MatchCandidate.unidentified_id.in_(child_ids[start:start + 500]))):
            out[(ucode, fid, missing)] = {"id": cid, "status": status, "log10_lr": log10_lr, "family": fcode}
    return out


def _withdrawn_consent(session: Session, family_ids: list[int]) -> dict[int, set[str]]:
    """Per family, the references whose consent is withdrawn (their samples are withdrawn too,
    and load_families leaves those out; this holds also where a sample was re-activated)."""
    out: dict[int, set[str]] = {}
    for start in range(0, len(family_ids), 500):
        for fid, person in session.execute(
                select(FamilyMember.family_id, FamilyMember.person_code)
                .join(ReferenceConsent, ReferenceConsent.family_member_id == FamilyMember.id)
                .where(FamilyMember.family_id.in_(family_ids[start:start + 500]),
                       ReferenceConsent.state == "withdrawn")):
            out.setdefault(fid, set()).add(person)
    return out


def _family_owners(session: Session, family_ids: list[int]) -> dict[int, dict]:
    """Per family, its report's code and jurisdiction path (national without a report)."""
    out = {}
    for start in range(0, len(family_ids), 500):
        for fid, report, path in session.execute(
                select(MissingReport.family_id, MissingReport.code, Jurisdiction.path)
                .join(Jurisdiction, Jurisdiction.id == MissingReport.jurisdiction_id)
                .where(MissingReport.family_id.in_(family_ids[start:start + 500]))):
            out[fid] = {"report": report, "path": path}
    return out


def _found_missing(session: Session, family_ids: list[int]) -> set[tuple[int, str]]:
    """(family id, missing) of the missing persons with a confirmed candidate."""
    out = set()
    for start in range(0, len(family_ids), 500):
        out |= set(session.execute(
            select(MatchCandidate.family_id, MatchCandidate.missing_code)
            .where(MatchCandidate.family_id.in_(family_ids[start:start + 500]),
                   MatchCandidate.status == "confirmed")).all())
    return out


def _found_keys(records, found) -> list[tuple[str, str]]:
    return [(r.code, m) for r in records for m in r.missing if (r.id, m) in found]


def _loci(model: GeneticModel, children: list[_Child]) -> tuple[set[str], dict[str, str]]:
    typed = set().union(*(c.profile for c in children)) if children else set()
    usable = model.loci()
    loci, dropped = set(), {}
    for locus in typed:
        why = not_autosomal(locus)
        if why:
            dropped[locus] = why
        elif locus not in usable:
            dropped[locus] = model.unusable_loci().get(locus, f"not in the frequency table {model.population}")
        else:
            loci.add(locus)
    return loci, dropped


def _key(family: str, person: str) -> str:
    return f"{family}{SEPARATOR}{person}"


def _reference_family(rec, typed: dict[str, dict]) -> ReferenceFamily:
    """The family with every person renamed ``<family code>/<person>`` (ids unique across
    families, as dvir requires)."""
    people = [{"id": _key(rec.code, p.id), "father": _key(rec.code, p.father) if p.father else None,
               "mother": _key(rec.code, p.mother) if p.mother else None, "sex": p.sex}
              for p in rec.pedigree.individuals]
    pedigree = make_pedigree(people, where=f"family {rec.code!r}")
    return ReferenceFamily(rec.code, pedigree, tuple(_key(rec.code, m) for m in rec.missing),
                           {_key(rec.code, p): g for p, g in typed.items()})


def _compatible(victim_sex: str, missing_sex: str) -> bool:
    return victim_sex not in ("M", "F") or missing_sex not in ("M", "F") or victim_sex == missing_sex


def _pairings(victims, families, found, records):
    """None (every missing person of compatible sex) unless some missing persons were found
    already: then each child's list without them."""
    found_keys = {_key(fc, m) for fc, m in _found_keys(records, found)}
    if not found_keys:
        return None
    out = {}
    for v in victims:
        out[v.id] = [m for f in families for m in f.missing
                     if m not in found_keys and _compatible(v.sex, f.pedigree[m].sex)] + [None]
    return out


def _run(problem: DviProblem, *, limit, top, undisputed_threshold, max_assignments):
    """``(JointResult or PairwiseLR, error or None)``: with too many assignments (or any
    other refusal of the joint search) the pairwise matrix alone and the message."""
    try:
        return joint_identification(problem, limit=limit, undisputed_threshold=undisputed_threshold, top=top,
                                    max_assignments=max_assignments), None
    except ReuniteError as exc:
        message = str(exc)
        if "assignment" in message:
            message += ("; make it smaller with a higher --limit (the pairwise LR a pairing needs), or fewer "
                        "families")
        return pairwise_lr(problem), message


def _path_code(path: str | None) -> str:
    return path.strip("/").split("/")[-1] if path else "CN"


def _provenance(model: GeneticModel, loci) -> dict:
    return {"software": f"reunite {__version__}", "method": "joint identification (dvir definitions: pairwise LR, "
            "joint LR against no one identified, flat prior over assignments)",
            "genetic_model": model.describe(), "frequency_table": model.population, "theta": 0.0,
            "mutation": {locus: (m.describe() if (m := model.locus_mutation(locus)) else "none")
                         for locus in sorted(loci)},
            "kit": sorted(loci)}


def _audit_entry(code: str, view: dict, loci) -> tuple:
    """The audit entry of a joint identification, as ``((action,), keywords)`` of :func:`audit`."""
    best = view.get("assignments") or []
    return ("operation.identify",), dict(entity="operation", entity_id=code, details={
        "children": [c["code"] for c in view.get("children", [])],
        "families": [f["code"] for f in view.get("families", [])], "loci": len(loci),
        "limit": (view.get("settings") or {}).get("limit"),
        "best_log10_lr": best[0]["log10_lr"] if best else None})


# ----------------------------------------------------------------------------------------
# a laboratory's file


def read_dvi_file(path) -> DviProblem:
    """The DVI problem of a DVI ``.fam`` file or of the neutral DVI JSON.

    Raises
    ------
    ReuniteError
        for a file that is neither, or a ``.fam`` file without a DVI section.
    """
    path = Path(path)
    if path.is_dir():
        raise ReuniteError(f"{path}: is a folder (expected a Familias DVI .fam file or a DVI JSON file)")
    if not path.is_file():
        raise ReuniteError(f"{path}: no such file (expected a Familias DVI .fam file or a DVI JSON file)")
    suffix = path.suffix.lower()
    if suffix == ".fam":
        from reunite.genetics.familias import read_fam

        fam = read_fam(path)
        if fam.dvi is None:
            raise ReuniteError(f"{path}: not a DVI file (it has no DVI section: victims and reference families); "
                               "'reunite lr FILE.fam' computes its hypotheses")
        return fam.dvi
    if suffix == ".json":
        return _read_json(path)
    raise ReuniteError(f"{path}: expected a .fam (Familias DVI) or .json (DVI JSON) file, found {suffix or 'no'} "
                       "extension")


def _read_json(path: Path) -> DviProblem:
    import importlib

    for module, name in (("reunite.genetics.dvi_io", "read_dvi_json"), ("reunite.genetics.dvi_io", "read_dvi"),
                         ("reunite.genetics.dvi", "read_dvi_json"), ("reunite.genetics.dvi", "read_dvi")):
        try:
            reader = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        return reader(path)
    raise ReuniteError(f"{path}: this installation has no reader of the DVI JSON format")


def identify_file(path, *, limit: float | None = DEFAULT_LIMIT, top: int = DEFAULT_TOP,
                  undisputed_threshold: float | None = DEFAULT_UNDISPUTED,
                  max_assignments: int = DEFAULT_MAX_ASSIGNMENTS) -> dict:
    """The joint identification of a laboratory's own file (see :func:`read_dvi_file`), as
    the same view as :func:`identify_operation` (no database, no scoping)."""
    _check_arguments(limit=limit, top=top, undisputed_threshold=undisputed_threshold,
                     max_assignments=max_assignments)
    problem = read_dvi_file(path)
    try:
        result, error = _run(problem, limit=limit, top=top, undisputed_threshold=undisputed_threshold,
                             max_assignments=max_assignments)
    except ReuniteError as exc:  # the file's problem found by the computation (a victim twice ...): name the file
        if str(path) in str(exc):
            raise
        raise type(exc)(f"{path}: {exc}") from None
    sources = sorted({m.source for m in problem.markers})
    provenance = {"software": f"reunite {__version__}", "method": "joint identification (dvir definitions)",
                  "file": str(path), "frequency_table": ", ".join(sources) or "given", "theta": 0.0,
                  "mutation": {m.name: (m.mutation.describe() if m.mutation else "none") for m in problem.markers},
                  "kit": [m.name for m in problem.markers]}
    view = {"operation": None, "file": str(path), "restricted": False,
            "children": [{"code": v.id, "sex": v.sex, "loci": len(v.genotypes)} for v in problem.victims],
            "families": [{"code": f.name, "explicit": False, "jurisdiction": None, "restricted": False,
                          "report": None, "references": len(f.genotypes), "withdrawn_references": 0,
                          "compared": True,
                          "missing": [{"person": m, "sex": f.pedigree[m].sex, "found": False} for m in f.missing]}
                         for f in problem.families]}
    view.update(joint_view(problem, result, error=error, notes=Notes(), links={}, provenance=provenance,
                           settings={"limit": limit, "top": top, "undisputed_threshold": undisputed_threshold,
                                     "max_assignments": max_assignments}, prefixed=False))
    return view


# ----------------------------------------------------------------------------------------
# the view


def _num(x):
    """A number for JSON: finite floats as they are, inf/nan as strings."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def joint_view(problem: DviProblem, result: JointResult | PairwiseLR, *, error: str | None, notes: Notes,
               links: dict, provenance: dict, settings: dict, prefixed: bool = True) -> dict:
    """What the faces show: the missing persons (columns), the pairwise matrix (rows: the
    children; log10 LR, exclusions, sex-incompatible pairs, the stored candidate), the best
    assignments, the undisputed identifications, each child's marginals, the notes and the
    provenance.  ``links``: {(child, family code, missing): stored candidate}."""
    joint = result if isinstance(result, JointResult) else None
    pairwise = joint.pairwise if joint else result
    owner = {m: f.name for f in problem.families for m in f.missing}
    sexes = {m: f.pedigree[m].sex for f in problem.families for m in f.missing}

    def person(key: str) -> str:
        if prefixed and key.startswith(owner[key] + SEPARATOR):
            return key[len(owner[key]) + len(SEPARATOR):]
        return key

    def target(key: str | None) -> dict | None:
        if key is None:
            return None
        return {"family": owner[key], "missing": person(key)}

    def link(child: str, key: str | None) -> dict | None:
        if key is None:
            return None
        row = links.get((child, owner[key], person(key)))
        return None if row is None else {"id": row["id"], "status": row["status"]}

    columns = [{"key": m, "family": owner[m], "missing": person(m), "sex": sexes[m]} for m in pairwise.missing]
    matrix = []
    for i, child in enumerate(pairwise.victims):
        cells = []
        for j, m in enumerate(pairwise.missing):
            lr = float(pairwise.lr[i, j])
            log10 = float(pairwise.log10_lr[i, j])
            reason = pairwise.reasons.get((child, m))
            cells.append({"family": owner[m], "missing": person(m), "lr": _num(lr), "log10_lr": _num(log10),
                          "state": "sex" if math.isnan(lr) else ("excluded" if lr == 0 else "compared"),
                          "reason": reason, "candidate": link(child, m)})
        matrix.append({"child": child, "cells": cells})
    engine_notes = list(joint.notes) if joint else []
    out = {"missing": columns, "pairwise": matrix, "error": error, "error_item": _error_item(error),
           "notes": list(notes) + engine_notes,
           "note_items": list(notes.items) + [_engine_note(text) for text in engine_notes],
           "settings": settings, "provenance": {**provenance, **(
               {"engine": joint.provenance} if joint and joint.provenance else {})},
        "assignments": [], "num_assignments": None, "undisputed": [], "marginals": []}
    if joint is None:
        return out
    out["num_assignments"] = joint.n_assignments
    for rank, a in enumerate(joint.assignments, start=1):
        out["assignments"].append({
            "rank": rank, "log10_lr": _num(a.log10_lr), "lr": _num(a.lr), "posterior": _num(a.posterior),
            "loglik": _num(a.loglik),
            "pairs": [{"child": v, **(target(m) or {"family": None, "missing": None}), "candidate": link(v, m)}
                      for v, m in a.pairs.items()]})
    for u in joint.undisputed:
        j = pairwise.missing.index(u.missing)
        i = pairwise.victims.index(u.victim)
        out["undisputed"].append({"child": u.victim, **target(u.missing), "lr": _num(u.lr),
                                  "log10_lr": _num(float(pairwise.log10_lr[i, j])),
                                  "candidate": link(u.victim, u.missing)})
    for child in pairwise.victims:
        probs = joint.marginals.get(child, {})
        named = {m: p for m, p in probs.items() if m is not None}
        best = max(named, key=named.get) if named else None
        if best is not None and not named[best] > 0:  # no family is possible: none is "most probable"
            best = None
        out["marginals"].append({"child": child, "best": target(best), "probability": _num(named.get(best))
                                 if best else None, "not_identified": _num(probs.get(None, 0.0)),
                                 "candidate": link(child, best)})
    return out


def _error_item(error: str | None) -> dict | None:
    """The joint search's refusal as ``{"kind": "too_many", "num": N}`` when it is the count."""
    import re

    if error is None:
        return None
    found = re.search(r"(\d[\d,]*) assignments", error)
    if found:
        return {"kind": "too_many", "num": int(found.group(1).replace(",", ""))}
    return {"kind": "other", "text": error}


def _engine_note(text: str) -> dict:
    """A note of the statistics engine as an item (the pairings left out by the limit, by count)."""
    import re

    found = re.match(r"pairings with a pairwise LR below (\S+) left out of the joint search: (\d+)", text)
    if found:
        return {"kind": "limit", "limit": found.group(1), "num": int(found.group(2))}
    if text == "every assignment has likelihood 0":
        return {"kind": "all_zero"}
    return {"kind": "engine", "text": text}


def _empty_view(notes: Notes, model: GeneticModel, loci, *, limit, top, undisputed_threshold) -> dict:
    return {"missing": [], "pairwise": [], "error": None, "error_item": None, "notes": list(notes),
            "note_items": list(notes.items),
            "settings": {"limit": limit, "top": top, "undisputed_threshold": undisputed_threshold},
            "provenance": _provenance(model, loci), "assignments": [], "num_assignments": 0, "undisputed": [],
            "marginals": []}
