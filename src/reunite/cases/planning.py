"""Planning and validation: what a family's references can prove, and what a threshold means
for the whole database (one service for ``reunite plan``, the API and the web pages).

- :func:`plan_family`: for one family (by its report's code or the family's code), the exact
  per-marker LR distributions of its missing child under the database's genetic model, the
  expected log10 LR for the true child and for an unrelated child, the probability of
  exclusion, P(LR >= threshold) for both (importance sampling for the unrelated child), the
  quantiles of log10 LR, and the untyped relatives ranked by what their sample would add.
  Needs ``report:read`` and the family in the actor's jurisdiction subtree (a family without
  a report is national); every call is audited (``family.plan``): :func:`plan_family_in`
  computes in a read-only session and audits in a short write transaction after.
- :func:`plan_database`: the expected number of false candidates at or above each threshold
  at the database's size and family mix, and the share of true children found, by family
  type, from simulated families.  Needs ``statistics:read``; counts only (nothing personal),
  so it is not audited.  The search compares every child with every family, so the counts
  are database-wide whatever the actor's jurisdiction.

Every result carries its provenance: software, genetic model, frequency table, θ, mutation
models, kit, seed and numbers of simulations.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reunite import __version__
from reunite.cases.common import audit
from reunite.errors import NotFound, PermissionDenied, ReuniteError
from reunite.genetics import planning as fam_plan
from reunite.genetics import planning_db as db_plan
from reunite.genetics.kinship import json_number
from reunite.genetics.likelihood import pruned_shape
from reunite.genetics.pedigree import make_pedigree
from reunite.security.actor import Actor
from reunite.store.models import Family, FamilyMember, Sample, Unidentified
from reunite.store.models_workflow import Jurisdiction, MissingReport
from reunite.store.profiles import GeneticModel, unpack_profile

#: defaults of a family's plan: the threshold (LR), the simulated totals, the seed
DEFAULT_THRESHOLD = 10_000.0
DEFAULT_SIMULATIONS = 100_000
DEFAULT_SEED = 1
#: simulated totals per relative when ranking relatives
RELATIVE_SIMULATIONS = 20_000
#: the mixes a database plan can use
MIXES = ("database", "simulated")
#: family shapes simulated by a database plan (the most common first; each costs about a second)
DEFAULT_MAX_TYPES = 12
#: the simulated mix's default size
SIMULATED_FAMILIES, SIMULATED_UNIDENTIFIED = 1_000, 500
#: reference profiles read to find the database's kit
KIT_SAMPLE = 2_000

_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 64


def _cached(key, compute):
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = compute()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def _model(session: Session, model: GeneticModel | None) -> GeneticModel:
    if model is not None:
        return model
    from reunite.store.db import read_settings

    return GeneticModel.from_json(read_settings(session)["genetic_model"])


def _clean(value):
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def provenance(model: GeneticModel, kit, *, seed: int, **numbers) -> dict:
    """What every plan records about how it was computed."""
    return {
        "software": f"reunite {__version__}",
        "genetic_model": model.describe(),
        "frequency_table": model.population,
        "theta": model.theta,
        "mutation": {l: (m.describe() if (m := model.locus_mutation(l)) else "none") for l in kit},
        "kit": list(kit),
        "seed": seed,
        **numbers,
        "computed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# ----------------------------------------------------------------------------------------
# one family


class _BudgetSpent(Exception):
    """The time the ranking of relatives may take is spent."""


def _family_of(session: Session, key: str):
    """``(family, report or None, jurisdiction path)`` of a report code or a family code."""
    if not isinstance(key, str) or not key.strip():
        raise ReuniteError("family: expected a report's code or a family's code")
    key = key.strip()
    report = session.execute(select(MissingReport).where(MissingReport.code == key)).scalar_one_or_none()
    if report is not None:
        if report.family_id is None:
            raise NotFound(f"family: report {key!r} has no family pedigree yet; add its references first")
        family = session.get(Family, report.family_id)
    else:
        family = session.execute(select(Family).where(Family.code == key)).scalar_one_or_none()
        if family is None:
            raise NotFound(f"family: no report and no family with code {key!r} ('reunite report list' shows "
                           "the reports)")
        report = session.execute(select(MissingReport).where(MissingReport.family_id == family.id)
                                 ).scalar_one_or_none()
    path = None
    if report is not None:
        path = session.execute(select(Jurisdiction.path).where(Jurisdiction.id == report.jurisdiction_id)
                               ).scalar_one_or_none()
    return family, report, path


def _check_number(name: str, value, *, low: float, high: float, whole: bool = False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and low <= value <= high and (not whole or float(value).is_integer())
    if not ok:
        kind = "a whole number" if whole else "a number"
        raise ReuniteError(f"{name}: expected {kind} from {low:g} to {high:g}, found {value!r}")
    return int(value) if whole else float(value)


def family_markers(model: GeneticModel, references: dict[str, dict]) -> tuple[list, list[str]]:
    """The markers of a family's plan: every locus typed in a reference that the database's
    model searches, with the references' genotypes; and notes on loci left out."""
    usable = model.loci()
    typed = sorted({l for prof in references.values() for l in prof})
    notes = []
    left = [l for l in typed if l not in usable]
    if left:
        notes.append(f"loci typed in the references but not searched by the database's model (left out): "
                     f"{', '.join(left)}")
    markers = [model.marker(l, {pid: prof[l] for pid, prof in references.items() if l in prof})
               for l in typed if l in usable]
    return markers, notes


def plan_family(session: Session, family: str, *, actor: Actor, **options) -> dict:
    """The plan of one family in the caller's (write) transaction, audited there: see
    :func:`_plan_family` for the options.  A face should call :func:`plan_family_in`, which
    holds no write lock while it computes."""
    out, details = _plan_family(session, family, actor=actor, **options)
    audit(session, actor, "family.plan", entity="family", entity_id=out["family"], details=details)
    return out


def plan_family_in(engine, family: str, *, actor: Actor, **options) -> dict:
    """:func:`plan_family` read and computed in a read-only session (on SQLite a write
    transaction holds the database's write lock from its start: the computation would keep
    every writer waiting), then audited in a short write transaction before it is returned."""
    from reunite.cases.common import read_then_audit

    def compute(session):
        out, details = _plan_family(session, family, actor=actor, **options)
        return out, (("family.plan",), {"entity": "family", "entity_id": out["family"], "details": details})

    return read_then_audit(engine, actor, compute)


def _plan_family(session: Session, family: str, *, actor: Actor, threshold: float = DEFAULT_THRESHOLD,
                 seed: int = DEFAULT_SEED, num_simulations: int = DEFAULT_SIMULATIONS, relatives: bool = True,
                 missing: str | None = None, model: GeneticModel | None = None, progress=None,
                 relative_genotypes: int | None = None,
                 relatives_budget_s: float | None = None) -> tuple[dict, dict]:
    """The plan of one family (see the module's docstring): ``family`` is a report's code or a
    family's code; ``missing``: which missing person (needed only when the family has several).

    Returns the plan and the details of its audit entry.  The plan is a dict: ``family``,
    ``report``, ``missing``, ``references`` (person, relation),
    ``threshold``, ``mean_log10_lr_h1``/``_h2`` (exact), ``exclusion_power`` (exact),
    ``p_h1``/``se_h1`` and ``p_h2``/``se_h2`` (P(LR >= threshold) for the true and an
    unrelated child), ``quantiles_log10_lr_h1``/``_h2``, ``per_marker``, ``relatives``
    (ranked by the gain in mean log10 LR), ``relatives_not_ranked``, ``notes``,
    ``provenance``.

    ``relatives_budget_s``: the seconds the ranking of relatives may take (the API's and the
    pages'; None: no limit).  When they are spent before the last relative, no relative is
    ranked (a partial ranking would mislead) and ``relatives_not_ranked`` counts them.

    Raises
    ------
    NotFound, PermissionDenied, ReuniteError
        an unknown code, a family outside the actor's jurisdiction, a family without typed
        references, bad numbers.
    """
    from reunite.search.service import load_families

    actor.require("report:read")
    threshold = _check_number("threshold", threshold, low=1e-300, high=1e300)
    seed = _check_number("seed", seed, low=0, high=2**63 - 1, whole=True)
    num_simulations = _check_number("simulations", num_simulations, low=100, high=fam_plan.MAX_SIMULATIONS,
                                    whole=True)
    if relative_genotypes:
        relative_genotypes = _check_number("relative_genotypes", relative_genotypes, low=1, high=100_000, whole=True)
    else:
        relative_genotypes = None
    fam, report, path = _family_of(session, family)
    if not actor.in_scope(path):
        raise PermissionDenied(f"family: {fam.code!r} belongs to another jurisdiction than "
                               f"{actor.username}'s ({actor.jurisdiction_path})")
    model = _model(session, model)
    [record] = load_families(session, [fam.id])
    wanted = missing or (report.missing_code if report is not None and report.missing_code else None)
    if wanted is None:
        if len(record.missing) != 1:
            raise ReuniteError(f"missing: family {fam.code!r} has {len(record.missing)} missing persons "
                               f"({', '.join(record.missing) or 'none'}); name one")
        wanted = record.missing[0]
    if wanted not in record.missing:
        raise ReuniteError(f"missing: {wanted!r} is not a missing person of family {fam.code!r} (its missing "
                           f"persons: {', '.join(record.missing) or 'none'})")
    if not record.references:
        raise ReuniteError(f"family: {fam.code!r} has no typed reference with an active sample, so there is "
                           "nothing to plan from; add a reference's sample first")
    markers, notes = family_markers(model, record.references)
    left_out = sorted({l for prof in record.references.values() for l in prof} - {m.name for m in markers})
    key = ("family", fam.id, wanted, tuple(sorted((p, tuple(sorted(prof.items())))
                                                 for p, prof in record.references.items())),
           tuple(p for p in record.pedigree.individuals), tuple(record.missing), model, threshold, seed,
           num_simulations, relatives, relative_genotypes, relatives_budget_s)

    def compute():
        where = f"family {fam.code!r}"
        dists = fam_plan.marker_distributions(record.pedigree, missing=wanted, markers=markers,
                                              theta=model.theta, where=where)
        power = fam_plan.family_power(dists, thresholds=[threshold], num_simulations=num_simulations, seed=seed)
        gains, unranked = [], 0
        if relatives:
            typed = {pid for m in markers for pid in m.genotypes}
            # the family's other missing persons (a twin, a sibling taken too) cannot give a sample
            candidates = [r for r in fam_plan.candidate_relatives(record.pedigree, missing=wanted, typed=typed)
                          if r[0] not in record.missing]
            started = time.monotonic()

            def step(done: int, total: int) -> None:
                if progress is not None:
                    progress(done, total)
                if relatives_budget_s is not None and done < total and \
                        time.monotonic() - started >= relatives_budget_s:
                    raise _BudgetSpent

            try:
                gains = fam_plan.relative_gains(
                    record.pedigree, missing=wanted, markers=markers, threshold=threshold, theta=model.theta,
                    num_simulations=min(num_simulations, RELATIVE_SIMULATIONS), seed=seed, where=where,
                    progress=step, genotypes_per_marker=relative_genotypes, relatives=candidates)
            except _BudgetSpent:
                gains, unranked = [], len(candidates)
        return dists, power, gains, unranked

    dists, power, gains, unranked = _cached(key, compute)
    row = power.thresholds[0]
    out = {
        "family": fam.code, "report": report.code if report is not None else None, "missing": wanted,
        "missing_sex": record.pedigree[wanted].sex,
        "references": [{"person": p, "relation": fam_plan.relation_to(record.pedigree, p, wanted),
                        "loci": len(record.references[p])} for p in sorted(record.references)],
        "threshold": threshold, "log10_threshold": math.log10(threshold),
        "mean_log10_lr_h1": power.mean_log10_lr_h1, "mean_log10_lr_h2": power.mean_log10_lr_h2,
        "exclusion_power": power.exclusion_power,
        "p_h1": row["p_h1"], "se_h1": row["se_h1"], "p_h2": row["p_h2"], "se_h2": row["se_h2"],
        "p_h2_plain": row["p_h2_plain"],
        "quantiles_log10_lr_h1": power.quantiles_h1, "quantiles_log10_lr_h2": power.quantiles_h2,
        "per_marker": power.to_json()["per_marker"],
        "relatives": [g.to_json() for g in gains], "relatives_not_ranked": unranked,
        "notes": notes + [f"{m}: {why}" for m, why in power.notes.items()]
        + ([f"{unranked} untyped relatives were not ranked: it would take longer than "
            f"{relatives_budget_s:g} s here; 'reunite plan --family {fam.code}' ranks them"] if unranked else []),
        # the notes as data (the pages write them in their language)
        "note_items": ([{"kind": "loci_left_out", "loci": left_out}] if left_out else [])
        + [{"kind": "marker", "marker": d.name, "usable": d.usable} for d in dists if d.note]
        + ([{"kind": "relatives_not_ranked", "num": unranked}] if unranked else []),
        "provenance": provenance(model, [m.name for m in markers], seed=seed, num_simulations=num_simulations,
                                 relative_simulations=min(num_simulations, RELATIVE_SIMULATIONS) if relatives else 0,
                                 relative_genotypes=("every genotype (exact)" if relative_genotypes is None else
                                                     f"{relative_genotypes} drawn per marker"),
                                 method="exact per-marker distributions; simulated totals; importance sampling "
                                        "for the unrelated child"),
    }
    return _clean(out), {"threshold": threshold, "seed": seed, "num_simulations": num_simulations}


# ----------------------------------------------------------------------------------------
# the database


def _compatible(sex: str, by_sex: Counter) -> int:
    """Unidentified persons a missing person of ``sex`` is compared with (sex known on both
    sides must agree)."""
    total = sum(by_sex.values())
    if sex not in ("M", "F"):
        return total
    return by_sex.get(sex, 0) + sum(n for s, n in by_sex.items() if s not in ("M", "F"))


def _signature(pedigree, missing: str, typed: set[str]):
    structure = pedigree.structure_key()
    idx = pedigree.index
    shape, local = pruned_shape(structure, tuple(sorted(idx[p] for p in typed)), (idx[missing],))
    return shape, local[idx[missing]]


def _known_types() -> dict:
    """Signatures of the simulator's family types (reunite.simulate.FAMILY_TYPES) -> name."""
    from reunite.simulate import FAMILY_TYPES

    out = {}
    for name, _, people in FAMILY_TYPES:
        ped = _type_pedigree(people)
        out[_signature(ped, "M", {p[0] for p in people if p[4] == "reference"})] = name
    return out


def _type_pedigree(people):
    return make_pedigree([{"id": p[0], "father": p[1], "mother": p[2], "sex": "U" if p[3] == "?" else p[3]}
                          for p in people])


def _describe_type(pedigree, missing: str, typed) -> str:
    relations = sorted(fam_plan.relation_to(pedigree, p, missing) for p in typed)
    return "references: " + ", ".join(relations)


def database_mix(session: Session) -> tuple[list, Counter]:
    """The database's family types (one per pedigree shape of references and missing person)
    with their counts and compared pairs, and the unidentified persons by sex."""
    by_sex = Counter(dict(session.execute(
        select(Unidentified.sex, func.count()).join(Sample, Sample.id == Unidentified.sample_id)
        .where(Sample.status == "active").group_by(Unidentified.sex)).all()))
    rows = session.execute(
        select(FamilyMember.family_id, FamilyMember.person_code, FamilyMember.father_code,
               FamilyMember.mother_code, FamilyMember.sex, FamilyMember.role, Sample.id)
        .outerjoin(Sample, (Sample.id == FamilyMember.sample_id) & (Sample.status == "active"))
        .order_by(FamilyMember.family_id, FamilyMember.id)).all()
    families: dict[int, list] = {}
    for r in rows:
        families.setdefault(r[0], []).append(r)
    known = _known_types()
    types: dict = {}
    for fid, members in families.items():
        typed = {m[1] for m in members if m[5] == "reference" and m[6] is not None}
        if not typed:
            continue
        try:
            ped = make_pedigree([{"id": m[1], "father": m[2], "mother": m[3], "sex": m[4]} for m in members])
        except ReuniteError:
            continue
        for m in members:
            if m[5] != "missing":
                continue
            sig = _signature(ped, m[1], typed)
            entry = types.get(sig)
            if entry is None:
                name = known.get(sig) or _describe_type(ped, m[1], typed)
                entry = types[sig] = [name, ped, m[1], tuple(sorted(typed)), 0, 0]
            entry[4] += 1
            entry[5] += _compatible(ped[m[1]].sex, by_sex)
    out = [db_plan.FamilyType(name, ped, missing, refs, n, pairs) for name, ped, missing, refs, n, pairs in types.values()]
    # two shapes may describe alike: make the names unique
    seen: Counter = Counter()
    for t in sorted(out, key=lambda t: -t.num_families):
        seen[t.name] += 1
        if seen[t.name] > 1:
            t.name = f"{t.name} ({seen[t.name]})"
    return sorted(out, key=lambda t: (-t.num_families, t.name)), by_sex


def _mix_fingerprint(session: Session) -> tuple:
    """Counts that change whenever the database's mix may have (members, samples, unidentified
    persons, their sexes): the mix is read again only then (a national database has millions
    of members)."""
    members = session.execute(select(func.count(), func.max(FamilyMember.id), func.sum(FamilyMember.sample_id),
                                     func.sum(func.length(FamilyMember.father_code)),
                                     func.sum(func.length(FamilyMember.mother_code)),
                                     func.sum(func.length(FamilyMember.role)), func.sum(func.length(FamilyMember.sex)))
                              .select_from(FamilyMember)).one()
    samples = session.execute(select(func.count(), func.max(Sample.id)).where(Sample.status == "active")).one()
    people = session.execute(select(Unidentified.sex, func.count(), func.max(Unidentified.id))
                             .group_by(Unidentified.sex).order_by(Unidentified.sex)).all()
    return (str(session.get_bind().url), tuple(members), tuple(samples), tuple(tuple(r) for r in people))


def simulated_mix(*, num_families: int, num_unidentified: int) -> list:
    """The simulator's family types (reunite.simulate.FAMILY_TYPES) in their shares."""
    from reunite.simulate import FAMILY_TYPES

    total = sum(share for _, share, _ in FAMILY_TYPES)
    out = []
    for name, share, people in FAMILY_TYPES:
        n = int(round(num_families * share / total))
        out.append(db_plan.FamilyType(name, _type_pedigree(people), "M",
                                      tuple(p[0] for p in people if p[4] == "reference"), n, n * num_unidentified))
    return out


def database_kit(session: Session, model: GeneticModel) -> list[str]:
    """The loci typed in at least half of (up to :data:`KIT_SAMPLE`) active reference profiles
    and searched by the model; the kit of the simulator (CHN24) where there are none."""
    from reunite.genetics.kits import CHN24

    usable = model.loci()
    profiles = session.execute(select(Sample.profile).join(FamilyMember, FamilyMember.sample_id == Sample.id)
                               .where(Sample.status == "active").order_by(Sample.id).limit(KIT_SAMPLE)).scalars().all()
    if not profiles:
        return [l for l in CHN24 if l in usable]
    counts = Counter(l for p in profiles for l in unpack_profile(p))
    return sorted(l for l, n in counts.items() if 2 * n >= len(profiles) and l in usable)


def plan_database(session: Session, *, actor: Actor, thresholds=db_plan.DEFAULT_THRESHOLDS,
                  seed: int = DEFAULT_SEED, num_simulations: int = db_plan.DEFAULT_SIMULATIONS_PER_TYPE,
                  families_per_type: int = db_plan.DEFAULT_FAMILIES_PER_TYPE, mix: str = "database",
                  num_families: int | None = None, num_unidentified: int | None = None,
                  model: GeneticModel | None = None, progress=None,
                  max_types: int | None = DEFAULT_MAX_TYPES) -> dict:
    """The database plan (see the module's docstring).

    ``max_types``: the most common family shapes simulated (each costs about a second); the
    families of rarer shapes are counted at the planned shapes' average rate of false
    candidates per compared pair (said in ``notes``); None or 0 simulates every shape.

    ``mix``: ``database`` (the families and unidentified persons the database holds; a
    database without families falls back to the simulated mix, said in ``notes``) or
    ``simulated`` (the simulator's family types in their shares, ``num_families`` families
    and ``num_unidentified`` unidentified persons).  ``num_unidentified`` given with the
    database mix scales the compared pairs to that many unidentified persons (planning for
    growth).

    Returns a dict: ``thresholds``, ``expected_false_candidates`` (and standard errors),
    ``share_true_found`` over the thresholds; ``family_types`` (name, families, pairs,
    ``p_h1``/``p_h2`` per threshold); ``num_families``, ``num_unidentified``, ``mix``,
    ``notes``, ``provenance``.
    """
    actor.require("statistics:read")
    if mix not in MIXES:
        raise ReuniteError(f"mix: expected one of {', '.join(MIXES)}, found {mix!r}")
    ts = sorted(fam_plan._check_thresholds(thresholds))
    seed = _check_number("seed", seed, low=0, high=2**63 - 1, whole=True)
    num_simulations = _check_number("simulations", num_simulations, low=100, high=fam_plan.MAX_SIMULATIONS,
                                    whole=True)
    families_per_type = _check_number("families_per_type", families_per_type, low=1, high=1000, whole=True)
    for name, value in (("num_families", num_families), ("num_unidentified", num_unidentified)):
        if value is not None:
            _check_number(name, value, low=0, high=1e9, whole=True)
    model = _model(session, model)
    notes: list[str] = []
    items: list[dict] = []
    if mix == "database":
        types, by_sex = _cached(("mix", _mix_fingerprint(session)), lambda: database_mix(session))
        types = [db_plan.FamilyType(t.name, t.pedigree, t.missing, t.references, t.num_families, t.num_pairs)
                 for t in types]  # copies: the pairs may be scaled below
        n_unidentified = sum(by_sex.values())
        if num_unidentified is not None:
            scale = num_unidentified / n_unidentified if n_unidentified else None
            for t in types:
                t.num_pairs = int(round(t.num_pairs * scale)) if scale is not None else t.num_families * num_unidentified
            notes.append(f"compared pairs scaled to {num_unidentified:,} unidentified persons "
                         f"(the database holds {n_unidentified:,})")
            items.append({"kind": "scaled", "num_unidentified": num_unidentified, "held": n_unidentified})
            n_unidentified = num_unidentified
        if not types:
            mix = "simulated"
            notes.append("the database has no family with a typed reference: the simulated mix is shown")
            items.append({"kind": "simulated_fallback"})
    if mix == "simulated":
        nf = SIMULATED_FAMILIES if num_families is None else num_families
        n_unidentified = SIMULATED_UNIDENTIFIED if num_unidentified is None else num_unidentified
        types = simulated_mix(num_families=nf, num_unidentified=n_unidentified)
    folded = None
    if max_types is not None:
        max_types = _check_number("max_types", max_types, low=0, high=10_000, whole=True)
    if max_types and len(types) > max_types:
        ranked = sorted(types, key=lambda t: (-t.num_families, -t.num_pairs, t.name))
        types, rest = ranked[:max_types], ranked[max_types:]
        folded = {"shapes": len(rest), "families": sum(t.num_families for t in rest),
                  "pairs": sum(t.num_pairs for t in rest)}
    kit = database_kit(session, model)
    markers = [model.marker(l) for l in kit]
    key = ("database", tuple((t.name, t.pedigree.individuals, t.missing, t.references, t.num_families, t.num_pairs)
                             for t in types), tuple(kit), model, tuple(ts), seed, num_simulations, families_per_type)
    plan = _cached(key, lambda: db_plan.database_plan(
        types, markers=markers, thresholds=ts, theta=model.theta, num_simulated_families=families_per_type,
        num_simulations=num_simulations, seed=seed, progress=progress))
    out = plan.to_json()
    for row, t in zip(out["family_types"], types):
        row["references"] = [fam_plan.relation_to(t.pedigree, p, t.missing) for p in t.references]
    out["folded_types"] = folded
    if folded:
        # rarer shapes: false candidates at the planned shapes' average rate per compared pair
        # (E = pairs x P(LR >= t | unrelated)); the share found is the planned shapes' average
        planned_pairs = out["num_pairs"]
        scale = (planned_pairs + folded["pairs"]) / planned_pairs if planned_pairs else math.nan
        out["expected_false_candidates"] = [x * scale for x in out["expected_false_candidates"]]
        out["se_expected_false_candidates"] = [x * scale for x in out["se_expected_false_candidates"]]
        out["num_families"] += folded["families"]
        out["num_pairs"] += folded["pairs"]
        notes.append(f"the {folded['shapes']:,} rarest family shapes ({folded['families']:,} families, "
                     f"{folded['pairs']:,} compared pairs) were not simulated: they are counted at the average "
                     f"rate of the {len(types)} most common shapes (--max-types 0 simulates every shape)")
        items.append({"kind": "folded", "shapes": folded["shapes"], "families": folded["families"],
                      "pairs": folded["pairs"], "planned": len(types)})
    out.update(mix=mix, num_unidentified=n_unidentified, notes=notes + plan.notes, note_items=items,
               provenance=provenance(model, kit, seed=seed, num_simulations_per_type=num_simulations,
                                     simulated_families_per_type=families_per_type,
                                     method="simulated families per type (gene dropping); exact per-marker "
                                            "distributions; importance sampling for unrelated children"))
    return _clean(out)
