"""The DVI JSON format: victims, reference families and markers of a joint identification,
as one JSON document (the neutral form of dvir's ``dviData``; tests/data/familias/dvi/ holds
dvir's 12 datasets in it).

    {"name": "...",                                   (optional)
     "markers": [{"name": "D3S1358", "alleles": ["14", "15", ...], "afreq": [0.1, ...],
                  "mutation": null | {"sex_equal": true, "female": MODEL, "male": MODEL},
                  "chrom": null}],                    (autosomal only)
     "victims": [{"id": "V1", "sex": 1 | 2 | 0 | "M" | "F" | "U",
                  "genotypes": {"D3S1358": ["14", "15"], ...}}],
     "families": [{"name": "F1",
                   "individuals": [{"id": "R1", "father": null, "mother": null, "sex": 1}, ...],
                   "missing": ["M1"],
                   "genotypes": {"R1": {"D3S1358": ["14", "16"]}},
                   "typed": ["R1"]}],                 (optional; checked against genotypes)
     "pairings": {"V1": ["*", "M1"], ...}}            (optional: candidates; "*" = nobody)

MODEL is ``{"model": "equal" | "proportional" | "stepwise" | "onestep", "rate": 0.001,
"rate2": 0, "range": 0.5}`` or ``{"matrix": [[...], ...]}`` (rows: the parent's allele, in
``alleles`` order; a given matrix is used as it is).  Untyped markers are left out of
``genotypes``.  Informational keys (``n_victims``, ``source``, ``notes`` ...) are accepted;
any other key is refused, naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

from reunite.errors import ReuniteError
from reunite.genetics.dvi import DviProblem, ReferenceFamily, Victim
from reunite.genetics.kinship import Marker, Mutation
from reunite.genetics.mutation import MutationModel
from reunite.genetics.pedigree import make_pedigree

_TOP_KEYS = {"name", "markers", "victims", "families", "pairings", "missing", "n_victims", "n_missing",
             "n_families", "n_markers", "source", "notes", "markers_pm", "schema", "file",
             "familias_version", "is_dvi", "database", "source_file", "construction", "label_map"}
_MARKER_KEYS = {"name", "alleles", "afreq", "mutation", "chrom", "source", "n_individuals"}
_MODEL_KEYS = {"model", "rate", "rate2", "range", "matrix", "stationary", "reversible"}
_VICTIM_KEYS = {"id", "sex", "genotypes"}
_FAMILY_KEYS = {"name", "individuals", "missing", "genotypes", "typed"}
_PERSON_KEYS = {"id", "father", "mother", "sex"}
_SEX = {1: "M", 2: "F", 0: "U", "1": "M", "2": "F", "0": "U", "M": "M", "F": "F", "U": "U"}


class DviFormatError(ReuniteError):
    """A DVI JSON document does not follow the format (the message names the key)."""


def read_dvi_json(path) -> DviProblem:
    """Read a DVI JSON file (see the module docstring).

    Raises
    ------
    DviFormatError
        unreadable JSON, or a key that is missing, unknown or malformed (named in the message).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DviFormatError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DviFormatError(f"{path}: not a JSON document ({exc})") from None
    return dvi_problem_from_json(doc, where=str(path))


def dvi_problem_from_json(doc, *, where: str = "DVI JSON") -> DviProblem:
    """A :class:`DviProblem` from a parsed DVI JSON document (see the module docstring)."""
    _object(doc, where, _TOP_KEYS, required=("markers", "victims", "families"))
    source = doc.get("source") if isinstance(doc.get("source"), str) else "given"
    markers = [_marker(m, f"{where}: markers[{k}]", source) for k, m in enumerate(_list(doc, "markers", where))]
    names = [m.name for m in markers]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DviFormatError(f"{where}: markers: {dup!r} is given twice")
    if "markers_pm" in doc:  # dvir's victims' markers in their own order: the same tables
        known = {m.name: m for m in markers}
        for k, m in enumerate(_list(doc, "markers_pm", where)):
            pm = _marker(m, f"{where}: markers_pm[{k}]", source)
            am = known.get(pm.name)
            if am is None or am.afreq != pm.afreq:
                raise DviFormatError(f"{where}: markers_pm[{k}] ({pm.name!r}) differs from the marker of "
                                     "that name in 'markers'; give one frequency table per marker")
    victims = []
    for k, v in enumerate(_list(doc, "victims", where)):
        w = f"{where}: victims[{k}]"
        _object(v, w, _VICTIM_KEYS, required=("id",))
        vid = _name(v["id"], f"{w}.id")
        victims.append(Victim(vid, _sex(v.get("sex", 0), f"{w}.sex"),
                              _genotypes(v.get("genotypes", {}), f"{w}.genotypes")))
    families = []
    for k, f in enumerate(_list(doc, "families", where)):
        families.append(_family(f, f"{where}: families[{k}]", k))
    pairings = None
    if doc.get("pairings") is not None:
        raw = doc["pairings"]
        if not isinstance(raw, dict):
            raise DviFormatError(f"{where}: pairings: expected an object {{victim: [missing ids or \"*\"]}}, "
                                 f"found {type(raw).__name__}")
        pairings = {}
        for vid, lst in raw.items():
            if not isinstance(lst, list):
                raise DviFormatError(f"{where}: pairings.{vid}: expected a list of missing ids or \"*\"")
            pairings[str(vid)] = [None if x == "*" else _name(x, f"{where}: pairings.{vid}") for x in lst]
    return DviProblem(victims, families, markers, pairings=pairings,
                      name=str(doc.get("name") or Path(where).stem or "dvi"))


def _object(doc, where: str, allowed: set, *, required=()) -> None:
    if not isinstance(doc, dict):
        raise DviFormatError(f"{where}: expected an object, found {type(doc).__name__}")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise DviFormatError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(sorted(allowed))})")
    for key in required:
        if key not in doc:
            raise DviFormatError(f"{where}: the key {key!r} is required")


def _list(doc: dict, key: str, where: str) -> list:
    value = doc.get(key)
    if not isinstance(value, list) or not value:
        raise DviFormatError(f"{where}: {key}: expected a non-empty list")
    return value


def _name(value, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
        raise DviFormatError(f"{where}: expected a name (text), found {value!r}")
    return str(value)


def _sex(value, where: str) -> str:
    try:
        return _SEX[value]
    except (KeyError, TypeError):
        raise DviFormatError(f"{where}: expected 1 (male), 2 (female) or 0 (unknown), found {value!r}") from None


def _genotypes(doc, where: str) -> dict[str, tuple[str, str]]:
    if not isinstance(doc, dict):
        raise DviFormatError(f"{where}: expected an object {{marker: [allele, allele]}}")
    out = {}
    for marker, g in doc.items():
        if not isinstance(g, list) or len(g) != 2 or not all(isinstance(a, (str, int, float)) for a in g):
            raise DviFormatError(f"{where}.{marker}: expected two alleles such as [\"14\", \"15\"], found {g!r}")
        out[str(marker)] = (str(g[0]), str(g[1]))
    return out


def _marker(doc, where: str, source: str) -> Marker:
    _object(doc, where, _MARKER_KEYS, required=("name", "alleles", "afreq"))
    name = _name(doc["name"], f"{where}.name")
    if doc.get("chrom") not in (None, "", "NA") and str(doc["chrom"]).upper() not in {str(k) for k in range(1, 23)}:
        raise DviFormatError(f"{where}.chrom: {doc['chrom']!r}; joint identification uses autosomal markers only")
    alleles, afreq = doc["alleles"], doc["afreq"]
    if not isinstance(alleles, list) or not isinstance(afreq, list) or len(alleles) != len(afreq) or not alleles:
        raise DviFormatError(f"{where}: alleles and afreq must be lists of the same, non-zero length")
    for k, f in enumerate(afreq):
        if isinstance(f, bool) or not isinstance(f, (int, float)):
            raise DviFormatError(f"{where}.afreq[{k}]: expected a number, found {f!r}")
    labels = [str(a) for a in alleles]
    if len(set(labels)) != len(labels):
        raise DviFormatError(f"{where}.alleles: an allele is listed twice")
    mutation = None
    if doc.get("mutation") is not None:
        mutation = _mutation(doc["mutation"], f"{where}.mutation", len(labels))
        _check_flags(doc["mutation"], mutation, labels, [float(f) for f in afreq], f"{where}.mutation")
    n = doc.get("n_individuals")
    return Marker(name, dict(zip(labels, (float(f) for f in afreq))), {}, mutation,
                  int(n) if isinstance(n, int) and n > 0 else None, str(doc.get("source") or source))


def _mutation(doc, where: str, n: int) -> Mutation | None:
    _object(doc, where, {"sex_equal", "female", "male", "model", "rate", "rate2", "range", "matrix"})
    if "female" not in doc:  # one model for both sexes
        model = _model(doc, where, n)
        return None if model is None else Mutation.same(model)
    female = _model(doc["female"], f"{where}.female", n)
    male = female if doc.get("sex_equal", "male" not in doc) else _model(doc.get("male"), f"{where}.male", n)
    if female is None and male is None:
        return None
    none = MutationModel("equal", 0.0)
    return Mutation(female or none, male or none)


#: how far p·M may be from p (stationary) or p_i M_ij from p_j M_ji (reversible) for the flags
_FLAG_TOLERANCE = 1e-9


def _check_flags(doc, mutation: Mutation | None, labels: list[str], afreq: list[float], where: str) -> None:
    """A model that says ``"stationary": true`` or ``"reversible": true`` must be so for the
    marker's frequencies: the flags are never applied, so a model built from parameters that
    is not (e.g. a stepwise model) would silently give other numbers than its source meant.

    Raises
    ------
    DviFormatError
        a flag that the model's matrix contradicts (naming the key and the largest deviation).
    """
    import numpy as np

    if not isinstance(doc, dict):
        return
    parts = [(doc, "female" if mutation is None else None, where)] if "female" not in doc else [
        (doc["female"], "female", f"{where}.female"), (doc.get("male"), "male", f"{where}.male")]
    p = np.asarray(afreq, dtype=float)
    for md, sex, w in parts:
        if not isinstance(md, dict) or not (md.get("stationary") is True or md.get("reversible") is True):
            continue
        model = None if mutation is None else getattr(mutation, sex or "female")
        if model is None or (model.model != "custom" and model.rate == 0.0 and model.rate2 == 0.0):
            continue  # no mutation: the identity is stationary and reversible
        with np.errstate(all="ignore"):
            m = np.asarray(model.transition_matrix(labels, p), dtype=float)
        if md.get("stationary") is True:
            off = float(np.max(np.abs(p @ m - p)))
            if not off <= _FLAG_TOLERANCE:
                raise DviFormatError(
                    f"{w}.stationary: true, but the {model.describe()} matrix is not stationary for the "
                    f"marker's frequencies (largest |p·M - p| = {off:.3g}); give the stationary matrix as "
                    "'matrix', or set 'stationary' to false to use the model as it is")
        if md.get("reversible") is True:
            flow = p[:, None] * m
            off = float(np.max(np.abs(flow - flow.T)))
            if not off <= _FLAG_TOLERANCE:
                raise DviFormatError(
                    f"{w}.reversible: true, but the {model.describe()} matrix is not reversible for the "
                    f"marker's frequencies (largest |p_i M_ij - p_j M_ji| = {off:.3g}); give the matrix as "
                    "'matrix', or set 'reversible' to false to use the model as it is")


def _model(doc, where: str, n: int) -> MutationModel | None:
    _object(doc, where, _MODEL_KEYS)
    try:
        if doc.get("matrix") is not None:
            m = doc["matrix"]
            if not isinstance(m, list) or len(m) != n or any(not isinstance(r, list) or len(r) != n for r in m):
                raise DviFormatError(f"{where}.matrix: expected {n} rows of {n} numbers (one per allele)")
            if all(m[i][j] == (1.0 if i == j else 0.0) for i in range(n) for j in range(n)):
                return None  # the identity: no mutation
            return MutationModel("custom", matrix=m)
        kind = doc.get("model")
        rate = float(doc.get("rate") or 0.0)
        if kind is None:
            raise DviFormatError(f"{where}: give 'model' (and 'rate') or 'matrix'")
        if rate == 0.0 and float(doc.get("rate2") or 0.0) == 0.0:
            return None
        return MutationModel(str(kind), rate, float(doc.get("rate2") or 0.0), float(doc.get("range") or 0.5))
    except DviFormatError:
        raise
    except (ReuniteError, TypeError, ValueError) as exc:
        raise DviFormatError(f"{where}: {exc}") from None


def _family(doc, where: str, k: int) -> ReferenceFamily:
    _object(doc, where, _FAMILY_KEYS, required=("individuals", "missing"))
    name = _name(doc.get("name") or f"F{k + 1}", f"{where}.name")
    people = []
    for i, p in enumerate(_list(doc, "individuals", where)):
        w = f"{where}.individuals[{i}]"
        _object(p, w, _PERSON_KEYS, required=("id",))
        people.append({"id": _name(p["id"], f"{w}.id"), "father": p.get("father"), "mother": p.get("mother"),
                       "sex": _sex(p.get("sex", 0), f"{w}.sex")})
    try:
        ped = make_pedigree(people, where=f"{where}.individuals")
    except ReuniteError as exc:
        raise DviFormatError(str(exc)) from None
    missing = tuple(_name(m, f"{where}.missing") for m in _list(doc, "missing", where))
    genotypes = {}
    raw = doc.get("genotypes", {})
    if not isinstance(raw, dict):
        raise DviFormatError(f"{where}.genotypes: expected an object {{person: {{marker: [a1, a2]}}}}")
    for pid, g in raw.items():
        genotypes[str(pid)] = _genotypes(g, f"{where}.genotypes.{pid}")
    if "typed" in doc:
        typed = doc["typed"] if isinstance(doc["typed"], list) else None
        if typed is None or {str(t) for t in typed} != {p for p, g in genotypes.items() if g}:
            raise DviFormatError(f"{where}.typed: expected the list of persons with genotypes "
                                 f"({', '.join(sorted(genotypes))}), found {doc['typed']!r}")
    return ReferenceFamily(name, ped, missing, {p: g for p, g in genotypes.items() if g})
