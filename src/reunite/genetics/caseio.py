"""Reading the kinship case format (v1) described in the README.

Every object's keys are checked: a key the format does not know (a typo such as ``"theat"``)
is an error naming the key, the case, the marker and the valid keys, or, with ``lenient``, a
warning kept with the case.  A key written twice in one JSON object, two spellings of one locus
(``TH01`` and ``THO1``) and two cases with one id are always errors: each would silently change
or hide a result.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from reunite.errors import CaseFormatError, ReuniteError
from reunite.genetics.frequencies import get_population
from reunite.genetics.kinship import Marker, Mutation, not_autosomal
from reunite.genetics.loci import normalise_locus
from reunite.genetics.mutation import MutationModel

#: The value of the document's optional ``"format"`` key.
FORMAT = "kinship case format v1"
DOCUMENT_KEYS = ("cases", "format", "population")
CASE_KEYS = ("id", "H1", "H2", "theta", "population", "mutation", "markers")
INDIVIDUAL_KEYS = ("id", "father", "mother", "sex", "inbreeding")
MARKER_KEYS = ("name", "afreq", "genotypes", "mutation", "population")
SEX_KEYS = ("female", "male")
#: The keys of a ``mutation`` object, per model (no model: ``"none"``).
MUTATION_KEYS = {
    "equal": ("model", "rate"),
    "proportional": ("model", "rate"),
    "onestep": ("model", "rate"),
    "stepwise": ("model", "rate", "rate2", "range"),
    "custom": ("model", "matrix"),
    "none": ("model",),
}
#: Highest plausible per-generation rate of a step-wise STR mutation model.  Observed STR
#: rates are about 1e-4 to 1e-2 per meiosis; a larger one is almost always a percentage
#: (0.2 meaning 0.2 %) or a typing error, and would weaken every exclusion.
MAX_STEP_RATE = 0.1
_STEP_MODELS = ("stepwise", "onestep")


def step_rate_problem(rate: float, *, model: str, what: str) -> str | None:
    """Why ``rate`` is not a plausible rate for ``model``, or None.

    Only the step-wise models (``stepwise``, ``onestep``) are checked: their rates are STR
    mutation rates per meiosis, at most :data:`MAX_STEP_RATE`.
    """
    if model not in _STEP_MODELS or not rate > MAX_STEP_RATE:
        return None
    return (f"{what} {rate:g} is not a plausible per-generation STR mutation rate for the {model} "
            f"model (expected at most {MAX_STEP_RATE:g}; STR rates are about 0.0001 to 0.01 per "
            "meiosis); give the rate as a probability, e.g. 0.002 for 0.2 %")


@dataclass
class KinshipCase:
    """One case: hypotheses, θ and markers, ready for :func:`kinship_lr`.

    ``warnings``: the unknown keys ignored when read with ``lenient``.
    """

    id: str
    h1: list
    h2: object
    theta: float
    markers: list[Marker]
    warnings: list[str] = field(default_factory=list)


@dataclass
class CaseEntry:
    """One case of a case file at position ``number``: ``case`` if it could be parsed, and
    ``error`` if it is malformed (a parsed case with an error, e.g. a duplicate id, is not run)."""

    number: int
    id: str
    case: KinshipCase | None = None
    error: ReuniteError | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class CaseFile:
    """The cases of one case file, in file order, and the document's own warnings."""

    source: str
    entries: list[CaseEntry]
    warnings: list[str] = field(default_factory=list)


class _Object(dict):
    """A JSON object that remembers the keys it was given more than once."""

    duplicate_keys: tuple = ()


def _object(pairs: list) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        obj.duplicate_keys = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def load_case_document(path: str | Path):
    """The JSON document of a case file: ``{"cases": [...], ...}`` or a bare list of cases.

    Raises
    ------
    CaseFormatError
        the file cannot be read, is not JSON (with line and column), or is neither an object
        with a ``"cases"`` list nor a list.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaseFormatError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); "
                              "save the case file as UTF-8") from None
    except OSError as exc:
        raise CaseFormatError(f"{path}: cannot read the file ({exc.strerror})") from None
    try:
        doc = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise CaseFormatError(
            f"{path}, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    except ValueError:  # an integer of more than 4,300 digits (Python's limit)
        raise CaseFormatError(f"{path}: a number in the file has more than 4,300 digits; not a "
                              "case file") from None
    except RecursionError:
        raise CaseFormatError(f"{path}: the JSON is nested too deeply to be a case file") from None
    cases = doc.get("cases") if isinstance(doc, dict) else doc
    if not isinstance(cases, list):
        raise CaseFormatError(f'{path}: expected {{"cases": [...]}} or a list of cases')
    return doc


def read_cases(doc, *, source: str = "cases", lenient: bool = False) -> CaseFile:
    """Parse every case of a document read by :func:`load_case_document`.

    A malformed case becomes an entry with its ``error``; two cases with one id are both
    errors naming the id and the positions.  The document's ``"population"`` is the default
    of its cases.

    Raises
    ------
    CaseFormatError
        unknown document keys (unless ``lenient``), an unknown ``"format"``, no cases.
    """
    keys = _Keys(lenient)
    population, raw_cases = _document(doc, source=source, keys=keys)
    entries = []
    for number, raw in enumerate(raw_cases, start=1):
        entry = CaseEntry(number, _raw_id(raw, number))
        try:
            entry.case = parse_case(raw, number=number, lenient=lenient, population=population)
            entry.warnings = entry.case.warnings
        except ReuniteError as exc:
            entry.error = exc
        entries.append(entry)
    positions: dict[str, list[int]] = {}
    for entry in entries:
        positions.setdefault(entry.id, []).append(entry.number)
    for entry in entries:
        others = [k for k in positions[entry.id] if k != entry.number]
        if others:
            also = f"; and {entry.error}" if entry.error is not None else ""
            entry.error = CaseFormatError(
                f"case #{entry.number} {entry.id!r}: the id {entry.id!r} is also the id of case "
                f"{', '.join(f'#{k}' for k in others)}; give every case its own id{also}")
    return CaseFile(source, entries, keys.warnings)


def load_cases_json(path: str | Path, *, lenient: bool = False) -> list:
    """The raw case objects of ``path``, the document's ``"population"`` set as their default.

    Raises
    ------
    CaseFormatError
        what :func:`load_case_document` raises, unknown document keys (unless ``lenient``),
        an unknown ``"format"``, no cases.
    """
    population, raw_cases = _document(load_case_document(path), source=str(path),
                                      keys=_Keys(lenient))
    out = []
    for raw in raw_cases:
        if population is not None and isinstance(raw, dict) and "population" not in raw:
            copy = _Object(raw, population=population)
            copy.duplicate_keys = getattr(raw, "duplicate_keys", ())
            raw = copy
        out.append(raw)
    return out


def _document(doc, *, source: str, keys: "_Keys") -> tuple[str | None, list]:
    """The document's default population and its list of raw cases, checked."""
    if isinstance(doc, dict):
        keys.check(doc, DOCUMENT_KEYS, where=source, what="the document")
        fmt = doc.get("format", FORMAT)
        if fmt != FORMAT:
            raise CaseFormatError(f"{source}: 'format' is {fmt!r}; reunite reads {FORMAT!r}")
        population = _population(doc.get("population"), where=source)
        raw_cases = doc.get("cases")
    else:
        population, raw_cases = None, doc
    if not isinstance(raw_cases, list):
        raise CaseFormatError(f'{source}: expected {{"cases": [...]}} or a list of cases')
    if not raw_cases:
        raise CaseFormatError(f"{source}: no cases: the case list is empty; add at least one case")
    return population, raw_cases


def _valid_id(value) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip() != ""


def _raw_id(raw, number: int) -> str:
    """The case's id as written, or ``#number`` when it has none (or an unusable one)."""
    if isinstance(raw, dict) and _valid_id(raw.get("id")):
        return str(raw["id"])
    return f"#{number}"


class _Keys:
    """Checks the keys of case-format objects; collects warnings when lenient."""

    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient
        self.warnings: list[str] = []

    def check(self, obj: dict, valid, *, where: str, what: str, purpose: str = "") -> None:
        """Refuse the keys of ``obj`` not in ``valid`` (warn if lenient), and repeated keys."""
        no_repeated_keys(obj, where=where, what=what)
        unknown = [k for k in obj if k not in valid]
        if not unknown:
            return
        hints = []
        for key in unknown:
            close = [v for v in valid if str(key).lower() == v.lower()] \
                or difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
        message = (f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(hints)} in "
                   f"{what}{purpose}; valid keys: {', '.join(valid)}")
        if not self.lenient:
            raise CaseFormatError(message)
        self.warnings.append(message + " (ignored: --lenient)")


def no_repeated_keys(obj, *, where: str, what: str) -> None:
    """Refuse a JSON object that gave a key twice (JSON keeps the last value silently)."""
    repeated = getattr(obj, "duplicate_keys", ())
    if repeated:
        raise CaseFormatError(
            f"{where}: {what} gives the key{'s' if len(repeated) > 1 else ''} "
            f"{', '.join(repr(k) for k in repeated)} more than once; JSON would keep only the "
            "last value, so give each key once")


def _population(value, *, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise CaseFormatError(f"{where}: 'population' must be the name of a shipped frequency "
                              f"table (see 'reunite populations'), found {value!r}")
    try:
        get_population(value)
    except ReuniteError as exc:
        raise CaseFormatError(f"{where}: {exc}") from None
    return value


def _per_sex(value, name: str, where: str):
    if isinstance(value, dict):
        no_repeated_keys(value, where=where, what=f"mutation {name!r}")
        if set(value) != set(SEX_KEYS):
            raise CaseFormatError(
                f"{where}: mutation {name!r} as an object needs exactly the keys 'female' and "
                f"'male', found {sorted(map(str, value))}"
            )
        return value["female"], value["male"]
    return value, value


def _number(value, *, where: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CaseFormatError(f"{where}: {what} must be a number, found {value!r}")
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        raise CaseFormatError(f"{where}: {what} must be a number, found an integer of "
                              f"{len(str(value))} digits") from None


_PARSED_MUTATIONS: dict = {}  # frozen spec -> Mutation, for specs read before without problem


def _frozen(value):
    """A hashable copy of a JSON value that tells apart what parsing tells apart (types,
    repeated keys, the sign of a zero); raises TypeError where it cannot."""
    if isinstance(value, dict):
        return (dict, getattr(value, "duplicate_keys", ()),
                tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return (list, tuple(_frozen(v) for v in value))
    if type(value) is float and value == 0.0:
        return (float, repr(value))
    return (type(value), value)


def parse_mutation(spec, *, where: str, lenient: bool = False,
                   warnings: list[str] | None = None) -> Mutation | None:
    """:func:`parse_mutation_uncached`, remembered for specs read before (a case file gives
    each locus's model again in every case)."""
    if lenient or not isinstance(spec, dict):
        return parse_mutation_uncached(spec, where=where, lenient=lenient, warnings=warnings)
    try:
        key = _frozen(spec)
        hit = _PARSED_MUTATIONS.get(key)
    except TypeError:
        return parse_mutation_uncached(spec, where=where, lenient=lenient, warnings=warnings)
    if hit is None:
        hit = parse_mutation_uncached(spec, where=where, lenient=lenient, warnings=warnings)
        if len(_PARSED_MUTATIONS) > 10_000:
            _PARSED_MUTATIONS.clear()
        _PARSED_MUTATIONS[key] = hit if hit is not None else False
    return hit or None


def parse_mutation_uncached(spec, *, where: str, lenient: bool = False,
                            warnings: list[str] | None = None) -> Mutation | None:
    """A :class:`Mutation` from the case format's ``mutation`` object (None if absent).

    Raises
    ------
    CaseFormatError
        keys the model does not use (unless ``lenient``: appended to ``warnings``), a rate
        that is not a number, a step-wise rate above :data:`MAX_STEP_RATE`, a bad model.
    """
    if spec is None:
        return None
    if not isinstance(spec, dict) or "model" not in spec:
        raise CaseFormatError(f"{where}: 'mutation' must be an object with a 'model', found {spec!r}")
    model = spec["model"]
    if model in (None, "none", "trivial"):
        model = "none"
    if not isinstance(model, str) or model not in MUTATION_KEYS:
        raise CaseFormatError(f"{where}: mutation model must be one of "
                              f"{', '.join(MUTATION_KEYS)}, found {model!r}")
    keys = _Keys(lenient)
    keys.check(spec, MUTATION_KEYS[model], where=where, what="'mutation'",
               purpose=f" (the {model} model)")
    if warnings is not None:
        warnings.extend(keys.warnings)
    if model == "none":
        return None
    sexed = {}
    for key, default in (("rate", 0.0), ("rate2", 0.0), ("range", 0.5)):
        sexed[key] = _per_sex(spec.get(key, default) if key in MUTATION_KEYS[model] else default,
                              key, where)
    matrix = spec.get("matrix") if model == "custom" else None
    sexed["matrix"] = _per_sex(matrix, "matrix", where) if isinstance(matrix, dict) \
        else (matrix, matrix)
    models = []
    for s, sex in enumerate(SEX_KEYS):
        kwargs = {key: _number(sexed[key][s], where=where, what=f"mutation {key}")
                  for key in ("rate", "rate2", "range")}
        for key in ("rate", "rate2"):
            problem = step_rate_problem(kwargs[key], model=model,
                                        what=f"mutation {key}" + (f" ({sex})" if
                                                                  isinstance(spec.get(key), dict) else ""))
            if problem:
                raise CaseFormatError(f"{where}: {problem}")
        matrix = sexed["matrix"][s]
        try:
            if matrix is not None:
                matrix = tuple(tuple(float(x) for x in row) for row in matrix)
            models.append(MutationModel(model, matrix=matrix, **kwargs))
        except (TypeError, ValueError, OverflowError):
            raise CaseFormatError(f"{where}: mutation matrix must be a list of rows of numbers, "
                                  f"found {sexed['matrix'][s]!r}") from None
        except ReuniteError as exc:
            raise CaseFormatError(f"{where}: {exc}") from None
    return Mutation(models[0], models[1])


def parse_case(raw, *, number: int, lenient: bool = False, population: str | None = None) -> KinshipCase:
    """Validate one raw case object; errors name the case and marker.

    ``population`` is the default frequency table (the document's) of a case without one.
    The case's ``mutation`` is the model of every marker without its own.

    Raises
    ------
    CaseFormatError
        a missing or malformed field, an unknown key (unless ``lenient``: then in the
        case's ``warnings``), one locus under two names.
    """
    if not isinstance(raw, dict):
        raise CaseFormatError(f"case #{number}: expected an object, found {type(raw).__name__}")
    case_id = _raw_id(raw, number)
    if "id" in raw and not _valid_id(raw["id"]):
        raise CaseFormatError(f"case #{number}: 'id' must be a non-empty string, found {raw['id']!r}")
    where = f"case {case_id!r}"
    keys = _Keys(lenient)
    keys.check(raw, CASE_KEYS, where=where, what="the case")
    for key in ("H1", "markers"):
        if key not in raw:
            raise CaseFormatError(f"{where}: the required field {key!r} is missing")
    h1 = raw["H1"]
    if not isinstance(h1, list) or not h1:
        raise CaseFormatError(f"{where}: 'H1' must be a non-empty list of individuals")
    h2 = raw.get("H2", "unrelated")
    if not (h2 == "unrelated" or isinstance(h2, list)):
        raise CaseFormatError(f"{where}: 'H2' must be \"unrelated\" or a list of individuals, found {h2!r}")
    for hyp, people in (("H1", h1), ("H2", h2)):
        for k, person in enumerate(people if isinstance(people, list) else [], start=1):
            if isinstance(person, dict):
                pid = person.get("id")
                pwhere = f"{where}, {hyp}, individual " + (repr(pid) if pid is not None else f"#{k}")
                keys.check(person, INDIVIDUAL_KEYS, where=pwhere, what="the individual")
                if person.get("inbreeding") is not None:
                    _number(person["inbreeding"], where=pwhere, what="'inbreeding'")
    theta = raw.get("theta", 0.0)
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or \
            (isinstance(theta, int) and not -2 < theta < 2) or not math.isfinite(theta) \
            or not 0 <= theta < 1:
        raise CaseFormatError(f"{where}: 'theta' must be a number in [0, 1), found {theta!r}")
    theta = float(theta)
    population = _population(raw["population"], where=where) if "population" in raw else population
    default_mutation = parse_mutation(raw.get("mutation"), where=f"{where}, case 'mutation'",
                                      lenient=lenient, warnings=keys.warnings)
    markers_raw = raw["markers"]
    if not isinstance(markers_raw, list):
        raise CaseFormatError(f"{where}: 'markers' must be a list")
    if not markers_raw:
        raise CaseFormatError(f"{where}: 'markers' is empty; a case needs at least one marker")
    markers = []
    loci: dict[str, tuple[int, str]] = {}
    for k, m in enumerate(markers_raw, start=1):
        if not isinstance(m, dict) or "name" not in m:
            raise CaseFormatError(f"{where}, marker #{k}: expected an object with a 'name'")
        name = m["name"]
        if not isinstance(name, str) or not name.strip():
            raise CaseFormatError(f"{where}, marker #{k}: 'name' must be a locus name, found {name!r}")
        mwhere = f"{where}, marker {name!r}"
        keys.check(m, MARKER_KEYS, where=mwhere, what="the marker")
        locus = normalise_locus(name)
        if locus in loci:
            first, first_name = loci[locus]
            raise CaseFormatError(
                f"{where}: markers #{first} {first_name!r} and #{k} {name!r} are the same locus "
                f"({locus}) once names are normalised; give each locus once (as one marker)")
        loci[locus] = (k, name)
        why = not_autosomal(locus)
        if why:
            raise CaseFormatError(f"{mwhere}: {why}; kinship LRs here use autosomal markers "
                                  "only, so remove it from the case")
        afreq = m.get("afreq")
        n_individuals = None
        source = "given in the case"
        if afreq is None:
            if "population" in m and m["population"] is None:
                raise CaseFormatError(f"{mwhere}: 'population' is null; name a frequency table")
            pop_name = _population(m["population"], where=mwhere) if "population" in m else population
            if not pop_name:
                raise CaseFormatError(f"{mwhere}: no 'afreq' and no 'population' to take it from")
            try:
                table = get_population(pop_name).locus(name)
            except ReuniteError as exc:
                raise CaseFormatError(f"{mwhere}: {exc}") from None
            afreq, n_individuals, source = dict(table.afreq), table.n_individuals, pop_name
        elif "population" in m:
            raise CaseFormatError(f"{mwhere}: give either 'afreq' or 'population', not both")
        if not isinstance(afreq, dict) or not afreq:
            raise CaseFormatError(f"{mwhere}: 'afreq' must be a non-empty object allele -> frequency")
        no_repeated_keys(afreq, where=mwhere, what="'afreq'")
        genotypes = m.get("genotypes", {})
        if not isinstance(genotypes, dict):
            raise CaseFormatError(f"{mwhere}: 'genotypes' must be an object person -> 'a/b'")
        no_repeated_keys(genotypes, where=mwhere, what="'genotypes'")
        mutation = default_mutation if m.get("mutation") is None else \
            parse_mutation(m["mutation"], where=mwhere, lenient=lenient, warnings=keys.warnings)
        markers.append(Marker(name, {str(a): f for a, f in afreq.items()},
                              {str(p): g for p, g in genotypes.items()},
                              mutation, n_individuals, source))
    return KinshipCase(case_id, h1, h2, theta, markers, keys.warnings)
