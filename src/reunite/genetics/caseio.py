"""Reading the kinship case format (v1) described in the README."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from reunite.errors import CaseFormatError, ReuniteError
from reunite.genetics.frequencies import get_population
from reunite.genetics.kinship import Marker, Mutation
from reunite.genetics.mutation import MutationModel

_SEXED = ("female", "male")


@dataclass
class KinshipCase:
    """One case: hypotheses, θ and markers, ready for :func:`kinship_lr`."""

    id: str
    h1: list
    h2: object
    theta: float
    markers: list[Marker]


def load_cases_json(path: str | Path) -> list:
    """The raw list of case objects in ``path`` (``{"cases": [...]}`` or a bare list)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseFormatError(f"{path}: cannot read the file ({exc.strerror})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseFormatError(
            f"{path}, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    cases = doc.get("cases") if isinstance(doc, dict) else doc
    if not isinstance(cases, list):
        raise CaseFormatError(f'{path}: expected {{"cases": [...]}} or a list of cases')
    return cases


def _per_sex(value, name: str, where: str):
    if isinstance(value, dict):
        unknown = set(value) - set(_SEXED)
        if unknown or not set(_SEXED) <= set(value):
            raise CaseFormatError(
                f"{where}: mutation {name} as an object needs exactly the keys 'female' and "
                f"'male', found {sorted(value)}"
            )
        return value["female"], value["male"]
    return value, value


def parse_mutation(spec, *, where: str) -> Mutation | None:
    """A :class:`Mutation` from the case format's ``mutation`` object (None if absent)."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or "model" not in spec:
        raise CaseFormatError(f"{where}: 'mutation' must be an object with a 'model', found {spec!r}")
    model = spec["model"]
    if model in (None, "none", "trivial"):
        return None
    sexed = {}
    for key, default in (("rate", 0.0), ("rate2", 0.0), ("range", 0.5), ("matrix", None)):
        if key == "matrix":
            value = spec.get("matrix")
            if isinstance(value, dict):
                sexed[key] = _per_sex(value, key, where)
            else:
                sexed[key] = (value, value)
            continue
        sexed[key] = _per_sex(spec.get(key, default), key, where)
    models = []
    for s in range(2):
        kwargs = {}
        for key in ("rate", "rate2", "range"):
            v = sexed[key][s]
            try:
                kwargs[key] = float(v)
            except (TypeError, ValueError):
                raise CaseFormatError(f"{where}: mutation {key} must be a number, found {v!r}") from None
        matrix = sexed["matrix"][s]
        if matrix is not None:
            matrix = tuple(tuple(float(x) for x in row) for row in matrix)
        try:
            models.append(MutationModel(model, matrix=matrix, **kwargs))
        except ReuniteError as exc:
            raise CaseFormatError(f"{where}: {exc}") from None
    return Mutation(models[0], models[1])


def parse_case(raw, *, number: int) -> KinshipCase:
    """Validate one raw case object; errors name the case and marker."""
    if not isinstance(raw, dict):
        raise CaseFormatError(f"case #{number}: expected an object, found {type(raw).__name__}")
    case_id = str(raw.get("id", f"#{number}"))
    where = f"case {case_id!r}"
    for key in ("H1", "markers"):
        if key not in raw:
            raise CaseFormatError(f"{where}: the required field {key!r} is missing")
    h1 = raw["H1"]
    if not isinstance(h1, list) or not h1:
        raise CaseFormatError(f"{where}: 'H1' must be a non-empty list of individuals")
    h2 = raw.get("H2", "unrelated")
    if not (h2 == "unrelated" or isinstance(h2, list)):
        raise CaseFormatError(f"{where}: 'H2' must be \"unrelated\" or a list of individuals, found {h2!r}")
    try:
        theta = float(raw.get("theta", 0.0) or 0.0)
    except (TypeError, ValueError):
        raise CaseFormatError(f"{where}: 'theta' must be a number, found {raw.get('theta')!r}") from None
    population = raw.get("population")
    markers_raw = raw["markers"]
    if not isinstance(markers_raw, list):
        raise CaseFormatError(f"{where}: 'markers' must be a list")
    markers = []
    for k, m in enumerate(markers_raw, start=1):
        if not isinstance(m, dict) or "name" not in m:
            raise CaseFormatError(f"{where}, marker #{k}: expected an object with a 'name'")
        name = str(m["name"])
        mwhere = f"{where}, marker {name!r}"
        afreq = m.get("afreq")
        n_individuals = None
        source = "given in the case"
        if afreq is None:
            pop_name = m.get("population", population)
            if not pop_name:
                raise CaseFormatError(f"{mwhere}: no 'afreq' and no 'population' to take it from")
            table = get_population(pop_name).locus(name)
            afreq, n_individuals, source = dict(table.afreq), table.n_individuals, pop_name
        if not isinstance(afreq, dict) or not afreq:
            raise CaseFormatError(f"{mwhere}: 'afreq' must be a non-empty object allele -> frequency")
        genotypes = m.get("genotypes", {})
        if not isinstance(genotypes, dict):
            raise CaseFormatError(f"{mwhere}: 'genotypes' must be an object person -> 'a/b'")
        markers.append(Marker(name, {str(a): f for a, f in afreq.items()},
                              {str(p): g for p, g in genotypes.items()},
                              parse_mutation(m.get("mutation"), where=mwhere),
                              n_individuals, source))
    return KinshipCase(case_id, h1, h2, theta, markers)
