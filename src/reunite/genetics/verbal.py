"""Verbal equivalents of likelihood ratios, from documented published scales.

A scale is a list of steps, each a lower bound on the LR and the words for an LR at or above
it (up to the next step's bound).  An LR below 1 is worded as support for the other
hypothesis, from the same step as 1/LR (every scale here is symmetric, as the publications
say).  LR 0 is an exclusion of the favoured hypothesis, LR NaN is inconclusive (the data are
impossible under both hypotheses), LR Inf takes the top words with a note.  LRs beyond the
float range are worded from their log10, which stays exact.

Scales shipped (``reunite lr --verbal-scale NAME``; the setting ``REUNITE_VERBAL_SCALE``):

``enfsi2015`` (default)
    ENFSI Guideline for Evaluative Reporting in Forensic Science (European Network of
    Forensic Science Institutes, 2015), the table of verbal equivalents: LR 1 supports
    neither proposition; 2-10 weak; 10-100 moderate; 100-1,000 moderately strong;
    1,000-10,000 strong; 10,000-1,000,000 very strong; 1,000,000 and above extremely strong
    support.  Each bound belongs to the higher step (LR 10 is moderate support); an LR above
    1 and below 2 is worded as weak support.
``afsp2009``
    Association of Forensic Science Providers (2009), Standards for the formulation of
    evaluative forensic science expert opinion, Science & Justice 49:161-164: 1-10 weak or
    limited support; 10-100 moderate; 100-1,000 moderately strong; 1,000-10,000 strong;
    10,000-1,000,000 very strong; above 1,000,000 extremely strong (LR exactly 1: neither).
``nordgaard2012``
    Nordgaard, Ansell, Drotz and Jaeger (2012), Scale of conclusions for the value of
    evidence, Law, Probability and Risk 11:1-24, the scale of the Swedish National Forensic
    Centre (NFC): level 0 for 1/6 < LR < 6; +1 for 6 <= LR < 100 (support to some extent);
    +2 for 100 <= LR < 6,000 (support); +3 for 6,000 <= LR < 1,000,000 (strong support);
    +4 for LR >= 1,000,000 (extremely strong support); levels -1 to -4 symmetrically
    (e.g. -1 for 1/100 < LR <= 1/6).

A laboratory's own scale is a CSV or JSON file (:func:`read_scale`): lower bounds and words,
validated (the first bound 1, bounds increasing, no gaps), errors naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from reunite.errors import ReuniteError

#: the placeholders the words of a step may hold: the hypothesis the LR supports, the other
#: one, and the sign of the LR's side (``+`` for LR >= 1, ``-`` below; the NFC levels)
PLACEHOLDERS = ("{favoured}", "{other}", "{sign}")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


class VerbalScaleError(ReuniteError):
    """A verbal scale is unknown, or a scale file is malformed."""


@dataclass(frozen=True)
class Step:
    """One step of a scale: LR >= ``lower`` (LR > ``lower`` when ``exclusive``) -> ``words``.

    ``words`` may hold ``{favoured}`` (the hypothesis the LR supports) and ``{other}``.
    """

    lower: float
    words: str
    exclusive: bool = False

    def bound_text(self) -> str:
        return (">" if self.exclusive else "") + f"{self.lower:g}"


@dataclass(frozen=True)
class VerbalScale:
    """A verbal scale: its name, its source (a citation) and its steps, from LR 1 up."""

    name: str
    title: str
    source: str
    steps: tuple[Step, ...]

    def step_for(self, lr: float) -> Step:
        """The step of an LR >= 1 (finite)."""
        found = self.steps[0]
        for step in self.steps:
            if lr > step.lower or (lr == step.lower and not step.exclusive):
                found = step
            else:
                break
        return found

    def step_for_log10(self, log10_lr: float) -> Step:
        """The step of an LR >= 1 given as its log10 (for LRs beyond the float range)."""
        found = self.steps[0]
        for step in self.steps:
            bound = math.log10(step.lower)
            if log10_lr > bound or (log10_lr == bound and not step.exclusive):
                found = step
            else:
                break
        return found

    def describe(self) -> list[dict]:
        """The steps for JSON and provenance: ``[{"lower_bound": "1", "words": ...}, ...]``."""
        return [{"lower_bound": s.bound_text(), "words": s.words} for s in self.steps]


@dataclass(frozen=True)
class Verbal:
    """The verbal equivalent of one LR: the scale's name, the words, and a note (or None)."""

    scale: str
    words: str
    note: str | None = None
    source: str = ""

    def to_json(self) -> dict:
        out = {"scale": self.scale, "words": self.words, "source": self.source}
        if self.note:
            out["note"] = self.note
        return out


def _scale(name, title, source, steps) -> VerbalScale:
    return VerbalScale(name, title, source, tuple(Step(*s) for s in steps))


NEITHER = "no support for either proposition (LR = 1)"
#: an LR within this of 1 in log10 (3e-12 relative: float rounding, e.g. two pedigrees with
#: equal likelihoods computed along different routes) is worded as LR = 1
ONE_TOLERANCE = 1e-12

ENFSI_2015 = _scale(
    "enfsi2015", "ENFSI 2015",
    "ENFSI Guideline for Evaluative Reporting in Forensic Science (European Network of Forensic "
    "Science Institutes, 2015), verbal equivalents of the likelihood ratio",
    [(1.0, NEITHER),
     (1.0, "weak support for {favoured}", True),
     (10.0, "moderate support for {favoured}"),
     (100.0, "moderately strong support for {favoured}"),
     (1e3, "strong support for {favoured}"),
     (1e4, "very strong support for {favoured}"),
     (1e6, "extremely strong support for {favoured}")])

AFSP_2009 = _scale(
    "afsp2009", "AFSP 2009",
    "Association of Forensic Science Providers (2009), Standards for the formulation of evaluative "
    "forensic science expert opinion, Science & Justice 49:161-164",
    [(1.0, NEITHER),
     (1.0, "weak or limited support for {favoured}", True),
     (10.0, "moderate support for {favoured}"),
     (100.0, "moderately strong support for {favoured}"),
     (1e3, "strong support for {favoured}"),
     (1e4, "very strong support for {favoured}"),
     (1e6, "extremely strong support for {favoured}", True)])

NORDGAARD_2012 = _scale(
    "nordgaard2012", "Nordgaard et al. 2012 (Swedish NFC)",
    "Nordgaard A, Ansell R, Drotz W, Jaeger L (2012), Scale of conclusions for the value of evidence, "
    "Law, Probability and Risk 11:1-24 (the scale of the Swedish National Forensic Centre)",
    [(1.0, "level 0: the findings support neither {favoured} nor {other}"),
     (6.0, "level {sign}1: the findings support {favoured} to some extent"),
     (100.0, "level {sign}2: the findings support {favoured}"),
     (6e3, "level {sign}3: the findings strongly support {favoured}"),
     (1e6, "level {sign}4: the findings extremely strongly support {favoured}")])

#: the scales shipped, by name
SCALES = {s.name: s for s in (ENFSI_2015, AFSP_2009, NORDGAARD_2012)}
DEFAULT_SCALE = ENFSI_2015.name


def _fill(words: str, *, favoured: str, other: str, sign: str) -> str:
    return words.replace("{favoured}", favoured).replace("{other}", other).replace("{sign}", sign)


def verbal_equivalent(lr: float, *, log10_lr: float | None = None, scale: VerbalScale = ENFSI_2015,
                      h1: str = "H1", h2: str = "H2", one_tolerance: float = ONE_TOLERANCE) -> Verbal:
    """The words of ``scale`` for an LR of H1 against H2.

    LR >= 1: the step of LR, favouring ``h1``; LR < 1: the step of 1/LR, favouring ``h2``
    (symmetry).  LR 0: an exclusion of ``h1``; NaN: inconclusive; Inf: the top step with a
    note.  ``log10_lr`` (when given) words an LR whose float overflowed to Inf or underflowed
    to 0 from its exact log10.  An LR within ``one_tolerance`` of 1 in log10 counts as 1.
    """
    def words(step: Step, favoured: str, other: str, sign: str) -> str:
        return _fill(step.words, favoured=favoured, other=other, sign=sign)

    src = scale.source
    if log10_lr is not None and math.isnan(log10_lr):
        lr = math.nan
    if math.isnan(lr):
        both = f"both {h1} and {h2}" if h1 != h2 else h1
        return Verbal(scale.name, f"inconclusive: the genotypes are impossible under {both} "
                      "(LR undefined, 0/0)", "no verbal equivalent: check the pedigrees, the typing, "
                      "or add a mutation model", src)
    if 0.0 < lr < math.inf and abs(math.log10(lr)) <= one_tolerance:
        lr = 1.0  # equal likelihoods computed along two routes differ in the last bits
        log10_lr = 0.0
    finite_log = log10_lr is not None and math.isfinite(log10_lr)
    if lr == 0.0 and not finite_log:
        return Verbal(scale.name, f"exclusion: the genotypes are impossible under {h1} (LR 0)",
                      f"{h1} is excluded unless a mutation or a typing error explains the data", src)
    if math.isinf(lr) and not finite_log:
        top = scale.steps[-1]
        return Verbal(scale.name, words(top, h1, h2, "+"),
                      f"LR Inf: the genotypes are impossible under {h2}; the top of the scale is shown", src)
    if 0.0 < lr < math.inf:
        if lr >= 1.0:
            return Verbal(scale.name, words(scale.step_for(lr), h1, h2, "+"), None, src)
        inverse = 1.0 / lr
        if math.isinf(inverse):  # a subnormal LR: its reciprocal overflows
            return Verbal(scale.name, words(scale.step_for_log10(-math.log10(lr)), h2, h1, "-"), None, src)
        return Verbal(scale.name, words(scale.step_for(inverse), h2, h1, "-"), None, src)
    # the float LR left the range; the log10 is exact
    if log10_lr >= 0.0:
        return Verbal(scale.name, words(scale.step_for_log10(log10_lr), h1, h2, "+"), None, src)
    return Verbal(scale.name, words(scale.step_for_log10(-log10_lr), h2, h1, "-"), None, src)


def upper_bound_table(scale: VerbalScale, *, favoured: str, other: str = "H2") -> tuple:
    """The steps of ``scale`` from LR 1 up as ``((upper bound, words), ...)``: an LR >= 1 below
    the bound takes the words (the last bound is Inf).  The form of the candidates' table."""
    out = []
    for k, step in enumerate(scale.steps):
        if k + 1 < len(scale.steps):
            following = scale.steps[k + 1]
            upper = math.nextafter(following.lower, math.inf) if following.exclusive else following.lower
        else:
            upper = math.inf
        out.append((upper, _fill(step.words, favoured=favoured, other=other, sign="+")))
    return tuple(out)


# --- scales from files -----------------------------------------------------------------------

def get_scale(name_or_path: str | Path | None) -> VerbalScale:
    """A shipped scale by name (:data:`SCALES`), or a scale file (CSV or JSON) by path;
    None gives the default (:data:`DEFAULT_SCALE`).

    Raises
    ------
    VerbalScaleError
        an unknown name that is not a file, or a malformed file (:func:`read_scale`).
    """
    if name_or_path is None or str(name_or_path).strip() == "":
        return SCALES[DEFAULT_SCALE]
    text = str(name_or_path).strip()
    if text.lower() in SCALES:
        return SCALES[text.lower()]
    path = Path(text)
    if path.is_file():
        return read_scale(path)
    raise VerbalScaleError(f"verbal scale {text!r}: not a scale shipped with reunite "
                           f"({', '.join(SCALES)}) and not a file; give one of those names or the "
                           "path of a CSV or JSON scale file (columns lower_bound, words)")


def read_scale(path: str | Path) -> VerbalScale:
    """Read a scale file.

    CSV: a header ``lower_bound,words`` (optionally ``upper_bound``), one step a line, from
    LR 1 up; lines ``# name: ...`` and ``# source: ...`` name the scale and its source.  JSON:
    ``{"name": ..., "source": ..., "steps": [{"lower_bound": 1, "words": ...}, ...]}`` (or
    ``[[1, "words"], ...]`` as ``steps``).  A lower bound written ``>1`` excludes the bound
    itself (so ``1`` then ``>1`` keeps LR = 1 on a step of its own).  Words may hold
    ``{favoured}`` (the hypothesis the LR supports) and ``{other}``; every step above the first
    must name ``{favoured}``, as an LR below 1 is worded from the same step in favour of H2.

    Raises
    ------
    VerbalScaleError
        the file cannot be read, or (naming the line) an unknown column or key, a bound that
        is not a number, bounds that do not start at 1 or do not increase, a gap or overlap
        between a step's upper bound and the next lower bound, empty words, an unknown
        placeholder.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerbalScaleError(f"verbal scale file {path}: cannot read it ({exc})") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        name, source, rows = _json_rows(path, text)
    else:
        name, source, rows = _csv_rows(path, text)
    return _validate(path, name or path.stem, source or f"scale file {path.name}", rows)


def _csv_rows(path: Path, text: str):
    name = source = None
    rows: list[tuple[int, object, object, str]] = []  # (line, lower, upper, words)
    header: list[str] | None = None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, _, value = stripped[1:].partition(":")
            key = key.strip().lower()
            if key in ("name", "source") and value.strip():
                if key == "name":
                    name = value.strip()
                else:
                    source = value.strip()
            continue
        cells = next(csv.reader(io.StringIO(line)))
        cells = [c.strip() for c in cells]
        if header is None:
            header = [c.lower() for c in cells]
            unknown = [c for c in header if c not in ("lower_bound", "upper_bound", "words")]
            if unknown:
                raise VerbalScaleError(f"{path}, line {number}: unknown column {unknown[0]!r}; expected "
                                       "the columns lower_bound, words (and optionally upper_bound)")
            for needed in ("lower_bound", "words"):
                if needed not in header:
                    raise VerbalScaleError(f"{path}, line {number}: no column {needed!r}; the header must "
                                           "be lower_bound,words (optionally upper_bound)")
            if len(set(header)) != len(header):
                raise VerbalScaleError(f"{path}, line {number}: a column is named twice in {cells}")
            continue
        if len(cells) != len(header):
            raise VerbalScaleError(f"{path}, line {number}: expected {len(header)} cells "
                                   f"({', '.join(header)}), found {len(cells)}; quote words that hold a comma")
        row = dict(zip(header, cells))
        rows.append((number, row["lower_bound"], row.get("upper_bound"), row["words"]))
    if header is None:
        raise VerbalScaleError(f"{path}: no header line; expected lower_bound,words and one step a line")
    return name, source, rows


def _json_rows(path: Path, text: str):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerbalScaleError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(doc, list):
        doc = {"steps": doc}
    if not isinstance(doc, dict):
        raise VerbalScaleError(f"{path}: expected an object with 'steps', found {type(doc).__name__}")
    unknown = sorted(set(doc) - {"name", "source", "steps"})
    if unknown:
        raise VerbalScaleError(f"{path}, line {_line_of(text, unknown[0])}: unknown key {unknown[0]!r}; "
                               "expected name, source, steps")
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        raise VerbalScaleError(f"{path}: 'steps' must be a non-empty list of "
                               "{\"lower_bound\": ..., \"words\": ...}")
    lines = _step_lines(text, len(steps))
    rows = []
    for k, step in enumerate(steps):
        line = lines[k]
        if isinstance(step, list) and len(step) in (2, 3):
            lower, words = step[0], step[-1]
            upper = step[1] if len(step) == 3 else None
        elif isinstance(step, dict):
            extra = sorted(set(step) - {"lower_bound", "upper_bound", "words"})
            if extra:
                raise VerbalScaleError(f"{path}, line {line}: step {k + 1} has the unknown key {extra[0]!r}; "
                                       "expected lower_bound, words (optionally upper_bound)")
            if "lower_bound" not in step or "words" not in step:
                raise VerbalScaleError(f"{path}, line {line}: step {k + 1} needs lower_bound and words")
            lower, upper, words = step["lower_bound"], step.get("upper_bound"), step["words"]
        else:
            raise VerbalScaleError(f"{path}, line {line}: step {k + 1} must be an object "
                                   f"{{\"lower_bound\": ..., \"words\": ...}}, found {step!r}")
        if not isinstance(words, str):
            raise VerbalScaleError(f"{path}, line {line}: step {k + 1}: words must be text, found {words!r}")
        rows.append((line, lower, upper, words))
    for key in ("name", "source"):
        if key in doc and not isinstance(doc[key], str):
            raise VerbalScaleError(f"{path}: {key!r} must be text, found {doc[key]!r}")
    return doc.get("name"), doc.get("source"), rows


def _line_of(text: str, key: str) -> int:
    at = text.find(f'"{key}"')
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def _step_lines(text: str, count: int) -> list[int]:
    """The line of each step of a JSON scale: where its k-th lower bound (or list) starts."""
    at = text.find('"steps"')
    found = [text.count("\n", 0, m.start()) + 1
             for m in re.finditer(r'"lower_bound"', text[at:] if at >= 0 else text)]
    base = text.count("\n", 0, at) if at >= 0 else 0
    found = [base + n for n in found] if at >= 0 else found
    if len(found) != count:  # steps given as lists: one per line, or all on one line
        found = [base + 1 + k for k in range(count)]
    return found


def _bound(path: Path, line: int, value, *, what: str) -> tuple[float, bool]:
    exclusive = False
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        if text.startswith(">"):
            exclusive, text = True, text[1:].strip()
        if text.lower() in ("inf", "infinity", "+inf"):
            number = math.inf
        else:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        number = math.nan
    if math.isnan(number) or number <= 0:
        raise VerbalScaleError(f"{path}, line {line}: {what} must be a positive number such as 100 or 1e6 "
                               f"(or '>1' to exclude the bound), found {value!r}")
    return number, exclusive


def _validate(path: Path, name: str, source: str, rows) -> VerbalScale:
    if not rows:
        raise VerbalScaleError(f"{path}: the scale has no steps; give one line per step, from LR 1 up")
    steps: list[Step] = []
    uppers: list[tuple[int, float, bool] | None] = []
    for line, lower_value, upper_value, words in rows:
        lower, exclusive = _bound(path, line, lower_value, what="lower_bound")
        if math.isinf(lower):
            raise VerbalScaleError(f"{path}, line {line}: lower_bound must be finite, found {lower_value!r}")
        words = words.strip()
        if not words:
            raise VerbalScaleError(f"{path}, line {line}: the words are empty")
        for placeholder in _PLACEHOLDER.findall(words):
            if placeholder not in PLACEHOLDERS:
                raise VerbalScaleError(f"{path}, line {line}: unknown placeholder {placeholder} in the words; "
                                       f"use {' or '.join(PLACEHOLDERS)}")
        if "{" in _PLACEHOLDER.sub("", words) or "}" in _PLACEHOLDER.sub("", words):
            raise VerbalScaleError(f"{path}, line {line}: an unmatched brace in the words {words!r}")
        if steps:
            previous = steps[-1]
            if lower < previous.lower or (lower == previous.lower and (previous.exclusive or not exclusive)):
                raise VerbalScaleError(
                    f"{path}, line {line}: the lower bounds must increase, but {Step(lower, words, exclusive).bound_text()} "
                    f"follows {previous.bound_text()}; list the steps from LR 1 up")
            if "{favoured}" not in words:
                raise VerbalScaleError(
                    f"{path}, line {line}: the words must name {{favoured}} (the hypothesis the LR supports), "
                    "since LRs below 1 take the same step in favour of the other hypothesis")
        elif lower != 1.0 or exclusive:
            raise VerbalScaleError(
                f"{path}, line {line}: the first step must start at LR 1 (found {lower_value!r}), or LRs "
                "between 1 and it would have no words (a gap); LRs below 1 are worded from 1/LR")
        steps.append(Step(lower, words, exclusive))
        if upper_value in (None, ""):
            uppers.append(None)
        else:
            upper, upper_exclusive = _bound(path, line, upper_value, what="upper_bound")
            uppers.append((line, upper, upper_exclusive))
    for k, upper in enumerate(uppers):
        if upper is None:
            continue
        line, value, _ = upper
        if k + 1 < len(steps):
            following = steps[k + 1]
            if value != following.lower:
                what = "a gap" if value < following.lower else "an overlap"
                raise VerbalScaleError(
                    f"{path}, line {line}: upper_bound {value:g} leaves {what} before the next step's "
                    f"lower_bound {following.bound_text()} (line {rows[k + 1][0]}); a step ends where the next begins")
        elif not math.isinf(value):
            raise VerbalScaleError(
                f"{path}, line {line}: the last step's upper_bound must be empty or inf, found {value:g}: "
                f"LRs above it would have no words (a gap)")
    return VerbalScale(name, name, source, tuple(steps))
