"""Kinship likelihood ratios: P(data | H1) / P(data | H2), per marker and in total."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from reunite import __version__
from reunite.errors import FrequencyError, MarkerError, PedigreeError, ReuniteError
from reunite.genetics.frequencies import DEFAULT_FLOOR, prepare_afreq
from reunite.genetics.likelihood import (
    MAX_THETA_SLOTS,
    MarkerData,
    likelihoods_prepared,
    prepare_job,
    pruned_shape,
    theta_slots,
    theta_slots_message,
)
from reunite.genetics.loci import normalise_allele, normalise_locus, repeat_problem
from reunite.genetics.mutation import MutationModel

#: Mutation models whose matrices can be lumped exactly (unseen alleles merged into one).
LUMPABLE = ("equal", "proportional")
from reunite.genetics.pedigree import Pedigree, make_pedigree, unrelated


@dataclass(frozen=True)
class Mutation:
    """Sex-specific mutation models of one marker (fathers use ``male``, mothers ``female``)."""

    female: MutationModel
    male: MutationModel

    @classmethod
    def same(cls, model: MutationModel) -> "Mutation":
        return cls(model, model)

    def describe(self) -> str:
        if self.female == self.male:
            return self.male.describe()
        return f"female {self.female.describe()}; male {self.male.describe()}"


@dataclass
class Marker:
    """One marker of a kinship case.

    name : marker (locus) name, kept as given.
    afreq : allele label -> frequency, in table order.
    genotypes : person id -> (allele, allele); people absent are untyped.
    mutation : the mutation models, or None for no mutation.
    n_individuals : sample size of the frequency table, if known (rare-allele rule 5/2N).
    source : name of the frequency table, for provenance.
    """

    name: str
    afreq: dict[str, float]
    genotypes: dict[str, tuple[str, str]]
    mutation: Mutation | None = None
    n_individuals: int | None = None
    source: str = "given"


@dataclass
class KinshipResult:
    """The result of :func:`kinship_lr`.  Non-finite LRs carry a reason in ``notes``."""

    id: str
    lr_total: float
    log10_lr_total: float
    lr_per_marker: dict[str, float]
    likelihood_h1: dict[str, float]
    likelihood_h2: dict[str, float]
    notes: dict[str, str] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The ``reunite lr --json`` form; non-finite numbers become "Inf", "-Inf", "NaN"."""
        return {
            "id": self.id,
            "lr_total": json_number(self.lr_total),
            "log10_lr_total": json_number(self.log10_lr_total),
            "lr_per_marker": {k: json_number(v) for k, v in self.lr_per_marker.items()},
            "notes": self.notes,
            "provenance": self.provenance,
        }


def json_number(x: float):
    """A float for JSON: finite numbers as they are, others as "Inf", "-Inf", "NaN"."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return x


def as_pedigree(h, *, where: str) -> Pedigree:
    if isinstance(h, Pedigree):
        return h
    return make_pedigree(h, where=where)


@dataclass
class _Prepared:
    marker: Marker
    alleles: list[str]
    data: MarkerData
    notes: list[str]  # shown with the result: rare alleles added to the table
    frequency_notes: list[str]  # provenance: every change made to the frequency table


@lru_cache(maxsize=4096)
def _marker_model(items: tuple, n_individuals, floor: float, normalise: bool, mutation):
    """Frequencies, allele index and mutation matrices of one marker table (cached).

    Returns ``(alleles, freqs, index, male, female, lumpable, notes)`` or the error to raise.
    """
    table = _marker_table(items, n_individuals, floor, normalise)
    if isinstance(table, ReuniteError):
        return table
    alleles, freqs, index, notes = table
    try:
        male, female = _matrices(mutation, alleles, freqs, where="")
    except ReuniteError as exc:
        return exc
    lumpable = mutation is None or all(m.model in LUMPABLE for m in (mutation.male, mutation.female))
    return alleles, freqs, index, male, female, lumpable, notes


@lru_cache(maxsize=16384)
def _marker_table(items: tuple, n_individuals, floor: float, normalise: bool):
    """Frequencies and allele index of one marker table, whatever the mutation model (cached:
    a batch reads each case's table with its model and again without it).

    Returns ``(alleles, freqs, index, notes)`` or the error to raise.
    """
    try:
        labels = [_GOOD_ALLELES.get(a) for a, _ in items]  # every label seen before: no loop
        if None not in labels and len(set(labels)) == len(labels):
            afreq = dict(zip(labels, [f for _, f in items]))
            items = ()
        else:
            afreq = {}
        spelled: dict[str, str] = {}
        for a, f in items:
            try:
                label = _allele(a)
            except MarkerError as exc:
                raise MarkerError(f"afreq: {exc}") from None
            if label in afreq:
                raise MarkerError(
                    f"afreq lists the allele {label!r} twice, as {spelled[label]!r} and as {a!r} "
                    "(the same allele once labels are normalised); give each allele once")
            afreq[label], spelled[label] = f, a
        alleles, freqs, notes = prepare_afreq(afreq, n_individuals=n_individuals, floor=floor,
                                              normalise=normalise, where="afreq")
    except ReuniteError as exc:
        return exc
    freqs.setflags(write=False)
    return alleles, freqs, {a: k for k, a in enumerate(alleles)}, tuple(notes)


def _matrices(mutation, alleles, freqs, *, where: str):
    """Father and mother transition matrices (None where there is no mutation)."""
    if mutation is None:
        return None, None
    out = []
    for model in (mutation.male, mutation.female):
        if model.model != "custom" and model.rate == 0.0 and model.rate2 == 0.0:
            out.append(None)
            continue
        try:
            out.append(model.transition_matrix(alleles, freqs))
        except ReuniteError as exc:
            raise type(exc)(f"{where}: {exc}" if where else str(exc)) from None
    return out[0], out[1]


@lru_cache(maxsize=65536)
def _parse_genotype(g) -> tuple[str, str] | str:
    """``"12/14"`` or ``("12", "14")`` -> normalised allele pair, or an error message."""
    parts = g.replace(",", "/").split("/") if isinstance(g, str) else g
    if not isinstance(parts, (list, tuple)) or len(parts) != 2:
        return f"genotype must be two alleles such as '12/14' or ['12', '14'], found {g!r}"
    try:
        return _allele(parts[0]), _allele(parts[1])
    except MarkerError as exc:
        return str(exc)


def parse_genotype(g) -> tuple[str, str]:
    """The normalised allele pair of a genotype (``"12/14"``, ``("12", "14")``, ``["12", "14"]``).

    Raises
    ------
    MarkerError
        not two allele labels.
    """
    if isinstance(g, list):
        g = tuple(g)
    parsed = _parse_genotype(g)
    if isinstance(parsed, str):
        raise MarkerError(parsed)
    return parsed


_NUMBER_TYPES = {float, int}  # the frequency types read without a closer look (not bool)
_MISSING_ALLELES = ("0", "-", "?", "NA", "N/A")


_ALLELES: dict = {}  # label -> normalised label, or the MarkerError it raises
_GOOD_ALLELES: dict = {}  # label -> normalised label, for the labels that are valid


def _allele(label) -> str:
    """:func:`_allele_uncached`, remembered per label (a table's labels recur in every case)."""
    try:
        hit = _ALLELES.get(label)
    except TypeError:  # unhashable: not remembered
        return _allele_uncached(label)
    if hit is None:
        try:
            hit = _allele_uncached(label)
        except MarkerError as exc:
            hit = exc
        if len(_ALLELES) > 100_000:
            _ALLELES.clear()
            _GOOD_ALLELES.clear()
        _ALLELES[label] = hit
        if not isinstance(hit, MarkerError):
            _GOOD_ALLELES[label] = hit
    if isinstance(hit, MarkerError):
        raise MarkerError(str(hit))
    return hit


def _allele_uncached(label) -> str:
    """The normalised label of an allele of a kinship case, refusing labels that would
    silently become a new allele of their own: ``0`` and ``-`` (how pedtools and Familias
    write a missing allele), numbers written in another form than ``15`` or ``9.3``
    (``1e1``, ``10.``, ``-10``, ``inf``, ``nan``, ``9.299999``) and repeat numbers above
    :data:`~reunite.genetics.loci.MAX_REPEAT`, as the importers do.  Names such as ``a``
    or ``Rest allele`` are kept as they are."""
    text = normalise_allele(label)
    number = None
    try:
        number = float(text)
    except ValueError:
        pass
    if text.upper() in _MISSING_ALLELES or number == 0:
        raise MarkerError(f"allele {label!r} is how a missing allele is written: leave the "
                          "person out of 'genotypes' at an untyped marker")
    if number is not None or text[:1] in "+-." or text[:1].isdigit():
        why = repeat_problem(text)
        if why == "not a repeat number":
            raise MarkerError(f"allele {label!r} is not a repeat number such as '15' or '9.3'")
        if why:
            raise MarkerError(why)
    if not any(ch.isalnum() for ch in text):
        raise MarkerError(f"allele {label!r} is not an allele label such as '15' or '9.3'")
    return text


def _prepare_marker(marker: Marker, *, theta: float, floor: float,
                    normalise: bool, where: str) -> _Prepared:
    genos: dict[str, tuple[str, str]] = {}
    for pid, g in marker.genotypes.items():
        if isinstance(g, list) and all(isinstance(x, (str, int, float)) for x in g):
            g = tuple(g)
        try:
            parsed = _parse_genotype(g)
        except TypeError:  # unhashable
            parsed = f"genotype must be two alleles such as '12/14' or ['12', '14'], found {g!r}"
        if isinstance(parsed, str):
            raise MarkerError(f"{where}, marker {marker.name!r}, person {pid!r}: {parsed}")
        genos[pid] = parsed
    items = tuple(marker.afreq.items())
    bad = () if set(map(type, marker.afreq.values())) <= _NUMBER_TYPES else \
        [a for a, f in items if isinstance(f, bool) or not isinstance(f, (int, float))]
    if bad:
        raise MarkerError(f"{where}, marker {marker.name!r}: afreq values must be numbers; "
                          f"allele {bad[0]!r} has {marker.afreq[bad[0]]!r}")
    table = _marker_model(items, marker.n_individuals, floor, normalise, marker.mutation)
    if isinstance(table, ReuniteError):  # re-raise with the case and marker named
        raise type(table)(f"{where}, marker {marker.name!r}: {table}")
    alleles, freqs, index, male, female, lumpable, table_notes = table
    notes: list[str] = []
    try:
        pairs = {pid: (index[a], index[b]) for pid, (a, b) in genos.items()}
    except KeyError:
        pairs = None
    if pairs is None:  # rare alleles: the table grows and is renormalised (uncached, rare)
        missing = sorted({a for g in genos.values() for a in g if a not in index})
        alleles, freqs, notes = prepare_afreq(
            dict(zip(alleles, freqs)), observed=missing, n_individuals=marker.n_individuals,
            floor=floor, normalise=True, where=f"{where}, marker {marker.name!r}, afreq")
        index = {a: k for k, a in enumerate(alleles)}
        male, female = _matrices(marker.mutation, alleles, freqs, where=f"{where}, marker {marker.name!r}")
        pairs = {pid: (index[a], index[b]) for pid, (a, b) in genos.items()}
    for pid, (a, b) in pairs.items():
        for k in (a, b):
            if freqs[k] == 0.0:
                raise FrequencyError(
                    f"{where}, marker {marker.name!r}: allele {alleles[k]!r} of person {pid!r} has "
                    "frequency 0 in afreq, so the genotypes would be impossible under both "
                    "hypotheses; give it its frequency, or leave it out of afreq (the rare-allele "
                    "rule then gives it one)")
    data = MarkerData(freqs, male, female, pairs, theta, lumpable)
    return _Prepared(marker, alleles, data, notes, list(table_notes) + notes)


def kinship_lr(
    h1,
    h2="unrelated",
    markers: list[Marker] | None = None,
    *,
    theta: float = 0.0,
    floor: float = DEFAULT_FLOOR,
    normalise: bool = False,
    case_id: str = "case",
) -> KinshipResult:
    """Likelihood ratio of H1 against H2 for every marker and in total.

    LR_m = P(genotypes_m | H1) / P(genotypes_m | H2),  LR = prod_m LR_m
    (markers independent).  ``h1``/``h2`` are Pedigrees or lists of individuals;
    ``h2="unrelated"`` makes every typed person an unrelated founder.  Impossible data give
    LR 0 (under H1 only), Inf (under H2 only) or NaN (under both), with the reason in
    ``notes``.

    Raises
    ------
    PedigreeError, MarkerError, FrequencyError, MutationModelError
        malformed input, naming the case, marker and person.
    """
    return kinship_lr_many([(case_id, h1, h2, markers or [], theta)], floor=floor,
                           normalise=normalise)[0]


def kinship_lr_many(cases, *, floor: float = DEFAULT_FLOOR, normalise: bool = False,
                    keep_going: bool = False) -> list:
    """:func:`kinship_lr` for many ``(id, h1, h2, markers, theta)`` cases in one batched run.

    With ``keep_going`` a malformed case gives its :class:`ReuniteError` in its place in the
    returned list instead of stopping the run.
    """
    jobs: list[tuple] = []
    plans = []
    for case in cases:
        try:
            plans.append(_plan_case(case, jobs, floor=floor, normalise=normalise))
        except ReuniteError as exc:
            if not keep_going:
                raise
            plans.append(exc)
    values = likelihoods_prepared(jobs) if jobs else np.empty(0)
    checksums: dict = {}  # frequency table -> its checksum, looked up once per batch
    return [plan if isinstance(plan, ReuniteError) else _finish_case(plan, values, floor, checksums)
            for plan in plans]


def check_case(case, *, floor: float = DEFAULT_FLOOR, normalise: bool = False) -> None:
    """Validate an ``(id, h1, h2, markers, theta)`` case without computing it.

    Raises
    ------
    ReuniteError
        what :func:`kinship_lr_many` would raise for this case.
    """
    _plan_case(case, [], floor=floor, normalise=normalise)


def _plan_case(case, jobs: list, *, floor: float, normalise: bool):
    """Validate one case and append its likelihood jobs (H1 and H2 per marker) to ``jobs``."""
    case_id, h1, h2, markers, theta = case
    where = f"case {case_id!r}"
    if not (0.0 <= float(theta) < 1.0):
        raise ReuniteError(f"{where}: theta must be in [0, 1), found {theta!r}")
    ped1 = as_pedigree(h1, where=f"{where}, H1")
    for m in markers:
        for pid in m.genotypes:
            if pid not in ped1:
                raise PedigreeError(
                    f"{where}, marker {m.name!r}: person {pid!r} is typed but is not in the H1 "
                    "pedigree; add them to H1 or remove the genotype"
                )
    typed_ids = sorted({pid for m in markers for pid in m.genotypes},
                       key=lambda x: ped1.index.get(x, 1 << 30))
    if isinstance(h2, str):
        if h2 != "unrelated":
            raise ReuniteError(f"{where}: H2 must be 'unrelated' or a pedigree, found {h2!r}")
        # nobody typed at all: every marker has LR 1, against any unrelated founders.
        # A founder of H1 keeps its inbreeding: it is the person's own, whatever the
        # hypothesis (dropping it would turn a lone inbred homozygote into evidence).
        ped2 = unrelated([i for i in typed_ids if i in ped1] or ped1.ids,
                         sexes={p.id: p.sex for p in ped1.individuals},
                         inbreeding={p.id: p.inbreeding for p in ped1.individuals
                                     if p.is_founder and p.inbreeding})
    else:
        ped2 = as_pedigree(h2, where=f"{where}, H2")
    _check_loci_once(markers, where=where)
    for pid in typed_ids:
        if pid not in ped2:
            marker = next(m.name for m in markers if pid in m.genotypes)
            raise PedigreeError(f"{where}, marker {marker!r}: person {pid!r} is typed but is not in "
                                "the H2 pedigree; add them to H2, or use H2 \"unrelated\"")
    prepared = [_prepare_marker(m, theta=float(theta), floor=floor, normalise=normalise,
                                where=where) for m in markers]
    start = len(jobs)
    key1, key2 = ped1.structure_key(), ped2.structure_key()
    index1, index2 = ped1.index, ped2.index
    shapes: dict[tuple, tuple] = {}  # typed people -> pruned shapes under H1 and H2
    for prep in prepared:
        d = prep.data
        typed = tuple(d.genotypes)
        plan = shapes.get(typed)
        if plan is None:
            plan = tuple(
                (shape, [2 * local[index[i]] for i in typed], 2 * len(shape))
                for shape, local, index in (
                    (*pruned_shape(key1, tuple(sorted(index1[i] for i in typed))), index1),
                    (*pruned_shape(key2, tuple(sorted(index2[i] for i in typed))), index2),
                )
            )
            shapes[typed] = plan
            if theta > 0:
                for shape, _, _ in plan:
                    num_slots = theta_slots(shape)
                    if num_slots > MAX_THETA_SLOTS:
                        raise ReuniteError(f"{where}, marker {prep.marker.name!r}: "
                                           + theta_slots_message(num_slots))
        pairs = d.genotypes.values()
        for shape, slots, size in plan:
            flat = [-1] * size
            for k, (a, b) in zip(slots, pairs):
                flat[k] = a
                flat[k + 1] = b
            jobs.append(prepare_job(shape, flat, d))
    return (case_id, prepared, start, float(theta), ped1, ped2)


def _check_loci_once(markers, *, where: str) -> None:
    """Refuse one locus given twice, also under two spellings (``TH01``/``THO1``,
    ``vWA``/``VWA``): its evidence would be counted twice."""
    seen: dict[str, object] = {}
    for m in markers:
        try:
            locus, why = _locus_of(m.name)
        except TypeError:  # unhashable: not a locus name
            locus = why = None
        if locus is None:
            raise MarkerError(f"{where}: a marker name must be a non-empty string, found {m.name!r}")
        if why:
            raise MarkerError(f"{where}, marker {m.name!r}: {why}; kinship LRs here use autosomal "
                              "markers only, so remove it from the case")
        if locus in seen:
            first = seen[locus]
            same = "twice" if first == m.name else f"as {first!r} and as {m.name!r}"
            raise MarkerError(f"{where}: the locus {locus} is given {same} (names are normalised); "
                              "give each locus once, or its evidence is counted twice")
        seen[locus] = m.name


@lru_cache(maxsize=4096)
def _locus_of(name) -> tuple[str | None, str | None]:
    """The normalised locus of a marker name (None if it is not a name) and why it is not
    autosomal (None if it is); remembered, as every case names the same loci."""
    try:
        locus = normalise_locus(name)
    except MarkerError:
        return None, None
    return locus, not_autosomal(locus)


_Y_LOCUS = re.compile(r"DY[SF][0-9]|YGATA|YINDEL", re.ASCII)
_X_LOCUS = re.compile(r"DXS[0-9]|HPRTB$|GATA172D05$|GATA31E08$|GATA165B12$", re.ASCII)


def not_autosomal(locus: str) -> str | None:
    """Why a (normalised) locus cannot be computed as an autosomal marker, or None:
    Amelogenin (it shows the sex), Y-STRs (passed from father to son, one allele) and X-STRs
    (one X in males): as autosomal markers their LRs would be wrong."""
    if locus == "AMELOGENIN":
        return "Amelogenin shows the sex and is not kinship evidence"
    if _Y_LOCUS.match(locus):
        return f"{locus} is a Y-chromosome marker (one allele, passed from father to son)"
    if _X_LOCUS.match(locus):
        return f"{locus} is an X-chromosome marker (one X in males)"
    return None


def _finish_case(plan, values: np.ndarray, floor: float, checksums: dict) -> KinshipResult:
    """Turn a case's likelihoods into LRs, notes and provenance."""
    case_id, prepared, start, theta, ped1, ped2 = plan
    lr_per_marker, l1s, l2s, notes = {}, {}, {}, {}
    for k, prep in enumerate(prepared):
        l1, l2 = float(values[start + 2 * k]), float(values[start + 2 * k + 1])
        name = prep.marker.name
        l1s[name], l2s[name] = l1, l2
        lr_per_marker[name] = _ratio(l1, l2)
        reason = _reason(l1, l2)
        if reason:
            notes[name] = reason
        if prep.notes:
            notes[name] = "; ".join(([reason] if reason else []) + prep.notes)
    lrs = list(lr_per_marker.values())
    has_zero = any(x == 0.0 for x in lrs)
    has_inf = any(math.isinf(x) for x in lrs)
    if any(math.isnan(x) for x in lrs) or (has_zero and has_inf):
        total = log10_total = math.nan
    elif has_zero:
        total, log10_total = 0.0, -math.inf
    elif has_inf:
        total = log10_total = math.inf
    else:
        # the product may leave the float range (beyond 1e±308); the log10 stays exact
        total = math.prod(lrs)
        log10_total = math.fsum(math.log10(x) for x in lrs)
    provenance = {
        "software": f"reunite {__version__}",
        "theta": theta,
        "frequency_tables": sorted({p.marker.source for p in prepared}),
        **_table_checksums({p.marker.source for p in prepared}, memo=checksums),
        "mutation_models": {p.marker.name: _describe_mutation(p.marker.mutation) for p in prepared},
        "rare_allele_rule": f"5/2N when N is known, else floor {floor:g}; renormalised",
        "frequency_notes": {p.marker.name: "; ".join(p.frequency_notes)
                            for p in prepared if p.frequency_notes},
        "kit": [p.marker.name for p in prepared],
        "h1": _describe(ped1),
        "h2": _describe(ped2),
    }
    return KinshipResult(case_id, total, log10_total, lr_per_marker, l1s, l2s, notes, provenance)


def _table_checksums(sources: set[str], *, memo: dict | None = None) -> dict:
    """``{"frequency_table_sha256": {name: sha256}}`` for the laboratory's imported tables
    among ``sources`` (a shipped table is named by its name alone; an imported one may be
    replaced under the same name, so its content's checksum is recorded), else ``{}``.
    ``memo`` (name -> checksum or None) keeps the look-ups of one batch."""
    memo = {} if memo is None else memo
    out = {}
    for name in sorted(sources):
        if name not in memo:
            memo[name] = _table_checksum(name)
        if memo[name]:
            out[name] = memo[name]
    return {"frequency_table_sha256": out} if out else {}


def _table_checksum(name: str) -> str | None:
    from reunite.genetics.frequencies import get_population, is_shipped

    if name == "given" or is_shipped(name):
        return None
    try:
        pop = get_population(name)
    except ReuniteError:
        return None  # a file's own table (e.g. a .fam database), named by the file
    return pop.sha256 or None


@lru_cache(maxsize=1024)
def _describe_mutation(mutation: Mutation | None) -> str:
    return "none" if mutation is None else mutation.describe()


def _describe(ped: Pedigree) -> list[dict]:
    return [{"id": p.id, "father": p.father, "mother": p.mother, "sex": p.sex} for p in ped.individuals]


def _ratio(l1: float, l2: float) -> float:
    if l2 == 0.0:
        return math.nan if l1 == 0.0 else math.inf
    return l1 / l2


def _reason(l1: float, l2: float) -> str:
    if l1 == 0.0 and l2 == 0.0:
        return ("impossible under both hypotheses (0/0): the genotypes are inconsistent with "
                "either pedigree; add a mutation model or check the pedigree and the typing")
    if l1 == 0.0:
        return "exclusion: the genotypes are impossible under H1 (LR 0); a mutation model may explain it"
    if l2 == 0.0:
        return "the genotypes are impossible under H2 (LR Inf)"
    return ""
