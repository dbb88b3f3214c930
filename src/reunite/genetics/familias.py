"""Familias ``.fam`` files: the frequency database, mutation models, persons, hypotheses, and
DVI sections, read with the conventions of pedFamilias ``readFam`` and dvir ``familias2dvir``
(see tests/data/familias/REFERENCE.md).

A ``.fam`` file is line based: a header (version on line 3), the persons with their genotypes
(allele and marker indexes, 0-based), the known relations shared by every pedigree, the
pedigrees (hypotheses) each with its own relations, one frequency database (loci, mutation
parameters, alleles and frequencies), then bracketed sections: ``[DVI]`` (unidentified persons
and reference families), ``[Prior]`` and ``[Advanced]`` (program settings).

What is read, and how (pedFamilias 0.2.5):

* A person is male when the line 4 below the name is ``#TRUE#``, female otherwise.
* A parent's role (father or mother) follows from the parent's sex.  A child with one parent
  gets the other as an added untyped founder, ``added_1``, ``added_2``, ... within each
  hypothesis: the added fathers first, then the added mothers.
* Mutation model codes 0 equal, 1 proportional, 2 and 4 stepwise (range, rate2), 3 stepwise
  made stationary (pedmut "PM"); female and male models apart; a model whose matrix is the
  identity is no model.  A stepwise model on a marker with a non-numeric allele (``Rest
  allele``), an allele below 1 or a microvariant with two decimals falls back to ``equal``
  with the same rates (a warning says so), as pedFamilias does.
* Alleles keep their labels (``Rest allele``, ``9.3``; ``0`` becomes ``z``) and the database's
  order (pedtools sorts them; the likelihoods do not depend on the order).
* Theta, database sizes, dropout and minor allele frequency are recorded, not used.
* Refused (ReuniteError naming file and line): twins, precomputed probabilities, silent
  alleles, several databases, unknown sections, malformed numbers, truncated files and
  indexes out of range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reunite.errors import MutationModelError, PedigreeError, ReuniteError
from reunite.genetics.dvi import DviProblem
from reunite.genetics.kinship import Marker, Mutation
from reunite.genetics.mutation import MutationModel
from reunite.genetics.pedigree import Individual, Pedigree, make_pedigree


class FamFormatError(ReuniteError):
    """A Familias file does not follow the ``.fam`` format (file and line named)."""


@dataclass
class FamDatabase:
    """The file's frequency database: markers with alleles, frequencies and mutation models
    (``Marker.genotypes`` empty), plus what is only recorded (theta, sizes, dropout, MAF)."""

    name: str | None
    markers: list[Marker]
    theta: float = 0.0
    db_size: dict[str, int] = field(default_factory=dict)
    dropout_value: dict[str, float] = field(default_factory=dict)
    maf: dict[str, float] = field(default_factory=dict)
    #: mutation parameters as written, per marker: {"female"|"male": {code, model, rate,
    #: rate2, range}}; ``code`` is Familias's 0-4.
    mutation_parameters: dict[str, dict] = field(default_factory=dict)


@dataclass
class FamHypothesis:
    name: str
    pedigree: Pedigree  # every person of the hypothesis (components joined)
    #: connected components (ids in the file's order, added parents last), as pedtools splits
    components: list[list[str]] = field(default_factory=list)
    #: the persons in pedtools's order: the components one after the other
    order: list[str] = field(default_factory=list)


@dataclass
class FamFile:
    """A read ``.fam`` file.  ``hypotheses`` and ``markers`` (with genotypes) for a kinship
    file; ``dvi`` for a DVI file; only ``database`` for a database-only file."""

    path: str
    version: str
    database: FamDatabase
    is_dvi: bool = False
    database_only: bool = False
    hypotheses: list[FamHypothesis] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)  # with the persons' genotypes
    dvi: DviProblem | None = None
    label_map: list[tuple[str, str, str]] = field(default_factory=list)  # DVI: (family, name, label)
    warnings: list[str] = field(default_factory=list)
    typed: list[str] = field(default_factory=list)  # kinship: typed persons, in file order
    markers_pm: list[str] = field(default_factory=list)  # DVI: marker order of the victims
    encoding: str = "utf-8"


# ----------------------------------------------------------------------------------------
# Lines and numbers

_INT = re.compile(r"[ \t]*[+-]?[0-9]+[ \t]*")
_NUM = re.compile(r"[ \t]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t]*")
_REFORMAT = "re-export the file from Familias, or correct that line"


class _Lines:
    """The file's lines (quotes removed, as pedFamilias does) with checked accessors;
    indexes are 0-based, messages give 1-based line numbers."""

    def __init__(self, raw: list[str], path: str):
        self.raw = raw
        self.x = [line.replace('"', "") for line in raw]
        self.path = path

    def __len__(self) -> int:
        return len(self.x)

    def error(self, i: int, message: str, fix: str = _REFORMAT) -> FamFormatError:
        return FamFormatError(f"{self.path}, line {i + 1}: {message}; {fix}")

    def get(self, i: int, what: str) -> str:
        if i >= len(self.x):
            raise FamFormatError(
                f"{self.path}, line {i + 1}: expected {what}, found the end of the file (the file "
                f"has {len(self.x)} lines); the file is truncated: save it again from Familias")
        return self.x[i]

    def int(self, i: int, what: str, *, lo: int | None = None, hi: int | None = None) -> int:
        text = self.get(i, what)
        if not _INT.fullmatch(text):
            raise self.error(i, f"expected {what} (a whole number), found {text!r}")
        value = int(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
            raise self.error(i, f"expected {what} in {span}, found {value}")
        return value

    def num(self, i: int, what: str, *, lo: float | None = None, hi: float | None = None) -> float:
        text = self.get(i, what)
        if not _NUM.fullmatch(text):
            hint = " (a decimal comma? Familias writes a point)" if "," in text else ""
            raise self.error(i, f"expected {what} (a number){hint}, found {text!r}")
        value = float(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(i, f"expected {what} in [{lo}, {hi}], found {value:g}")
        return value

    def flag(self, i: int, what: str) -> bool:
        text = self.get(i, what)
        if text not in ("#TRUE#", "#FALSE#"):
            raise self.error(i, f"expected {what} (#TRUE# or #FALSE#), found {text!r}")
        return text == "#TRUE#"


def decode_fam(data: bytes) -> tuple[str, str]:
    """Decode a ``.fam`` file's bytes: UTF-8 (a BOM dropped), else Windows Chinese (GB18030,
    when every run of non-ASCII bytes is a run of whole characters), else Windows-1252.

    Returns ``(text, encoding)``.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    runs = re.findall(rb"[\x80-\xff]+", data)
    if all(len(r) % 2 == 0 for r in runs):
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _split_lines(text: str) -> list[str]:
    """Lines as R's readLines gives them: LF or CRLF endings (CR alone, old Macintosh, too),
    no final empty line."""
    if "\n" not in text and "\r" in text:
        text = text.replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# ----------------------------------------------------------------------------------------
# Reading


def read_fam(path: str | Path) -> FamFile:
    """Read a Familias file; errors (ReuniteError) name the file and line.

    Raises
    ------
    ReuniteError
        the file cannot be read, does not follow the format (line named), or holds what
        pedFamilias refuses: twins, precomputed probabilities, silent alleles.
    """
    path = Path(path)
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReuniteError(f"{name}: cannot read the Familias file ({exc.strerror or exc})") from None
    return read_fam_bytes(data, name=name)


def fam_database(path: str | Path) -> FamDatabase:
    """The frequency database (and mutation models) of a Familias file; works for
    database-only files as for case files."""
    return read_fam(path).database


def read_fam_bytes(data: bytes, *, name: str = "<fam>") -> FamFile:
    """Read a Familias file's content (see :func:`read_fam`); ``name`` names it in messages."""
    text, encoding = decode_fam(data)
    warnings: list[str] = []
    if encoding != "utf-8":
        warnings.append(f"{name}: not UTF-8; read as {encoding}")
    if "\x00" in text:
        raise FamFormatError(f"{name}: holds NUL bytes, so it is not a Familias .fam file (a "
                             "binary or UTF-16 file?); save it again from Familias")
    lines = _Lines(_split_lines(text), name)
    if len(lines) < 5:
        raise FamFormatError(f"{name}: has {len(lines)} lines, too few for a Familias file; "
                             "is it a .fam file written by Familias?")
    version = lines.x[2]
    is_dvi = "[DVI]" in lines.x
    persons, pedigrees, db_line = _read_persons_and_pedigrees(lines)
    database, alleles, end = _read_database(lines, db_line, warnings)
    _check_sections(lines, end)
    fam = FamFile(path=name, version=version, database=database, is_dvi=is_dvi,
                  warnings=warnings, encoding=encoding)
    if is_dvi:
        from reunite.genetics.familias_dvi import read_dvi_section

        start = lines.x.index("[DVI]")
        problem, label_map, markers_pm = read_dvi_section(lines, start, database, alleles,
                                                          warnings=warnings)
        fam.dvi, fam.label_map, fam.markers_pm = problem, label_map, markers_pm
        return fam
    if not persons:
        fam.database_only = True
        if pedigrees:
            warnings.append(f"{name}: the file names {len(pedigrees)} pedigrees but no persons; "
                            "read as a frequency database only")
        return fam
    _build_kinship(fam, lines, persons, pedigrees, alleles)
    return fam


@dataclass
class _Person:
    id: str
    sex: str  # "M" or "F"
    line: int
    genotypes: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # marker -> (a1, a2, line)


@dataclass
class _Pedigree:
    name: str
    index: int
    line: int
    ids: list[str]
    sexes: list[str]
    father: list[int]  # index into ids, -1 = none
    mother: list[int]


def _read_relations(lines: _Lines, at: int, count: int, ids: list[str], sexes: list[str],
                    father: list[int], mother: list[int]) -> int:
    n = len(ids)
    for _ in range(count):
        text = lines.get(at, "the parent of a relation (a person index)")
        if "Direct" in text:
            raise lines.error(at, "the file holds twins (a 'Direct' relation), which pedFamilias "
                              "does not read", "remove the twin relation in Familias and "
                              "save the file again")
        parent = lines.int(at, "the parent of a relation (a person index)", lo=0, hi=n - 1)
        child = lines.int(at + 1, "the child of a relation (a person index)", lo=0, hi=n - 1)
        if parent == child:
            raise lines.error(at, f"person {ids[parent]!r} is given as their own parent")
        if sexes[parent] == "M":
            father[child] = parent
        else:
            mother[child] = parent
        at += 2
    return at


def _read_persons_and_pedigrees(lines: _Lines):
    nid_line = 3 if lines.x[3] != "" else 4
    nid = lines.int(nid_line, "the number of persons", lo=0)
    persons: list[_Person] = []
    at = nid_line + 1
    for _ in range(nid):
        pid = lines.get(at, "a person's name")
        if pid == "":
            raise lines.error(at, "a person without a name")
        sex_text = lines.get(at + 4, f"the sex of {pid!r} (#TRUE# for male)")
        person = _Person(pid, "M" if sex_text == "#TRUE#" else "F", at)
        ng = lines.int(at + 5, f"the number of genotypes of {pid!r}", lo=0)
        g = at + 6
        for _ in range(ng):
            a1 = lines.int(g, f"an allele index of {pid!r}", lo=0)
            a2 = lines.int(g + 1, f"an allele index of {pid!r}", lo=0)
            m = lines.int(g + 2, f"a marker index of {pid!r}", lo=0)
            if m in person.genotypes:
                raise lines.error(g + 2, f"person {pid!r} has two genotypes for marker index {m}")
            person.genotypes[m] = (a1, a2, g)
            g += 3
        persons.append(person)
        at = g
    if lines.get(at, '"Known relations"') != "Known relations":
        raise lines.error(at, f'expected "Known relations" after the {nid} persons, found '
                          f"{lines.x[at]!r}")
    ids = [p.id for p in persons]
    seen: set[str] = set()
    for p in persons:
        if p.id in seen:
            raise lines.error(p.line, f"two persons are named {p.id!r}; names must be unique")
        seen.add(p.id)
    n_fem = lines.int(at + 1, "the number of extra females", lo=0)
    n_mal = lines.int(at + 2, "the number of extra males", lo=0)
    ids = ids + [f"extra_{k + 1}" for k in range(n_fem + n_mal)]
    sexes = [p.sex for p in persons] + ["F"] * n_fem + ["M"] * n_mal
    father = [-1] * len(ids)
    mother = [-1] * len(ids)
    n_rel = lines.int(at + 3, "the number of known relations", lo=0)
    at = _read_relations(lines, at + 4, n_rel, ids, sexes, father, mother)
    n_ped = lines.int(at, "the number of pedigrees", lo=0)
    at += 1
    pedigrees: list[_Pedigree] = []
    used: set[int] = set()
    for _ in range(n_ped):
        start = at
        index = lines.int(at, "the pedigree's number", lo=0, hi=n_ped - 1)
        if index in used:
            raise lines.error(at, f"pedigree number {index} is given twice")
        used.add(index)
        pname = lines.get(at + 1, "the pedigree's name")
        nf = lines.int(at + 2, f"the number of extra females of pedigree {pname!r}", lo=0)
        nm = lines.int(at + 3, f"the number of extra males of pedigree {pname!r}", lo=0)
        pids = ids + [f"extra_ped{index + 1}_{k + 1}" for k in range(nf + nm)]
        psex = sexes + ["F"] * nf + ["M"] * nm
        pf = father + [-1] * (nf + nm)
        pm = mother + [-1] * (nf + nm)
        nr = lines.int(at + 4, f"the number of relations of pedigree {pname!r}", lo=0)
        at = _read_relations(lines, at + 5, nr, pids, psex, pf, pm)
        pedigrees.append(_Pedigree(pname, index, start, pids, psex, pf, pm))
    pedigrees.sort(key=lambda p: p.index)
    if not pedigrees and ids:
        pedigrees.append(_Pedigree("H1", 0, at, ids, sexes, father, mother))
    if lines.get(at, "the database line (#FALSE# (#Databases: 1 ...)").startswith("#TRUE#"):
        raise lines.error(at, "the file stores precomputed probabilities, which pedFamilias does "
                          "not read", "save the case in Familias without computed results")
    return persons, pedigrees, at


# ----------------------------------------------------------------------------------------
# The database

_MODEL_NAMES = {0: "equal", 1: "proportional", 2: "stepwise", 3: "stepwise", 4: "stepwise"}
_FLOAT = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
_THETA = re.compile(r"Theta/Kinship/Fst: " + _FLOAT)
_NDB = re.compile(r"#Databases: ([0-9]+)")
_DBSIZE = re.compile(r"DatabaseSize = ([0-9]+)")
_DROPOUT = re.compile(r"Dropout probability = " + _FLOAT)
_MAF = re.compile(r"Minor allele frequency = " + _FLOAT)


def _number(pattern: re.Pattern, text: str) -> float | None:
    m = pattern.search(text)
    if not m:
        return None
    try:
        return float(m.group(1))
    except ValueError:
        return None


def _stepwise_problem(alleles: list[str]) -> str | None:
    """Why pedFamilias would not use a stepwise model on these alleles, or None."""
    for a in alleles:
        try:
            v = float(a)
        except ValueError:
            return f"non-numeric allele {a!r}"
        if not np.isfinite(v):
            return f"non-numeric allele {a!r}"
        if v < 1:
            return f"allele {a!r} below 1"
        if round(v, 1) != v:
            return f"microvariant {a!r}"
    return None


def _model(code: int, rate: float, rate2: float, rng: float) -> MutationModel:
    kind = _MODEL_NAMES[code]
    if kind == "stepwise":
        return MutationModel("stepwise", rate=rate, rate2=rate2, range=rng,
                             transform="PM" if code == 3 else None)
    return MutationModel(kind, rate=rate)


def _identity(m: np.ndarray) -> bool:
    return bool(np.all(np.diag(m) == 1.0))


def _marker_mutation(lines: _Lines, loc_line: int, locus: str, alleles: list[str],
                     afreq: np.ndarray, params: dict, warnings: list[str]) -> Mutation | None:
    """The reunite mutation models of one locus (None: no mutation for either sex)."""
    models: dict[str, MutationModel | None] = {}
    for sex in ("female", "male"):
        p = params[sex]
        code = p["code"]
        try:
            model = _model(code, p["rate"], p["rate2"], p["range"])
            with np.errstate(all="ignore"):
                matrix = model.transition_matrix(alleles, afreq)
        except MutationModelError as exc:
            if code == 3 and "PM" in str(exc):
                model = MutationModel("equal", rate=p["rate"])
                warnings.append(f"{lines.path}, locus {locus!r}: the {sex} stationary stepwise "
                                f"model cannot be made stationary ({exc}); the equal model with "
                                f"rate {p['rate']:g} is used instead, as pedFamilias does")
                matrix = model.transition_matrix(alleles, afreq)
            else:
                matrix = _custom_fallback(lines, loc_line, locus, sex, code, p, alleles, afreq, exc)
                model = MutationModel("custom", matrix=matrix)
                warnings.append(f"{lines.path}, locus {locus!r}: the {sex} "
                                f"{_MODEL_NAMES[code]} model is outside reunite's parameter "
                                f"ranges ({exc}); its matrix is used as a custom model")
        if not (np.all(np.isfinite(matrix)) and np.all(matrix >= 0)
                and np.allclose(matrix.sum(axis=1), 1.0, atol=1e-9)):
            raise lines.error(loc_line, f"locus {locus!r}: the {sex} mutation parameters give no "
                              "valid transition matrix (probabilities not in [0, 1] or rows not "
                              "summing to 1)", "correct the mutation parameters in Familias")
        models[sex] = None if _identity(matrix) else model
    if models["female"] is None and models["male"] is None:
        return None
    none = MutationModel("equal", rate=0.0)
    return Mutation(female=models["female"] or none, male=models["male"] or none)


def _custom_fallback(lines, loc_line, locus, sex, code, p, alleles, afreq, exc) -> np.ndarray:
    """The matrix of a stepwise model whose range reunite's MutationModel refuses (range 0
    or at least 1 in the file), computed from the file's parameters as pedmut does."""
    if _MODEL_NAMES[code] != "stepwise" or not (p["range"] > 0):
        raise lines.error(loc_line, f"locus {locus!r}: the {sex} mutation model cannot be "
                          f"used ({exc})", "correct the mutation parameters in Familias")
    x = np.array([float(a) for a in alleles])
    with np.errstate(all="ignore"):
        return _stepwise_custom(lines, loc_line, locus, sex, code, p, x, afreq)


def _stepwise_custom(lines, loc_line, locus, sex, code, p, x, afreq) -> np.ndarray:
    group = np.round(10.0 * (x - np.floor(x)))
    n = len(x)
    m = np.zeros((n, n))
    for i in range(n):
        same = (group == group[i]) & (np.arange(n) != i)
        other = group != group[i]
        diag = 1.0
        if same.any():
            w = p["range"] ** np.abs(x[i] - x[same])
            m[i, same] = p["rate"] * w / w.sum()
            diag -= p["rate"]
        if other.any():
            m[i, other] = p["rate2"] / other.sum()
            diag -= p["rate2"]
        m[i, i] = diag
    if np.any(m < 0):
        raise lines.error(loc_line, f"locus {locus!r}: the {sex} mutation rates give negative "
                          "probabilities", "lower the mutation rates in Familias")
    if code == 3:
        from reunite.genetics.mutation import stationary_pm

        m = stationary_pm(m, afreq)
    return m


def _read_database(lines: _Lines, at: int, warnings: list[str]):
    header = lines.x[at]
    theta = _number(_THETA, header)
    n_db = _number(_NDB, header)
    if n_db is not None and n_db > 1:
        raise lines.error(at, f"the file holds {int(n_db)} frequency databases; pedFamilias and "
                          "reunite read one", "keep one database in Familias and save again")
    db = at + 1
    n_loc = lines.int(db, "the number of loci", lo=0)
    has_info = lines.flag(db + 1, "whether the database has a name")
    db_name = lines.get(db + 2, "the database name") if has_info else None
    loc = db + 2 + int(has_info)
    # Familias writes "unknown" (or "Untitled database") for a database never named: an LR's
    # provenance then names the file
    named = db_name and db_name.strip().lower() not in ("unknown", "untitled database")
    source = db_name if named else Path(lines.path).name
    database = FamDatabase(name=db_name, markers=[], theta=theta or 0.0)
    if theta:
        warnings.append(f"{lines.path}, line {at + 1}: theta (Fst) {theta:g} is recorded with the "
                        "database but not applied by the reader (pedFamilias neither); give it to "
                        "the computation explicitly if wanted")
    alleles_of: dict[str, list[str]] = {}
    for _ in range(n_loc):
        locus = lines.get(loc, "a locus name")
        if locus == "":
            raise lines.error(loc, "a locus without a name")
        if locus in alleles_of:
            raise lines.error(loc, f"locus {locus!r} is listed twice in the database")
        params = {"female": {}, "male": {}}
        params["female"]["rate"] = lines.num(loc + 1, f"the female mutation rate of {locus}", lo=0, hi=1)
        params["male"]["rate"] = lines.num(loc + 2, f"the male mutation rate of {locus}", lo=0, hi=1)
        params["female"]["code"] = lines.int(loc + 3, f"the female mutation model code (0-4) of {locus}",
                                             lo=0, hi=4)
        params["male"]["code"] = lines.int(loc + 4, f"the male mutation model code (0-4) of {locus}",
                                           lo=0, hi=4)
        lines.int(loc + 5, f"the number of alleles of {locus} (with the silent allele)", lo=0)
        params["female"]["range"] = lines.num(loc + 6, f"the female mutation range of {locus}", lo=0)
        params["male"]["range"] = lines.num(loc + 7, f"the male mutation range of {locus}", lo=0)
        params["female"]["rate2"] = lines.num(loc + 8, f"the female rate2 of {locus}", lo=0, hi=1)
        params["male"]["rate2"] = lines.num(loc + 9, f"the male rate2 of {locus}", lo=0, hi=1)
        if lines.flag(loc + 10, f"whether {locus} has a silent allele"):
            raise lines.error(loc + 10, f"locus {locus!r} has a silent allele frequency, which "
                              "pedFamilias does not read", "remove the silent allele in Familias")
        lines.num(loc + 11, f"the silent allele frequency of {locus}", lo=0, hi=1)
        info_line = loc + 12
        info = lines.get(info_line, f"the number of alleles of {locus}").split("\t")
        if not _INT.fullmatch(info[0]):
            raise lines.error(info_line, f"expected the number of alleles of {locus} (a whole "
                              f"number), found {info[0]!r}")
        n_all = int(info[0])
        if n_all < 1:
            raise lines.error(info_line, f"locus {locus!r} has {n_all} alleles")
        rest = info[1] if len(info) > 1 else ""
        for key, pattern, cast in (("db_size", _DBSIZE, int), ("dropout_value", _DROPOUT, float),
                                   ("maf", _MAF, float)):
            value = _number(pattern, rest)
            if value is not None:
                getattr(database, key)[locus] = cast(value)
        alleles: list[str] = []
        freqs: list[float] = []
        a = loc + 13
        for _ in range(n_all):
            label = lines.get(a, f"an allele of {locus}")
            if label == "":
                raise lines.error(a, f"an empty allele label at locus {locus!r}")
            freqs.append(lines.num(a + 1, f"the frequency of allele {label!r} of {locus}", lo=0, hi=1))
            alleles.append(label)
            a += 2
        if "0" in alleles:
            warnings.append(f"{lines.path}, locus {locus!r}: allele '0' renamed 'z' (as pedFamilias)")
            alleles = ["z" if x == "0" else x for x in alleles]
        if len(set(alleles)) != len(alleles):
            dup = next(x for x in alleles if alleles.count(x) > 1)
            raise lines.error(loc + 13, f"locus {locus!r} lists allele {dup!r} twice")
        total = sum(freqs)
        if abs(total - 1.0) > 0.001:  # pedtools's check
            raise lines.error(loc + 13, f"the frequencies of locus {locus!r} sum to {total:.6g}, "
                              "expected 1", "correct the frequencies in Familias")
        codes = (params["female"]["code"], params["male"]["code"])
        if max(codes) > 1:
            why = _stepwise_problem(alleles)
            if why:
                warnings.append(f"{lines.path}, locus {locus!r}: {why} does not suit the stepwise "
                                "mutation model; the equal model (same rates) is used, as "
                                "pedFamilias does")
                params["female"]["code"] = params["male"]["code"] = 0
        for sex in ("female", "male"):
            params[sex]["model"] = _MODEL_NAMES[params[sex]["code"]] + (
                " stationary (PM)" if params[sex]["code"] == 3 else "")
        afreq = np.array(freqs)
        mutation = _marker_mutation(lines, loc, locus, alleles, afreq, params, warnings)
        database.mutation_parameters[locus] = params
        database.markers.append(Marker(locus, dict(zip(alleles, freqs)), {}, mutation, None, source))
        alleles_of[locus] = alleles
        loc = a
    return database, alleles_of, loc


_KNOWN_SECTIONS = ("DVI", "Prior", "Advanced")


def _check_sections(lines: _Lines, end: int) -> None:
    """After the database: blank lines and the known bracketed sections only."""
    top = None
    for i in range(end, len(lines)):
        text = lines.x[i]
        if text.strip() == "":
            continue
        if text.startswith("[") and not text.startswith("[["):
            name = text.strip().strip("[]").strip()
            if name not in _KNOWN_SECTIONS or text.strip() != f"[{name}]":
                raise lines.error(i, f"unknown section {text!r} (reunite reads "
                                  f"{', '.join('[' + s + ']' for s in _KNOWN_SECTIONS)})",
                                  "is the file from a newer Familias? Save it without that "
                                  "section or report the Familias version")
            top = name
        elif top is None:
            raise lines.error(i, f"unexpected line {text!r} after the frequency database (a "
                              "section such as [DVI] or [Advanced] was expected)")


# ----------------------------------------------------------------------------------------
# Kinship (non-DVI) files


def _components(ids: list[str], father: dict[str, str | None], mother: dict[str, str | None]):
    parent_of: dict[str, set[str]] = {i: set() for i in ids}
    for i in ids:
        for p in (father[i], mother[i]):
            if p is not None:
                parent_of[i].add(p)
                parent_of[p].add(i)
    seen: dict[str, int] = {}
    comps: list[list[str]] = []
    for i in ids:
        if i in seen:
            continue
        k = len(comps)
        stack, members = [i], set()
        while stack:
            j = stack.pop()
            if j in members:
                continue
            members.add(j)
            seen[j] = k
            stack.extend(parent_of[j] - members)
        comps.append([j for j in ids if j in members])
    return comps


def family_with_added_parents(ids: list[str], sexes: list[str], father: list[int],
                              mother: list[int], *, prefix: str = "added_"):
    """Persons with father, mother and sex, as pedFamilias's Familias2ped makes them: a
    person with one parent gets the other as a new founder, the added fathers named first
    (``added_1``...), then the added mothers.  Returns ``(order, {id: (father, mother, sex)})``."""
    fa = [ids[f] if f >= 0 else None for f in father]
    mo = [ids[m] if m >= 0 else None for m in mother]
    need_father = [k for k in range(len(ids)) if fa[k] is None and mo[k] is not None]
    need_mother = [k for k in range(len(ids)) if fa[k] is not None and mo[k] is None]
    new_f = [f"{prefix}{j + 1}" for j in range(len(need_father))]
    new_m = [f"{prefix}{len(need_father) + j + 1}" for j in range(len(need_mother))]
    for k, name in zip(need_father, new_f):
        fa[k] = name
    for k, name in zip(need_mother, new_m):
        mo[k] = name
    people = {i: (fa[k], mo[k], sexes[k]) for k, i in enumerate(ids)}
    clash = [n for n in new_f + new_m if n in people]
    if clash:
        raise PedigreeError(f"a person is named {clash[0]!r}, the name given to an added parent; "
                            "rename that person")
    people.update({n: (None, None, "M") for n in new_f})
    people.update({n: (None, None, "F") for n in new_m})
    return list(ids) + new_f + new_m, people


def _build_kinship(fam: FamFile, lines: _Lines, persons: list[_Person], pedigrees: list[_Pedigree],
                   alleles_of: dict[str, list[str]]) -> None:
    markers = fam.database.markers
    genotypes: list[dict[str, tuple[str, str]]] = [{} for _ in markers]
    for p in persons:
        for m, (a1, a2, line) in p.genotypes.items():
            if m >= len(markers):
                raise lines.error(line + 2, f"person {p.id!r}: marker index {m} is out of range "
                                  f"(the database has {len(markers)} loci, indexes 0..{len(markers) - 1})")
            labels = alleles_of[markers[m].name]
            for a, at in ((a1, line), (a2, line + 1)):
                if a >= len(labels):
                    raise lines.error(at, f"person {p.id!r}, locus {markers[m].name!r}: allele index "
                                      f"{a} is out of range (the locus has {len(labels)} alleles)")
            genotypes[m][p.id] = (labels[a1], labels[a2])
    fam.markers = [Marker(mk.name, dict(mk.afreq), genotypes[k], mk.mutation, mk.n_individuals,
                          mk.source) for k, mk in enumerate(markers)]
    fam.typed = [p.id for p in persons if p.genotypes]
    single = len(pedigrees) == 1
    for ped in pedigrees:
        name = "H1" if single else ped.name
        where = f"{lines.path}, hypothesis {name!r} (line {ped.line + 1})"
        try:
            order, people = family_with_added_parents(ped.ids, ped.sexes, ped.father, ped.mother)
            pedigree = make_pedigree([Individual(i, *people[i]) for i in order], where=where)
        except PedigreeError as exc:
            msg = str(exc)
            raise PedigreeError(msg if msg.startswith(lines.path) else f"{where}: {msg}") from None
        comps = _components(order, {i: people[i][0] for i in order}, {i: people[i][1] for i in order})
        fam.hypotheses.append(FamHypothesis(name, pedigree, comps, [i for c in comps for i in c]))
    names = [h.name for h in fam.hypotheses]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        fam.warnings.append(f"{lines.path}: several hypotheses are named {sorted(dup)[0]!r}")
