"""``reunite lr`` casework in bulk: a case file of duo cases (one typed parent and one typed
child under H1, unrelated under H2) read into arrays, computed by
:func:`reunite.genetics.batch_duo.duo_likelihoods` and written as the ``--json`` document.

This is a fast path, not a second engine: it takes a file only when every case is one it can
compute exactly as :func:`reunite.genetics.kinship.kinship_lr_many` does (the same frequencies,
matrices, likelihoods to the bit, LRs, notes, provenance, loci needing a mutation and verbal
equivalents) and the JSON text is byte for byte the one ``reunite lr --json`` writes through
the general path.  Anything else (another pedigree, θ > 0, a population table, an allele
absent from its table, a lumpable mutation model, a key the format does not know,
an error of any kind) makes :func:`duo_casework_json` return None, and the caller runs the
general path, which reports it as it always has.  ``tests/test_duo_cases.py`` compares the two.

What a case needs to be taken: ``id`` (a string), ``H1`` whose pedigree, pruned to the typed
people, is a duo with a non-inbred typed parent, ``H2`` absent or ``"unrelated"``, ``theta``
absent or 0, and markers each with ``name``, ``afreq`` (numbers, the typed alleles in the
table), ``genotypes`` of exactly the two people and a ``mutation`` (its own or the case's)
whose matrices do not depend on the frequencies and cannot be lumped (``stepwise``,
``onestep``, ``custom``).  A file is taken whole or not at all.

Speed comes from doing per file what the general path does per case: each locus's labels,
models and matrices, each distinct genotype text and each hypothesis are read once; the rest
is C-level passes over all markers (``map``, NumPy) rather than Python code per marker.
"""

from __future__ import annotations

import json
import math
import sys
from itertools import chain, repeat
from operator import itemgetter

import numpy as np

from reunite import __version__
from reunite.errors import ReuniteError
from reunite.genetics.batch_duo import duo_likelihoods
from reunite.genetics.caseio import FORMAT, INDIVIDUAL_KEYS, _Keys, _number, parse_mutation_uncached
from reunite.genetics.frequencies import DEFAULT_FLOOR, SUM_TOLERANCE
from reunite.genetics.kinship import LUMPABLE, _allele, _describe, _describe_mutation, _locus_of, \
    _parse_genotype, _reason, as_pedigree
from reunite.genetics.likelihood import pruned_shape
from reunite.genetics.pedigree import unrelated
from reunite.genetics.posterior import posterior_of_lr
from reunite.genetics.verbal import ENFSI_2015, VerbalScale, verbal_equivalent

_DOCUMENT_KEYS = frozenset(("cases", "format"))
_CASE_KEYS = frozenset(("id", "H1", "H2", "theta", "mutation", "markers"))


class _NotTaken(Exception):
    """The file is not one the fast path computes; the general path runs it."""


def duo_casework_json(doc, *, num_colons: int, dumps, scale: VerbalScale = ENFSI_2015,
                      prior: float | None = None) -> str | None:
    """The ``reunite lr --json`` text (with its final newline) of a parsed case document, or
    None when the file is not plain duo casework (see the module docstring); see
    :func:`duo_casework_parts`."""
    parts = duo_casework_parts(doc, num_colons=num_colons, dumps=dumps, scale=scale, prior=prior)
    return None if parts is None else "".join(parts)


def duo_casework_parts(doc, *, num_colons: int, dumps, scale: VerbalScale = ENFSI_2015,
                       prior: float | None = None) -> list[str] | None:
    """:func:`duo_casework_json`'s text in parts (written one after the other), or None.

    ``doc`` is the document as parsed by a JSON reader that keeps the last of repeated keys;
    ``num_colons`` is the number of ``:`` bytes in the file: the file is taken only if it equals
    the number of keys in ``doc`` (so no key was repeated and no string holds a colon), as the
    case format refuses repeated keys.  ``dumps`` turns a JSON value into bytes that tell apart
    what parsing tells apart (``orjson.dumps``): the cache key of repeated hypotheses and models.
    ``prior`` (checked, 0 < prior < 1) adds each case's posterior, as ``--prior`` does.
    """
    try:
        batch = _read(doc, num_colons=num_colons, dumps=dumps)
        return _render(batch, _compute(batch), scale=scale, prior=prior)
    except _NOT_TAKEN:
        return None


#: what makes the fast path hand a file to the general path: its own refusal, a library error
#: (a malformed case), and what a value of an unexpected type raises on the way
_NOT_TAKEN = (_NotTaken, ReuniteError, KeyError, TypeError, ValueError, AttributeError, OverflowError, IndexError)


# --- reading -----------------------------------------------------------------------------------

class _Caches:
    """What repeats from case to case, looked up once: hypotheses, models, tables' labels."""

    def __init__(self, dumps) -> None:
        self.dumps = dumps
        self.hypotheses: dict = {}  # (H1 bytes, typed ids) -> _Duo
        self.mutations: dict = {}  # mutation bytes -> (Mutation, number of keys)
        self.mutation_ids: dict = {}  # Mutation -> small int
        self.label_ids: dict = {}  # tuple of afreq keys -> small int
        self.labels: list = []  # small int -> (labels, index dict)
        self.genotype_ids: dict = {}  # genotype as written -> small int
        self.genotypes: list = []  # small int -> the two normalised allele labels
        self.matrices: dict = {}  # (mutation id, labels key) -> (male, female) positions in mats
        self.mats: list = [None]  # position 0: no mutation (the identity)
        self.kits: dict = {}  # (names, mutation ids) -> _Kit
        self.same_h1: bytes | None = None  # the H1 of every case, as JSON, where they are one


class _Duo:
    """A hypothesis H1 (its JSON text) with the typed people: who is the parent, the child."""

    __slots__ = ("parent", "child", "father", "num_keys", "h1_json", "h2_json")


class _Kit:
    """A case's markers: names (checked once), their JSON keys and the mutation models text."""

    __slots__ = ("names", "keys", "template", "models_json", "kit_json")


def _read(doc, *, num_colons: int, dumps) -> "_Batch":
    """Check a parsed document the way the general path reads it and put its markers in arrays.

    Raises
    ------
    _NotTaken, or an exception of :data:`_NOT_TAKEN`
        the file is not one the fast path takes (see the module docstring).
    """
    caches = _Caches(dumps)
    if type(doc) is dict:
        if not doc.keys() <= _DOCUMENT_KEYS or doc.get("format", FORMAT) != FORMAT:
            raise _NotTaken
        cases = doc.get("cases")
        num_keys = len(doc)
    else:
        cases, num_keys = doc, 0
    if type(cases) is not list or not cases or set(map(type, cases)) != {dict}:
        raise _NotTaken
    num_keys += sum(map(len, cases))
    if not all(map(_CASE_KEYS.issuperset, cases)):
        raise _NotTaken
    ids = list(map(itemgetter("id"), cases))
    if set(map(type, ids)) != {str} or not all(map(str.strip, ids)) or len(set(ids)) != len(ids):
        raise _NotTaken
    for raw in cases:
        if "theta" in raw or "mutation" in raw or "H2" in raw:
            _case_options(raw, caches)
    markers_per_case = list(map(itemgetter("markers"), cases))
    if set(map(type, markers_per_case)) != {list} or not all(markers_per_case):
        raise _NotTaken
    counts = list(map(len, markers_per_case))
    markers = list(chain.from_iterable(markers_per_case))
    if set(map(type, markers)) != {dict}:
        raise _NotTaken
    names = list(map(itemgetter("name"), markers))  # KeyError: a marker without: the general path
    afreqs = list(map(itemgetter("afreq"), markers))
    genotypes = list(map(itemgetter("genotypes"), markers))
    marker_keys = sum(map(len, markers))
    if marker_keys != 3 * len(markers) + sum(map(dict.__contains__, markers, repeat("mutation"))):
        raise _NotTaken  # a key besides name, afreq, genotypes and mutation
    if set(map(type, afreqs)) != {dict} or set(map(type, genotypes)) != {dict} or not all(afreqs):
        raise _NotTaken
    num_keys += marker_keys + sum(map(len, afreqs)) + sum(map(len, genotypes))
    if set(map(len, genotypes)) != {2}:
        raise _NotTaken
    # frequencies: numbers (a bool or a text is an error: the general path)
    lens = np.fromiter(map(len, afreqs), dtype=np.int64, count=len(afreqs))
    flat = list(chain.from_iterable(map(dict.values, afreqs)))
    if not set(map(type, flat)) <= {float, int}:
        raise _NotTaken
    values = np.fromiter(flat, dtype=float, count=len(flat))  # numbers only (checked)
    if not (np.all(np.isfinite(values)) and values.min() >= 0.0):
        raise _NotTaken
    # each table's sum as the general path takes it, Python's sum(); before Python 3.12 a plain
    # left-to-right sum (taken below from the arrays), since 3.12 a compensated one
    totals = None
    if sys.version_info >= (3, 12):
        totals = np.fromiter(map(sum, map(dict.values, afreqs)), dtype=float, count=len(afreqs))
    # each marker's table labels and mutation model, as small ints (a locus repeats them from
    # case to case: compared in bulk with one marker of that name, else one by one)
    one_of_name = dict(zip(names, range(len(names))))
    rep = list(map(one_of_name.__getitem__, names))
    lids = _label_ids(afreqs, names, rep, caches)
    defaults = [raw.get("mutation") for raw in cases]
    muts = list(map(dict.get, markers, ["mutation"] * len(markers)))
    defaulted = []  # the markers that take their case's model (its keys are in the file once)
    if any(d is not None for d in defaults):
        case_default = list(chain.from_iterable([d] * c for d, c in zip(defaults, counts)))
        defaulted = [d for m, d in zip(muts, case_default) if m is None and d is not None]
        muts = [d if m is None else m for m, d in zip(muts, case_default)]
        num_keys += sum(_mutation(d, caches)[1] for d in defaults if d is not None)
    mids, mutation_keys = _mutation_ids(muts, names, rep, caches)
    num_keys += mutation_keys - sum(_mutation(d, caches)[1] for d in defaulted)
    # hypotheses and the people typed
    duos = []
    starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
    hypotheses = list(map(itemgetter("H1"), cases))
    one = dumps(hypotheses[0])
    if dumps(hypotheses) == b"[" + b",".join([one] * len(cases)) + b"]":  # one H1 (as JSON) for all
        caches.same_h1 = one
    for k, raw in enumerate(cases):
        duo = _duo(hypotheses[k], tuple(genotypes[starts[k]]), caches)
        num_keys += duo.num_keys
        duos.append(duo)
    if num_keys != num_colons:  # a repeated key, or a colon inside a string
        raise _NotTaken
    if len({(duo.parent, duo.child) for duo in duos}) == 1:  # the same two ids in every case
        parent_g = list(map(itemgetter(duos[0].parent), genotypes))
        child_g = list(map(itemgetter(duos[0].child), genotypes))
    else:
        parent_g, child_g = [], []
        for k, duo in enumerate(duos):
            chunk = genotypes[starts[k]:starts[k + 1]]
            parent_g.extend(map(itemgetter(duo.parent), chunk))
            child_g.extend(map(itemgetter(duo.child), chunk))
    lid_array = np.fromiter(lids, dtype=np.int64, count=len(lids))
    alleles = np.concatenate([_codes(lid_array, parent_g, caches), _codes(lid_array, child_g, caches)], axis=1)
    kits = [_kit(tuple(names[starts[k]:starts[k + 1]]), tuple(mids[starts[k]:starts[k + 1]]), caches)
            for k in range(len(cases))]
    # each marker's (father's, mother's) matrix, built once per model and set of labels
    combined = np.fromiter(mids, dtype=np.int64, count=len(mids)) * (1 << 32) + lid_array
    distinct, where = np.unique(combined, return_inverse=True)
    pairs = [_matrix_pair(code >> 32, code & 0xFFFFFFFF, caches) for code in distinct.tolist()]
    matrices = np.array(pairs, dtype=np.int64).reshape(-1, 2)[where.reshape(-1)]
    return _Batch(ids, duos, kits, counts, lens, values, totals, alleles, matrices, caches)


def _case_options(raw: dict, caches: _Caches) -> None:
    """A case's θ (0 only), H2 (``"unrelated"`` only) and default mutation (checked)."""
    if "H2" in raw and not (type(raw["H2"]) is str and raw["H2"] == "unrelated"):
        raise _NotTaken
    if "theta" in raw:
        theta = raw["theta"]
        if type(theta) not in (int, float) or theta != 0 or math.copysign(1.0, theta) < 0:
            raise _NotTaken
    if raw.get("mutation") is not None:
        _mutation(raw["mutation"], caches)


def _mutation(spec, caches: _Caches):
    key = caches.dumps(spec)
    hit = caches.mutations.get(key)
    if hit is None:
        if type(spec) is not dict:
            raise _NotTaken
        mutation = parse_mutation_uncached(spec, where="mutation")  # errors: the general path
        if mutation is None or all(m.model in LUMPABLE for m in (mutation.male, mutation.female)) \
                or mutation.male.uses_frequencies or mutation.female.uses_frequencies:
            raise _NotTaken
        hit = caches.mutations[key] = (mutation, _num_keys(spec))
        caches.mutation_ids.setdefault(mutation, len(caches.mutation_ids))
    return hit


def _num_keys(value) -> int:
    if type(value) is dict:
        return len(value) + sum(map(_num_keys, value.values()))
    if type(value) is list:
        return sum(map(_num_keys, value))
    return 0


def _mutation_ids(muts: list, names: list, rep: list, caches: _Caches) -> tuple[list[int], int]:
    """Each marker's mutation model as a small int, and the number of keys of their objects.

    ``rep[k]`` is a marker with the name of marker ``k``: where every marker's model is, as JSON
    text, its representative's (equal Python values would not do: 1 == 1.0 == True, 0.0 ==
    -0.0), each name's model is read once.
    """
    dumps = caches.dumps
    texts = {k: dumps(muts[k]) for k in set(rep)}
    if dumps(muts) == b"[" + b",".join(map(texts.__getitem__, rep)) + b"]":
        lookup = {names[k]: _mutation(muts[k], caches) for k in set(rep)}
        ids = {name: caches.mutation_ids[mutation] for name, (mutation, _) in lookup.items()}
        num_keys = sum(map({name: n for name, (_, n) in lookup.items()}.__getitem__, names))
        return list(map(ids.__getitem__, names)), num_keys
    keys = list(map(dumps, muts))
    for key, spec in dict(zip(keys, muts)).items():  # one spec per distinct text
        _mutation(spec, caches)
    num_keys = sum(caches.mutations[key][1] for key in keys)
    lookup = {key: caches.mutation_ids[caches.mutations[key][0]] for key in set(keys)}
    return list(map(lookup.__getitem__, keys)), num_keys


def _label_ids(afreqs: list, names: list, rep: list, caches: _Caches) -> list[int]:
    """Each marker's table labels (the afreq keys, normalised and checked once) as a small int."""
    keys = list(map(tuple, afreqs))
    if list(map(keys.__getitem__, rep)) == keys:  # each marker's the same as its name's
        by, chosen = names, {names[k]: keys[k] for k in set(rep)}
    else:
        by, chosen = keys, {key: key for key in keys}
    for key in set(chosen.values()) - caches.label_ids.keys():
        labels = [_allele(a) for a in key]  # MarkerError: the general path
        if len(set(labels)) != len(labels):
            raise _NotTaken
        caches.label_ids[key] = len(caches.labels)
        caches.labels.append((labels, {a: k for k, a in enumerate(labels)}))
    ids = {name: caches.label_ids[key] for name, key in chosen.items()}
    return list(map(ids.__getitem__, by))


def _codes(lids: np.ndarray, genotypes: list, caches: _Caches) -> np.ndarray:
    """(K, 2) allele indices of one person's genotypes, in each marker's table."""
    if list in set(map(type, genotypes)):  # ["12", "14"]: read as the general path reads it
        genotypes = [tuple(g) if type(g) is list and all(isinstance(x, (str, int, float)) for x in g) else g
                     for g in genotypes]
    ids, parsed = caches.genotype_ids, caches.genotypes
    missing = set(genotypes) - ids.keys()
    if missing:
        for g in missing:
            pair = _parse_genotype(g)
            if type(pair) is str:
                raise _NotTaken  # malformed
            ids[g] = len(parsed)
            parsed.append(pair)
    gids = list(map(ids.__getitem__, genotypes))
    combined = lids * (1 << 32) + np.fromiter(gids, dtype=np.int64, count=len(gids))
    distinct, where = np.unique(combined, return_inverse=True)
    labels = caches.labels
    pairs = []
    for code in distinct.tolist():
        index = labels[code >> 32][1]
        a, b = parsed[code & 0xFFFFFFFF]
        pairs.append((index[a], index[b]))  # KeyError: an allele absent from the table
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)[where.reshape(-1)]


def _duo(h1, typed: tuple, caches: _Caches) -> _Duo:
    key = (caches.same_h1 or caches.dumps(h1), typed)
    hit = caches.hypotheses.get(key)
    if hit is not None:
        return hit
    if type(h1) is not list or not h1:
        raise _NotTaken
    checks = _Keys(False)
    for person in h1:
        if type(person) is dict:
            checks.check(person, INDIVIDUAL_KEYS, where="H1", what="the individual")
            if person.get("inbreeding") is not None:
                _number(person["inbreeding"], where="H1", what="'inbreeding'")
    ped1 = as_pedigree(h1, where="H1")
    if not all(pid in ped1 for pid in typed):
        raise _NotTaken
    shape, local = pruned_shape(ped1.structure_key(), tuple(sorted(ped1.index[i] for i in typed)))
    children = [k for k, s in enumerate(shape) if s[0] >= 0]
    if len(shape) != 3 or len(children) != 1:
        raise _NotTaken
    c = children[0]
    f, m, _, child_typed = shape[c]
    typed_parents = [p for p in (f, m) if shape[p][3]]
    if not child_typed or len(typed_parents) != 1 or shape[typed_parents[0]][2] != 0.0:
        raise _NotTaken
    position = {v: k for k, v in local.items()}
    duo = _Duo()
    duo.parent = ped1.individuals[position[typed_parents[0]]].id
    duo.child = ped1.individuals[position[c]].id
    duo.father = typed_parents[0] == f
    duo.num_keys = _num_keys(h1)
    typed_ids = sorted(typed, key=ped1.index.__getitem__)
    ped2 = unrelated(typed_ids, sexes={p.id: p.sex for p in ped1.individuals},
                     inbreeding={p.id: p.inbreeding for p in ped1.individuals if p.is_founder and p.inbreeding})
    duo.h1_json = _nested(_describe(ped1), 4)
    duo.h2_json = _nested(_describe(ped2), 4)
    caches.hypotheses[key] = duo
    return duo


def _kit(names: tuple, mutation_ids: tuple, caches: _Caches) -> _Kit:
    key = (names, mutation_ids)
    hit = caches.kits.get(key)
    if hit is not None:
        return hit
    seen = set()
    for name in names:
        if type(name) is not str or not name.strip():
            raise _NotTaken
        locus, why = _locus_of(name)
        if locus is None or why or locus in seen:
            raise _NotTaken
        seen.add(locus)
    mutations = {i: m for m, i in caches.mutation_ids.items()}
    kit = _Kit()
    kit.names = names
    kit.keys = [json.dumps(name) for name in names]
    kit.template = ",\n    ".join(key.replace("%", "%%") + ": %r" for key in kit.keys)  # the LRs, by repr
    kit.models_json = _nested({n: _describe_mutation(mutations[i]) for n, i in zip(names, mutation_ids)}, 4)
    kit.kit_json = _nested(list(names), 4)
    caches.kits[key] = kit
    return kit


def _matrix_pair(mutation_id: int, label_id: int, caches: _Caches) -> tuple[int, int]:
    """Positions in ``caches.mats`` of the father's and the mother's matrices of a marker."""
    key = (mutation_id, label_id)
    hit = caches.matrices.get(key)
    if hit is None:
        mutation = next(m for m, i in caches.mutation_ids.items() if i == mutation_id)
        labels = caches.labels[label_id][0]
        hit = []
        for model in (mutation.male, mutation.female):
            if model.model != "custom" and model.rate == 0.0 and model.rate2 == 0.0:
                hit.append(0)  # as kinship._matrices: no matrix, the identity
                continue
            matrix = model.transition_matrix(labels, None)  # not frequency-dependent (checked)
            caches.mats.append(matrix)
            hit.append(len(caches.mats) - 1)
        hit = caches.matrices[key] = tuple(hit)
    return hit


class _Batch:
    def __init__(self, ids, duos, kits, counts, lens, values, totals, alleles, matrices, caches):
        self.ids, self.duos, self.kits, self.counts = ids, duos, kits, counts
        self.lens, self.values, self.totals, self.alleles = lens, values, totals, alleles
        self.matrices, self.caches = matrices, caches


# --- computing -----------------------------------------------------------------------------------

def _compute(batch: _Batch):
    """Frequencies normalised as :func:`reunite.genetics.frequencies.prepare_afreq` does, the
    likelihoods, and per case: LRs per marker, total, log10 and the frequency notes."""
    lens = batch.lens
    num, width = len(lens), int(lens.max())
    afreq = np.zeros((num, width))
    afreq[np.arange(width)[None, :] < lens[:, None]] = batch.values
    totals = batch.totals
    if totals is None:  # Python's sum before 3.12: left to right (the padding adds zeros)
        totals = np.cumsum(afreq, axis=1)[:, -1]
    if np.any(np.abs(totals - 1.0) > SUM_TOLERANCE):
        raise _NotTaken  # a table off 1: an error without --normalise
    # NumPy's sum of each table (pairwise: rows of one length summed together, as one row is)
    sums = np.empty(num)
    for n in np.unique(lens):
        rows = np.flatnonzero(lens == n)
        sums[rows] = np.ascontiguousarray(afreq[rows, :n]).sum(axis=1)
    rescale = np.abs(sums - 1.0) > 1e-9
    afreq[rescale] = afreq[rescale] / sums[rescale, None]
    noted = rescale & (np.abs(totals - 1.0) > 1e-9)
    alleles = batch.alleles
    if np.any(afreq[np.arange(num)[:, None], alleles] == 0.0):
        raise _NotTaken  # a typed allele of frequency 0: an error
    father = np.array([d.father for d in batch.duos]).repeat(batch.counts)
    male, female = batch.matrices[:, 0], batch.matrices[:, 1]
    mats = np.zeros((len(batch.caches.mats), width, width))
    mats[0] = np.eye(width)
    for k, matrix in enumerate(batch.caches.mats[1:], start=1):
        mats[k, :len(matrix), :len(matrix)] = matrix
    l1, l2 = duo_likelihoods(afreq, parent=alleles[:, :2], child=alleles[:, 2:], mats=mats,
                             parent_mat=np.where(father, male, female), other_mat=np.where(father, female, male),
                             father=father)
    if not (np.all(l1 >= 0.0) and np.all(l2 > 0.0) and np.all(np.isfinite(l1)) and np.all(np.isfinite(l2))):
        raise _NotTaken  # impossible under H2 (a typed allele of frequency 0): an error
    ratios = l1 / l2
    if not np.all(np.isfinite(ratios)):
        raise _NotTaken
    needing = np.flatnonzero(~(alleles[:, :2, None] == alleles[:, None, 2:]).any(axis=(1, 2)))
    excluded = np.flatnonzero(l1 == 0.0)  # LR 0 (a matrix with zeros: no mutation, onestep)
    return ratios.tolist(), needing.tolist(), np.flatnonzero(noted).tolist(), totals, excluded.tolist()


# --- writing --------------------------------------------------------------------------------------

#: a marker's note where its genotypes are impossible under H1 (kinship._reason), as JSON
_EXCLUSION = json.dumps(_reason(0.0, 1.0))


def _nested(value, level: int) -> str:
    """``json.dumps(value, indent=1)`` as it reads nested ``level`` deep in the document."""
    return json.dumps(value, indent=1).replace("\n", "\n" + " " * level)


def _json_number(x: float) -> str:
    """A float as ``json.dumps`` writes :func:`reunite.genetics.kinship.json_number` of it."""
    if math.isfinite(x):
        return float.__repr__(x)
    return '"NaN"' if math.isnan(x) else ('"Inf"' if x > 0 else '"-Inf"')


def _render(batch: _Batch, computed, *, scale: VerbalScale, prior: float | None) -> list[str]:
    """The JSON text, as ``json.dumps({"results": [...], "warnings": []}, indent=1)`` writes it,
    in parts to be joined or written one after the other."""
    lrs, needing, noted, totals, excluded = computed
    software = json.dumps(f"reunite {__version__}")
    rule = json.dumps(f"5/2N when N is known, else floor {DEFAULT_FLOOR:g}; renormalised")
    keys = list(chain.from_iterable(kit.keys for kit in batch.kits))  # each marker's name, as JSON
    first = np.cumsum([0] + batch.counts).tolist()
    case_of = np.repeat(np.arange(len(batch.counts)), batch.counts)
    # the markers whose table was renormalised: their notes, grouped by case
    noted_totals = totals[noted]
    distinct, which = np.unique(noted_totals, return_inverse=True)
    texts = [": " + json.dumps(f"frequencies summed to {float(t):.6g}; renormalised") for t in distinct]
    note_entries = list(map(str.__add__, map(keys.__getitem__, noted), map(texts.__getitem__, which.tolist())))
    bounds = np.searchsorted(np.asarray(noted, dtype=np.int64), first).tolist()
    exclusions_of: dict = {}  # case -> its markers' notes (the exclusions), as JSON entries
    for k, case in zip(excluded, case_of[excluded].tolist()):
        exclusions_of.setdefault(case, []).append(f"{keys[k]}: {_EXCLUSION}")
    needing_of: dict = {}
    for k, case in zip(needing, case_of[needing].tolist()):
        needing_of.setdefault(case, []).append(keys[k])
    verbal_memo: dict = {}
    out = []
    sep4 = ",\n    "
    for case, (case_id, duo, kit) in enumerate(zip(batch.ids, batch.duos, batch.kits)):
        start, end = first[case], first[case + 1]
        values = lrs[start:end]
        case_exclusions = exclusions_of.get(case)
        if case_exclusions:  # as kinship._finish_case: LR 0, log10 -Inf, the reasons in the notes
            total, log10_total = 0.0, -math.inf
            notes = "{\n    " + sep4.join(case_exclusions) + "\n   }"
        else:
            total = math.prod(values)
            log10_total = math.fsum(map(math.log10, values))
            notes = "{}"
        case_notes = note_entries[bounds[case]:bounds[case + 1]]
        frequency_notes = ("{\n     " + ",\n     ".join(case_notes) + "\n    }") if case_notes else "{}"
        case_needing = needing_of.get(case)
        needing_json = ("[\n    " + sep4.join(case_needing) + "\n   ]") if case_needing else "[]"
        verbal = verbal_equivalent(total, log10_lr=log10_total, scale=scale)
        posterior = "null" if prior is None else \
            f'{{\n    "prior": {prior!r},\n    "value": {_json_number(posterior_of_lr(total, log10_total, prior))}\n   }}'
        vkey = (verbal.words, verbal.note)
        verbal_json = verbal_memo.get(vkey)
        if verbal_json is None:
            verbal_json = verbal_memo[vkey] = _nested(verbal.to_json(), 3)
        out.append(
            f'  {{\n   "id": {json.dumps(case_id)},\n   "lr_total": {_json_number(total)},\n'
            f'   "log10_lr_total": {_json_number(log10_total)},\n   "lr_per_marker": {{\n    '
            f'{kit.template % tuple(values)}\n   }},\n'
            f'   "notes": {notes},\n   "provenance": {{\n    "software": {software},\n    "theta": 0.0,\n'
            f'    "frequency_tables": [\n     "given in the case"\n    ],\n'
            f'    "mutation_models": {kit.models_json},\n    "rare_allele_rule": {rule},\n'
            f'    "frequency_notes": {frequency_notes},\n    "kit": {kit.kit_json},\n'
            f'    "h1": {duo.h1_json},\n    "h2": {duo.h2_json}\n   }},\n'
            f'   "loci_needing_mutation": {needing_json},\n   "posterior": {posterior},\n'
            f'   "verbal": {verbal_json},\n   "warnings": []\n  }}')
    # in parts of about 0.4 MB (a caller may write them one by one: no 12 MB string)
    parts = [",\n".join(out[k:k + 64]) for k in range(0, len(out), 64)]
    return ['{\n "results": [\n', *[p + ",\n" for p in parts[:-1]], parts[-1], '\n ],\n "warnings": []\n}\n']

