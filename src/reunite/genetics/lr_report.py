"""What a report quotes from a kinship LR, beyond the LR itself: the loci that need a mutation
under H1, the posterior for a stated prior, the verbal equivalent; and the LRs of every
hypothesis of a Familias file against its reference hypothesis.

A locus *needs a mutation under H1* when P(genotypes | H1) = 0 once the mutation model is
switched off (recomputed with no mutation at the markers that have a model).  With no mutation
model those loci are the exclusions (LR 0); with one they are the loci a mutation explains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reunite.errors import ReuniteError
from reunite.genetics.frequencies import DEFAULT_FLOOR
from reunite.genetics.kinship import KinshipResult, Marker, as_pedigree, json_number, kinship_lr_many, parse_genotype
from reunite.genetics.posterior import posterior_of_lr
from reunite.genetics.verbal import ENFSI_2015, Verbal, VerbalScale, verbal_equivalent

NEEDS_MUTATION = "needs a mutation under {h1}: impossible under {h1} without mutation"


@dataclass
class LrReport:
    """A kinship result with what a report quotes: the loci needing a mutation under H1, the
    posterior (None without a prior) and the verbal equivalent."""

    result: KinshipResult
    loci_needing_mutation: list[str]
    verbal: Verbal
    prior: float | None = None
    posterior: float | None = None
    extra: dict = field(default_factory=dict)  # more JSON fields (the .fam results)

    def to_json(self) -> dict:
        """``result.to_json()`` plus ``loci_needing_mutation``, ``posterior`` ({prior, value}
        or null) and ``verbal`` ({scale, words, source[, note]})."""
        out = self.result.to_json()
        out.update(self.extra)
        out["loci_needing_mutation"] = list(self.loci_needing_mutation)
        out["posterior"] = (None if self.prior is None
                            else {"prior": self.prior, "value": json_number(self.posterior)})
        out["verbal"] = self.verbal.to_json()
        return out


def make_report(result: KinshipResult, *, loci_needing_mutation: list[str], scale: VerbalScale = ENFSI_2015,
                prior: float | None = None, h1: str = "H1", h2: str = "H2", extra: dict | None = None) -> LrReport:
    """The :class:`LrReport` of one result: posterior = LR·π / (LR·π + 1 − π) from log10 LR
    where the LR left the float range (:func:`reunite.genetics.posterior.posterior_of_lr`)."""
    value = None if prior is None else posterior_of_lr(result.lr_total, result.log10_lr_total, prior)
    words = verbal_equivalent(result.lr_total, log10_lr=result.log10_lr_total, scale=scale, h1=h1, h2=h2)
    return LrReport(result, loci_needing_mutation, words, prior, value, extra or {})


def loci_needing_mutation_many(cases, results, *, floor: float = DEFAULT_FLOOR,
                               normalise: bool = False) -> list[list[str] | None]:
    """For each ``(id, h1, h2, markers, theta)`` case and its result: the markers whose
    likelihood under H1 is 0 without mutation, in marker order (None where the result is an
    error).  Markers without a mutation model are read off the result (their H1 likelihood);
    the others are recomputed with the model off.

    Whether P(genotypes | H1) is 0 without mutation depends only on H1's shape and on who
    carries which allele: every allele carried has a frequency above 0 (a case with a carried
    allele of frequency 0 is refused) and θ keeps every founder allele possible.  So each
    distinct pattern (H1's structure, the typed people's genotypes with the alleles renamed
    in order of appearance) is computed once, with equal frequencies and θ = 0, and shared by
    every case and marker showing it.  ``floor`` and ``normalise`` are kept for the callers.
    """
    memo: dict[tuple, bool] = {}  # pattern -> impossible under H1 without mutation
    pending: dict[tuple, tuple] = {}  # pattern -> the canonical one-marker case computing it
    asked: dict[int, list] = {}  # case position -> [(marker name, pattern)]
    for k, (case, result) in enumerate(zip(cases, results)):
        if not isinstance(result, KinshipResult):
            continue
        case_id, h1, _, markers, _ = case
        with_model = [m for m in markers if m.mutation is not None]
        if not with_model:
            continue
        ped = as_pedigree(h1, where=f"case {case_id!r}, H1")
        structure = ped.structure_key()
        asked[k] = []
        for m in with_model:
            canonical = _canonical_genotypes(ped, m.genotypes)
            key = (structure, tuple((ped.index[pid], pair) for pid, pair in canonical.items()))
            if key not in memo and key not in pending:
                labels = sorted({a for pair in canonical.values() for a in pair}, key=int)
                afreq = {a: 1.0 / len(labels) for a in labels}
                pending[key] = (f"pattern {len(pending)}", ped, "unrelated",
                                [Marker(m.name, afreq, canonical)], 0.0)
            asked[k].append((m.name, key))
    if pending:
        computed = kinship_lr_many(list(pending.values()), keep_going=True)
        for key, res in zip(pending, computed):
            if isinstance(res, ReuniteError):  # cannot happen for a case that ran with its model
                raise res
            memo[key] = next(iter(res.likelihood_h1.values())) == 0.0
    out: list[list[str] | None] = []
    for k, (case, result) in enumerate(zip(cases, results)):
        if not isinstance(result, KinshipResult):
            out.append(None)
            continue
        recomputed = {name: memo[key] for name, key in asked.get(k, [])}
        out.append([m.name for m in case[3]
                    if (recomputed[m.name] if m.name in recomputed else result.likelihood_h1[m.name] == 0.0)])
    return out


def _canonical_genotypes(ped, genotypes: dict) -> dict[str, tuple[str, str]]:
    """The genotypes with their alleles renamed ``1``, ``2``, ... in order of appearance
    (people in pedigree order), each pair sorted: the same pattern of shared alleles."""
    names: dict[str, str] = {}
    out = {}
    for pid in sorted(genotypes, key=ped.index.__getitem__):
        parsed = parse_genotype(genotypes[pid])
        pair = tuple(names.setdefault(a, str(len(names) + 1)) for a in parsed)
        out[pid] = tuple(sorted(pair, key=int))
    return out


# --- Familias files ---------------------------------------------------------------------------

@dataclass
class FamLrs:
    """Every hypothesis of a ``.fam`` file against the reference hypothesis."""

    path: str
    reference: str
    hypotheses: list[str]
    reports: list[LrReport]  # one per hypothesis, in file order (``result.id`` = its name)
    warnings: list[str]

    def to_json(self) -> dict:
        return {"file": self.path, "reference": self.reference, "hypotheses": self.hypotheses,
                "results": [r.to_json() for r in self.reports], "warnings": self.warnings}


def check_kinship_file(fam, *, path: str) -> None:
    """Refuse a Familias file that holds no kinship hypotheses, saying what to use instead.

    Raises
    ------
    ReuniteError
        a DVI file ('reunite identify'), a database-only file ('reunite populations import'),
        or a file without hypotheses.
    """
    if fam.is_dvi:
        raise ReuniteError(f"{path}: a Familias DVI file (it has a [DVI] section: unidentified persons and "
                           f"reference families), not a kinship case; identify its persons jointly with "
                           f"'reunite identify {path}'")
    if fam.database_only:
        raise ReuniteError(f"{path}: a Familias frequency database (no persons, no pedigrees), not a kinship "
                           f"case; load its frequencies with 'reunite populations import {path}'")
    if not fam.hypotheses:
        raise ReuniteError(f"{path}: the file has no pedigrees (hypotheses) to compare; open it in Familias "
                           "and add at least one pedigree")


def fam_lrs(fam, *, reference: str | None = None, scale: VerbalScale = ENFSI_2015,
            prior: float | None = None, floor: float = DEFAULT_FLOOR, normalise: bool = False) -> FamLrs:
    """LR of every hypothesis H of a read ``.fam`` file (:class:`reunite.genetics.familias.FamFile`)
    against the reference (the last hypothesis, as Familias and forrel's ``kinshipLR`` do, or
    the one named): lr_total = L(H) / L(reference), a kinship case with H1 = H's pedigree and
    H2 = the reference's.  Each result also carries ``loglik`` (natural log of L(H), summed
    over markers) and ``loglik_per_marker``, and ``posterior_flat_prior`` = L(H) / Σ L (the
    posterior with equal priors across the hypotheses, as Familias shows it).  L(reference) = 0
    gives LR Inf (or NaN where L(H) = 0 too) with the reason.

    Raises
    ------
    ReuniteError
        a DVI or database-only file (:func:`check_kinship_file`), an unknown reference, or a
        malformed case (naming the hypothesis and marker).
    """
    path = fam.path
    check_kinship_file(fam, path=path)
    names = [h.name for h in fam.hypotheses]
    if reference is None:
        ref = fam.hypotheses[-1]
    else:
        matches = [h for h in fam.hypotheses if h.name == reference]
        if not matches:
            raise ReuniteError(f"--reference {reference!r}: {path} has no hypothesis of that name; its "
                               f"hypotheses are {', '.join(repr(n) for n in names)}")
        ref = matches[0]
    # the file's theta is recorded, not applied (as pedFamilias, docs/familias.md; the reader warns)
    file_theta = float(getattr(fam.database, "theta", 0.0) or 0.0)
    cases = [(h.name, h.pedigree, ref.pedigree, fam.markers, 0.0) for h in fam.hypotheses]
    try:
        results = kinship_lr_many(cases, floor=floor, normalise=normalise)
    except ReuniteError as exc:  # e.g. an allele name the reader keeps but no LR can use: name the file
        if str(path) in str(exc):
            raise
        raise type(exc)(f"{path}: {exc}") from None
    needing = loci_needing_mutation_many(cases, results, floor=floor, normalise=normalise)
    logliks = []
    per_marker_all = []
    for res in results:
        per_marker = {m: (math.log(x) if x > 0 else -math.inf) for m, x in res.likelihood_h1.items()}
        per_marker_all.append(per_marker)
        logliks.append(-math.inf if any(math.isinf(v) for v in per_marker.values())
                       else math.fsum(per_marker.values()))
    flat = flat_posteriors(logliks)
    reports = []
    for h, res, loci, ll, per_marker, post in zip(fam.hypotheses, results, needing, logliks,
                                                  per_marker_all, flat):
        res.provenance["file"] = path
        res.provenance["reference"] = ref.name
        if file_theta:
            res.provenance["theta_in_file_not_applied"] = file_theta
        extra = {"reference": ref.name, "loglik": json_number(ll),
                 "loglik_per_marker": {m: json_number(v) for m, v in per_marker.items()},
                 "posterior_flat_prior": json_number(post)}
        reason = _reference_reason(h.name, ref.name, res)
        if reason:
            extra["reason"] = reason
        reports.append(make_report(res, loci_needing_mutation=loci, scale=scale, prior=prior,
                                   h1=h.name, h2=ref.name, extra=extra))
    return FamLrs(path, ref.name, names, reports, list(getattr(fam, "warnings", [])))


def flat_posteriors(logliks: list[float]) -> list[float]:
    """L(H) / Σ L over the hypotheses, from natural-log likelihoods (log-sum-exp, so that
    likelihoods far below the float range keep their ratios); all impossible -> NaN."""
    finite = [x for x in logliks if not math.isinf(x)]
    if not finite:
        return [math.nan] * len(logliks)
    top = max(finite)
    total = math.fsum(math.exp(x - top) for x in finite)
    return [0.0 if math.isinf(x) else math.exp(x - top) / total for x in logliks]


def _reference_reason(name: str, reference: str, res: KinshipResult) -> str | None:
    """Why an LR against the reference is not a number: the markers impossible under it."""
    if not (math.isnan(res.lr_total) or math.isinf(res.lr_total)):
        return None
    under_ref = [m for m, x in res.likelihood_h2.items() if x == 0.0]
    under_h = [m for m, x in res.likelihood_h1.items() if x == 0.0]
    parts = []
    if under_ref:
        parts.append(f"the genotypes are impossible under the reference {reference} "
                     f"(likelihood 0 at {', '.join(under_ref)})")
    if under_h and name != reference:
        parts.append(f"and under {name} (likelihood 0 at {', '.join(under_h)})" if parts else
                     f"the genotypes are impossible under {name} (likelihood 0 at {', '.join(under_h)})")
    what = "LR undefined (0/0)" if math.isnan(res.lr_total) else "LR Inf"
    return f"{what}: " + " ".join(parts)
