"""The unidentified index: every unidentified person's genotypes as small integer codes, so
that a family is searched against every unidentified person by one compiled scan.

For a family F with missing person M the engine computes, per locus, one joint table
(:func:`reunite.genetics.likelihood.joint_tables`) and then looks every unidentified person
up in it (:func:`reunite.search.engine.search`, ``per="family"``):

    θ = 0:  LR_locus(U = x/y) = (T[x, y] + T[y, x]) / (ΣT · 2 p_x p_y)   (T[x, x] / (ΣT p_x²)),

with T[x, y] = P(references, M = x/y ordered).  This module keeps what that lookup needs
of each person, beside the database (:func:`unidentified_index`): per locus one genotype
code ``min(x, y)·n + max(x, y)`` (allele indices into the locus' population table of n
alleles; ``UnidentifiedIndex.untyped`` where the person is not typed), sex, estimated birth
and found days, the database id and code.  A search builds the engine's tables exactly as
the engine does (same jobs, same batches of 128 pairs, same arithmetic), takes their log10
once per genotype, and the scan (:func:`_scan`, compiled with Numba) applies the sex, date
and common-loci filters and sums each person's log10 LRs in the order NumPy's ``sum`` uses,
so the scores are the engine's, bit for bit.

θ > 0: U is, under H2, an unrelated founder in the same θ urn as the family's founders,
so P(references, U = x/y) is not P(references) P(U); the engine then computes pair by
pair.  Here both hypotheses are joint tables over all genotypes: T1 for M (H1) and T2 for
U added to the pedigree as an extra founder of M's sex (H2), and
LR_locus(x/y) = (T1[x, y] + T1[y, x]) / (T2[x, y] + T2[y, x]), the kinship engine's LR.

A person with an allele absent from the population table (the engine's rare-allele rule
extends the table pair by pair) is flagged RARE: the filters are the scan's, the LRs the
engine's (:func:`reunite.search.engine.search` on those few persons).  A person typed at a
locus the model cannot use (FOREIGN) leaves the whole search to the engine, as today.
"""

from __future__ import annotations

import json
import math
import threading

import numpy as np

from reunite.errors import ReuniteError
from reunite.genetics.likelihood import MarkerData, joint_tables
from reunite.genetics.pedigree import Individual, make_pedigree
from reunite.search.engine import (
    DEFAULT_AGE_TOLERANCE,
    MAX_LISTED_SKIPPED,
    Candidate,
    SearchResult,
    _common_loci,
    _LocusTables,
    _ranked,
    day_number,
    search,
    tolerance_days,
)
from reunite.search.index import (
    NO_DATE,
    DamagedFileError,
    arrays_checksum,
    read_checked_npz,
    remove_stale_temporaries,
    write_npz_atomically,
)

try:  # the compiled scan; the Python version below is used when Numba is not installed
    import numba
except ImportError:  # pragma: no cover - numba is a dependency, this is a safety net
    numba = None

SEX_CODE = {"M": 1, "F": 2}
#: Row flags: an allele absent from the table, or a locus the model cannot use (the engine's).
RARE, FOREIGN = 1, 2
#: Status of a (row, pair) after the scan: compared, or the filter that left it out.
OK, SKIP_SEX, SKIP_AGE, SKIP_LOCI, ENGINE = 0, 1, 2, 3, 4
#: Pairs per batch of joint tables (the engine's ``chunk_pairs``: the same batches, the same values).
CHUNK_PAIRS = 128


#: Most loci a search may have for the scan (NumPy sums up to 128 terms in one block).
MAX_LOCI = 128


# ----------------------------------------------------------------------------------------
# The scan (a plain function, compiled with Numba below; the two give the same numbers)

def _pairwise_sum_py(a, n):
    """``np.add.reduce(a[:n])`` for n <= 128, term for term as NumPy sums (8 accumulators)."""
    if n < 8:
        s = 0.0
        for i in range(n):
            s += a[i]
        return s
    r0, r1, r2, r3 = a[0], a[1], a[2], a[3]
    r4, r5, r6, r7 = a[4], a[5], a[6], a[7]
    i = 8
    while i < n - (n % 8):
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        s += a[i]
        i += 1
    return s


def _scan(codes, active, sex, birth, found, flags, logtab, pos, n_pos, f_typed, m_sex, m_birth, m_missing, tol,
          min_common, untyped, score, status):
    """For every row: ``status`` (OK, or the first filter that leaves the pair out, in the
    engine's order: sex, dates, loci in common; ENGINE for a flagged row that passes them)
    and, for OK rows, ``score`` = Σ log10 LR over the search's loci, column c of ``codes``
    at position ``pos[c]`` of ``n_pos`` (untyped: 0), summed as NumPy sums a row.  Only the
    columns ``active`` are read (every other one is untyped in every row)."""
    n = codes.shape[0]
    buf = np.zeros(max(n_pos, 1))
    for r in range(n):
        s = sex[r]
        if m_sex != 0 and s != 0 and s != m_sex:
            status[r] = SKIP_SEX
            continue
        ub, uf = birth[r], found[r]
        if ((ub != NO_DATE and m_birth != NO_DATE and abs(ub - m_birth) > tol)
                or (uf != NO_DATE and m_birth != NO_DATE and uf < m_birth)
                or (ub != NO_DATE and m_missing != NO_DATE and ub > m_missing + tol)):
            status[r] = SKIP_AGE
            continue
        common = 0
        for c in active:
            if codes[r, c] != untyped and f_typed[c]:
                common += 1
        if common < min_common:
            status[r] = SKIP_LOCI
            continue
        if flags[r] != 0:
            status[r] = ENGINE
            continue
        for k in range(n_pos):
            buf[k] = 0.0
        for c in active:
            code = codes[r, c]
            if code != untyped:
                buf[pos[c]] = logtab[c, code]
        score[r] = _pairwise_sum(buf, n_pos)
        status[r] = OK


if numba is not None:  # compiled once and cached on disk (as the family index's kernels)
    _pairwise_sum = numba.njit(cache=True, nogil=True)(_pairwise_sum_py)
    scan = numba.njit(cache=True, nogil=True, boundscheck=False)(_scan)
else:  # pragma: no cover
    _pairwise_sum = _pairwise_sum_py
    scan = _scan


# ----------------------------------------------------------------------------------------
# The index

class UnidentifiedIndex:
    """Every unidentified person as the family search needs it (rows ordered by database id).

    ``codes[r, c]``: person r's genotype at ``columns[c]`` as ``min(x, y) · n_c + max(x, y)``
    (allele indices into the locus' population table of n_c alleles), ``untyped`` where r is
    not typed (and at a locus whose allele is not in the table, the row then flagged
    RARE: its LRs are the engine's).  ``sex`` (0 unknown, 1 M, 2 F), ``birth`` and
    ``found`` (day numbers, ``NO_DATE`` when unknown), ``ids``, ``codes_text`` (the persons'
    codes), ``flags`` (RARE, FOREIGN: typed at a locus the model cannot use).
    ``token``: what the index was built from (:func:`unidentified_state`)."""

    #: Raise when what is stored, or how it is computed, changes: stored indexes are rebuilt.
    FORMAT = 1

    def __init__(self, model):
        self.model = model
        self.columns = sorted(model.loci())
        self.col_idx = {l: c for c, l in enumerate(self.columns)}
        self.tables = _LocusTables(model, self.columns)
        self.sizes = np.array([len(self.tables.base[l][1]) for l in self.columns], dtype=np.int64)
        widest = int((self.sizes ** 2).max()) if len(self.sizes) else 1
        self.dtype = np.uint16 if widest < np.iinfo(np.uint16).max else np.uint32
        self.untyped = int(np.iinfo(self.dtype).max)
        self.token: dict | None = None
        self._tok: dict[str, tuple[int, int] | None] = {}
        self.foreign_loci: set[str] = set()  # loci typed by flagged persons that the model cannot use
        self._clear()

    def _clear(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.codes = np.zeros((0, len(self.columns)), dtype=self.dtype)
        self.sex = np.zeros(0, dtype=np.uint8)
        self.birth = np.zeros(0, dtype=np.int32)
        self.found = np.zeros(0, dtype=np.int32)
        self.flags = np.zeros(0, dtype=np.uint8)
        self.codes_text: list[str] = []
        self.typed_count = np.zeros(len(self.columns), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def fingerprint(self) -> str:
        """What the index depends on (a stored index is rebuilt when it changes)."""
        from reunite import __version__

        return f"reunite {__version__}; unidentified index format {self.FORMAT}; {self.model.describe()}"

    # -- building -------------------------------------------------------------------------

    def _code(self, item: str):
        """(column, code) of ``"LOCUS=a/b"``; (column, None) for an allele not in the table;
        None for a locus the model cannot use."""
        hit = self._tok.get(item, False)
        if hit is not False:
            return hit
        locus, _, g = item.partition("=")
        a, _, b = g.partition("/")
        c = self.col_idx.get(locus)
        if c is None:
            hit = None
        else:
            index = self.tables.base[locus][3]
            ia, ib = index.get(a), index.get(b)
            hit = (c, None) if ia is None or ib is None else (c, min(ia, ib) * int(self.sizes[c]) + max(ia, ib))
        self._tok[item] = hit
        return hit

    def add_rows(self, rows, *, batch: int = 50_000, progress=None) -> int:
        """Add persons given as (id, code, sex, estimated birth date, found date, profile),
        the profile packed (``"VWA=14/17;..."``) or a dict; persons already held are
        skipped.  Read in batches of ``batch`` (``progress(n)`` after each), the arrays
        joined once.  Returns how many were added."""
        held = set(self.ids.tolist())
        parts = []
        rows = iter(rows)
        while True:
            part = self._encode(rows, held, batch)
            if part is None:
                break
            parts.append(part)
            if progress is not None:
                progress(part[-1])
        parts = [p for p in parts if len(p[0])]
        if not parts:
            return 0
        ids, text, sex, birth, found, flags, codes, _ = zip(*parts)
        codes = np.concatenate(codes)
        self.typed_count = self.typed_count + (codes != self.untyped).sum(axis=0)
        self.ids = np.concatenate([self.ids, *ids])
        self.codes = np.concatenate([self.codes, codes])
        self.sex = np.concatenate([self.sex, *sex])
        self.birth = np.concatenate([self.birth, *birth])
        self.found = np.concatenate([self.found, *found])
        self.flags = np.concatenate([self.flags, *flags])
        self.codes_text = self.codes_text + [c for t in text for c in t]  # new objects: copies share the old
        if len(self.ids) > 1 and np.any(np.diff(self.ids) < 0):  # rows in id order, as the engine reads them
            order = np.argsort(self.ids, kind="stable")
            self.ids, self.codes, self.sex = self.ids[order], self.codes[order], self.sex[order]
            self.birth, self.found, self.flags = self.birth[order], self.found[order], self.flags[order]
            self.codes_text = [self.codes_text[k] for k in order.tolist()]
        return len(codes)

    def _encode(self, rows, held: set, batch: int):
        """The next ``batch`` rows as arrays (persons in ``held`` left out, the others added
        to it), with the number of rows read; None when there are none left."""
        codes = np.full((batch, len(self.columns)), self.untyped, dtype=self.dtype)
        ids, text, sex, birth, found, flags = [], [], [], [], [], []
        seen = 0
        known = self._tok.get
        for uid, code, s, b, f, profile in rows:
            seen += 1
            if uid not in held:
                held.add(uid)
                if isinstance(profile, dict):
                    items = [f"{l}={a}/{b2}" for l, (a, b2) in profile.items()]
                else:
                    items = profile.split(";") if profile else []
                r, flag = len(ids), 0
                for item in items:
                    hit = known(item, False)
                    if hit is False:
                        hit = self._code(item)
                    if hit is None:
                        flag |= FOREIGN
                        self.foreign_loci = self.foreign_loci | {item.partition("=")[0]}
                        continue
                    c, k = hit
                    if k is None:
                        flag |= RARE
                        k = self.untyped - 1  # typed (counted in common loci); the engine computes the LR
                    codes[r, c] = k
                ids.append(uid)
                text.append(code)
                sex.append(SEX_CODE.get(s, 0))
                birth.append(day_number(b))
                found.append(day_number(f))
                flags.append(flag)
            if seen == batch:
                break
        if not seen:
            return None
        return (np.array(ids, dtype=np.int64), text, np.array(sex, dtype=np.uint8), np.array(birth, dtype=np.int32),
                np.array(found, dtype=np.int32), np.array(flags, dtype=np.uint8), codes[:len(ids)], seen)

    def add(self, records) -> int:
        """Add :class:`~reunite.search.engine.UnidentifiedRecord` objects."""
        return self.add_rows((u.id, u.code, u.sex, u.estimated_birth_date, u.found_date, u.profile)
                             for u in records)

    def drop(self, ids) -> int:
        """Take these persons (database ids) out (new arrays: a copy of the index keeps the
        old); returns how many were held."""
        gone = np.isin(self.ids, np.asarray(list(ids), dtype=np.int64))
        if not gone.any():
            return 0
        keep = ~gone
        self.typed_count = self.typed_count - (self.codes[gone] != self.untyped).sum(axis=0)
        self.ids, self.codes, self.sex = self.ids[keep], self.codes[keep], self.sex[keep]
        self.birth, self.found, self.flags = self.birth[keep], self.found[keep], self.flags[keep]
        self.codes_text = [c for c, k in zip(self.codes_text, keep.tolist()) if k]
        return int(gone.sum())

    def typed_loci(self) -> set[str]:
        """The loci of the model at which some person of the index is typed."""
        return {self.columns[c] for c in np.flatnonzero(self.typed_count)}

    def memory_bytes(self) -> int:
        return int(sum(a.nbytes for a in (self.ids, self.codes, self.sex, self.birth, self.found, self.flags))
                   + sum(len(c) for c in self.codes_text))

    # -- storing --------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write the index to ``path`` (NumPy ``.npz``: arrays and one JSON document, no
        pickled objects), atomically as :meth:`reunite.search.index.FamilyIndex.save`, with
        the SHA-256 of its arrays in the document (checked by :meth:`load`).

        Raises
        ------
        OSError
            if the folder or the file cannot be written (the old file is left as it was).
        """
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        arrays = {"ids": self.ids, "codes": self.codes, "sex": self.sex, "birth": self.birth,
                  "found": self.found, "flags": self.flags, "typed_count": self.typed_count,
                  "codes_text": np.array(self.codes_text, dtype=str)}
        meta = {"format": self.FORMAT, "fingerprint": self.fingerprint(), "columns": self.columns,
                "rows": len(self.ids), "token": self.token, "foreign_loci": sorted(self.foreign_loci),
                "checksum": arrays_checksum(arrays)}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        write_npz_atomically(path, arrays)

    @classmethod
    def load(cls, path, model) -> "UnidentifiedIndex":
        """Read an index written by :meth:`save` for ``model``.

        Raises
        ------
        DamagedFileError
            if the file is not one: unreadable (truncated, empty), its arrays not those whose
            SHA-256 it recorded, or their sizes inconsistent.
        ReuniteError
            if it was made for another genetic model, format or software version."""
        meta, arrays = read_checked_npz(path, what="unidentified index")
        index = cls(model)
        if meta.get("format") != cls.FORMAT or meta.get("fingerprint") != index.fingerprint():
            raise ReuniteError(f"{path}: made for {meta.get('fingerprint')!r}, not {index.fingerprint()!r}")
        if "checksum" not in meta:
            raise DamagedFileError(f"{path}: an unidentified index without its checksum; it is rebuilt "
                                   "from the database")
        try:
            rows, cols = int(meta["rows"]), len(index.columns)
            if meta["columns"] != index.columns:
                raise ValueError("its loci are not the model's")
            expect = {"ids": ((rows,), np.int64), "codes": ((rows, cols), index.dtype),
                      "sex": ((rows,), np.uint8), "birth": ((rows,), np.int32), "found": ((rows,), np.int32),
                      "flags": ((rows,), np.uint8), "typed_count": ((cols,), np.int64)}
            for name, (shape, dtype) in expect.items():
                a = arrays[name]
                if a.shape != shape or a.dtype != dtype:
                    raise ValueError(f"{name} of shape {a.shape} and type {a.dtype}, not {shape} {np.dtype(dtype)}")
            if arrays["codes_text"].shape != (rows,):
                raise ValueError("codes_text of the wrong size")
            if rows and np.any(np.diff(arrays["ids"]) <= 0):
                raise ValueError("ids not in increasing order")
            limit = (index.sizes ** 2)[None, :]
            bad = (arrays["codes"] < index.untyped - 1) & (arrays["codes"] >= limit)
            if bad.any():
                raise ValueError("genotype codes out of range")
            for name in expect:
                setattr(index, name, arrays[name])
            index.codes_text = arrays["codes_text"].tolist()
            index.token = meta.get("token")
            index.foreign_loci = set(meta.get("foreign_loci", ()))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DamagedFileError(f"{path}: not a readable unidentified index ({type(exc).__name__}: {exc}); "
                                   "it is rebuilt from the database") from None
        return index


# ----------------------------------------------------------------------------------------
# The search of families against the index

U_ID = "__unidentified__"


def _pair_tables(part, *, loci, tables: _LocusTables, theta: float):
    """For a batch of (family, missing) pairs: ``lr[p][li]`` (the LR of every genotype of U
    at ``loci[li]``, over the family's alleles: the population table with the family's rare
    alleles added) and ``compatible[p][li]`` (U possible in M's place without mutation).

    θ = 0: the engine's tables (:func:`reunite.search.engine._score_chunk`: the same jobs in
    the same batch, the same arithmetic).  θ > 0: T1 for M, T2 for U an extra founder."""
    jobs, where = [], []
    for f, m in part:
        structure = f.pedigree.structure_key()
        h2 = None
        if theta > 0.0:
            sex_m = f.pedigree[m].sex
            h2 = make_pedigree(list(f.pedigree.individuals) + [Individual(U_ID, None, None, sex_m)])
        for l in loci:
            genos = {pid: prof[l] for pid, prof in f.references.items() if l in prof}
            extra = sorted({a for g in genos.values() for a in g if a not in tables.base[l][3]})
            alleles, freqs, male, female = tables.family_table(l, extra)
            index = tables.family_index(l, extra)
            genos_idx = {f.pedigree.index[pid]: (index[a], index[b]) for pid, (a, b) in genos.items()}
            jobs.append((structure, MarkerData(freqs, male, female, genos_idx, theta), f.pedigree.index[m]))
            j = len(jobs) - 1
            mutation = male is not None or female is not None
            if mutation:  # the same without mutation: where it is 0 the locus is inconsistent
                jobs.append((structure, MarkerData(freqs, None, None, genos_idx, theta), f.pedigree.index[m]))
            j0 = len(jobs) - 1
            j2 = None
            if h2 is not None:
                genos2 = {h2.index[pid]: g for pid, g in
                          ((pid, (index[a], index[b])) for pid, (a, b) in genos.items())}
                jobs.append((h2.structure_key(), MarkerData(freqs, male, female, genos2, theta), h2.index[U_ID]))
                j2 = len(jobs) - 1
            where.append((freqs, j, j0, j2))
    tabs = joint_tables(jobs)
    lr, compatible = [], []
    k = 0
    for _ in part:
        lr_p, comp_p = [], []
        for _ in loci:
            freqs, j, j0, j2 = where[k]
            k += 1
            t, t0 = tabs[j], tabs[j0]
            with np.errstate(divide="ignore", invalid="ignore"):  # impossible references: NaN
                if j2 is None:  # θ = 0, as the engine's joint-table pass
                    total = t.sum()
                    pop = 2.0 * np.outer(freqs, freqs)
                    np.fill_diagonal(pop, freqs * freqs)
                    pred = (t + t.T) / total
                    np.fill_diagonal(pred, np.diag(t) / total)
                    lr_p.append(pred / pop)
                else:
                    t2 = tabs[j2]
                    num, den = t + t.T, t2 + t2.T
                    np.fill_diagonal(num, np.diag(t))
                    np.fill_diagonal(den, np.diag(t2))
                    lr_p.append(num / den)
            comp_p.append((t0 + t0.T) > 0)
        lr.append(lr_p)
        compatible.append(comp_p)
    return lr, compatible


def _top(score: np.ndarray, rows: np.ndarray, top_k: int | None) -> np.ndarray:
    """Of ``rows``, those whose score is among the ``top_k`` best, ties at the last place
    all kept (the ranking by code is made later)."""
    if top_k is None or len(rows) <= top_k:
        return rows
    vals = score[rows]
    kth = np.partition(vals, len(vals) - top_k)[len(vals) - top_k]
    return rows[vals >= kth]


def search_families(index: UnidentifiedIndex, families, *, model, load_unidentified, min_lr: float = 1.0,
                    top_k: int | None = 20, progress=None, age_tolerance: float = DEFAULT_AGE_TOLERANCE,
                    identity=None) -> SearchResult:
    """:func:`reunite.search.engine.search` with ``per="family"`` of ``families`` against
    every unidentified person of ``index``: the same candidates, LRs, ranks, counts and
    skipped pairs (listed up to ``MAX_LISTED_SKIPPED``, the first of the engine's list).

    ``load_unidentified(ids)``: the UnidentifiedRecords of database ids (None: all), read
    for the candidates, for the flagged persons (their LRs are the engine's) and, when the
    scan does not apply (a person typed at a locus the model cannot use, more than
    ``MAX_LOCI`` loci), for the engine's search of everyone."""
    tol = tolerance_days(age_tolerance)
    min_log = math.log10(min_lr) if min_lr > 0 else -math.inf
    families = list(families)
    loci = sorted(index.typed_loci() | {l for f in families for p in f.references.values() for l in p})
    if np.any(index.flags & FOREIGN) or len(loci) > MAX_LOCI:
        return search(load_unidentified(None), families, model=model, min_lr=min_lr, top_k=top_k,
                      per="family", progress=progress, age_tolerance=age_tolerance, identity=identity)
    result = SearchResult([], age_tolerance=float(age_tolerance))
    tables = _LocusTables(model, loci)
    locus_pos = {l: k for k, l in enumerate(loci)}
    n = len(index)
    pos = np.array([locus_pos.get(l, 0) for l in index.columns], dtype=np.int64)
    in_loci = np.array([l in locus_pos for l in index.columns], dtype=bool)
    width = int((index.sizes ** 2).max()) if len(index.sizes) else 1
    pairs_fm = [(f, m) for f in families for m in f.missing]
    active = np.flatnonzero(index.typed_count > 0).astype(np.int64)
    score = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    kept = []  # (log10 LR, row, pair number, lr per locus, inconsistent loci)
    skipped = {SKIP_AGE: [], SKIP_LOCI: []}  # per kind: (rows, pair number)
    to_engine = np.zeros(n, dtype=bool)
    for start in range(0, len(pairs_fm), CHUNK_PAIRS):
        part = pairs_fm[start:start + CHUNK_PAIRS]
        lr, compatible = _pair_tables(part, loci=loci, tables=tables, theta=model.theta)
        for p, (f, m) in enumerate(part):
            j = start + p
            logtab = np.zeros((len(index.columns), width))
            for c in np.flatnonzero(in_loci & (index.typed_count > 0)):
                size = int(index.sizes[c])
                with np.errstate(divide="ignore", invalid="ignore"):
                    logtab[c, :size * size] = np.log10(lr[p][pos[c]][:size, :size]).ravel()
            typed_f = {l for prof in f.references.values() for l in prof}
            f_typed = np.array([l in typed_f for l in index.columns], dtype=bool)
            birth, missing = f.dates.get(m, (None, None))
            scan(index.codes, active, index.sex, index.birth, index.found, index.flags, logtab, pos, len(loci), f_typed,
                 SEX_CODE.get(f.pedigree[m].sex, 0), day_number(birth), day_number(missing), tol,
                 model.min_common_loci, index.untyped, score, status)
            counts = np.bincount(status, minlength=5)
            result.skipped_sex += int(counts[SKIP_SEX])
            result.skipped_age += int(counts[SKIP_AGE])
            result.skipped_loci += int(counts[SKIP_LOCI])
            result.num_compared += int(counts[OK] + counts[ENGINE])
            for kind in skipped:
                if counts[kind]:
                    skipped[kind].append((np.flatnonzero(status == kind), j))
            to_engine |= status == ENGINE
            ok = np.flatnonzero(status == OK)
            with np.errstate(invalid="ignore"):
                ok = ok[score[ok] >= min_log]
            for r in _top(score, ok, top_k).tolist():
                typed = np.flatnonzero(index.codes[r] != index.untyped)
                lr_loc, inconsistent = {}, []
                for c in typed.tolist():
                    size = int(index.sizes[c])
                    x, y = divmod(int(index.codes[r, c]), size)
                    lr_loc[index.columns[c]] = float(lr[p][pos[c]][x, y])
                    if not compatible[p][pos[c]][x, y]:
                        inconsistent.append(index.columns[c])
                kept.append((float(score[r]), r, j, dict(sorted(lr_loc.items())), inconsistent))
            if progress is not None:
                progress(n)
    result.num_pairs = n * len(pairs_fm)
    _list_skipped(result, index, pairs_fm, skipped, tol=tol, min_common=model.min_common_loci)
    # the candidates: the persons read from the database, ranked as the engine ranks them
    wanted = sorted({int(index.ids[r]) for _, r, *_ in kept})
    records = {u.id: u for u in (load_unidentified(wanted) if wanted else [])}
    gone = sorted(set(wanted) - set(records))
    if gone:
        raise ReuniteError(f"the unidentified index holds persons that are not in the database (ids {gone[:5]}); "
                           "rebuild it with 'reunite db index --rebuild'")
    cands = []
    for log10_lr, r, j, lr_loc, inconsistent in kept:
        u, (f, m) = records[int(index.ids[r])], pairs_fm[j]
        cands.append(Candidate(u, f, m, math.prod(lr_loc.values()), log10_lr, _common_loci(u, f), lr_loc,
                               sorted(inconsistent)))
    cands = _ranked(cands, top_k, per="family")
    # persons with an allele absent from the table: the engine, pair by pair (they are few)
    if to_engine.any():
        rare = load_unidentified(sorted(int(i) for i in index.ids[to_engine]))
        cands += search(rare, families, model=model, min_lr=min_lr, top_k=top_k, per="family",
                        age_tolerance=age_tolerance).candidates
        cands = _ranked(cands, top_k, per="family")
    result.candidates = cands
    if identity is not None:
        identity.flag(result.candidates)
    return result


def _iso(days: np.ndarray) -> list[str]:
    """Day numbers as ISO dates (``date.isoformat``)."""
    return np.datetime_as_string(np.asarray(days, dtype=np.int64).astype("datetime64[D]")).tolist()


def _list_skipped(result: SearchResult, index: UnidentifiedIndex, pairs_fm, skipped, *, tol: int,
                  min_common: int) -> None:
    """The pairs left out for their dates, then for their loci in common, each in the
    engine's order (person, then pair), the first ``MAX_LISTED_SKIPPED`` in all, with the
    engine's reasons (:func:`reunite.search.engine.age_reason`), made for the listed rows at once."""
    for kind in (SKIP_AGE, SKIP_LOCI):
        room = MAX_LISTED_SKIPPED - len(result.skipped_pairs)
        if room <= 0 or not skipped[kind]:
            continue
        rows = np.concatenate([r for r, _ in skipped[kind]])
        js = np.concatenate([np.full(len(r), j, dtype=np.int64) for r, j in skipped[kind]])
        order = np.lexsort((js, rows))[:room]
        rows, js = rows[order], js[order]
        codes = [index.codes_text[r] for r in rows.tolist()]
        pairs = [pairs_fm[j] for j in js.tolist()]
        if kind == SKIP_AGE:
            m_days = np.array([[day_number(d) for d in f.dates.get(m, (None, None))] for f, m in pairs_fm],
                              dtype=np.int64).reshape(len(pairs_fm), 2)[js]
            ub, uf, mb, mm = index.birth[rows].astype(np.int64), index.found[rows].astype(np.int64), \
                m_days[:, 0], m_days[:, 1]
            apart = (ub != NO_DATE) & (mb != NO_DATE) & (np.abs(ub - mb) > tol)
            before = ~apart & (uf != NO_DATE) & (mb != NO_DATE) & (uf < mb)
            text = {name: _iso(np.where(v == NO_DATE, 0, v)) for name, v in (("ub", ub), ("uf", uf), ("mb", mb),
                                                                             ("mm", mm))}
            why = [f"dates: estimated birth {text['ub'][k]} and the missing person's birth {text['mb'][k]} "
                   f"are more than {tol} days apart" if apart[k] else
                   f"dates: found {text['uf'][k]}, before the missing person's birth {text['mb'][k]}" if before[k] else
                   f"dates: estimated birth {text['ub'][k]} more than {tol} days after the missing person went "
                   f"missing ({text['mm'][k]})" for k in range(len(rows))]
        else:
            typed = {}
            for f, _ in pairs:
                if f.id not in typed:
                    loci = {l for prof in f.references.values() for l in prof}
                    typed[f.id] = np.array([l in loci for l in index.columns], dtype=bool)
            f_typed = np.array([typed[f.id] for f, _ in pairs]).reshape(len(pairs), len(index.columns))
            common = ((index.codes[rows] != index.untyped) & f_typed).sum(axis=1).tolist()
            why = [f"{n} common loci, fewer than {min_common}" for n in common]
        result.skipped_pairs += [(code, f.code, m, w) for code, (f, m), w in zip(codes, pairs, why)]


# ----------------------------------------------------------------------------------------
# Kept beside the database, brought up to date before each search

_CACHE: dict = {}  # index file -> the index last read or built by this process
_LOCK = threading.Lock()


def unidentified_index_path(engine):
    """Where the unidentified index of a database is kept: beside its family index
    (:func:`reunite.search.service.index_path`), named ``<index file>.unidentified.npz``;
    None for an in-memory database."""
    from reunite.search.service import index_path

    path = index_path(engine)
    return None if path is None else path.with_name(path.name + ".unidentified.npz")


def unidentified_state(session) -> dict:
    """What the unidentified index depends on, in a few cheap statements: the database id,
    every import batch (id, time, rows, file), the last correction of an unidentified person
    or of an unidentified person's sample (id and time; a withdrawal is one), and the number
    of unidentified persons, the highest id and that person's code and sample."""
    from sqlalchemy import func, select

    from reunite.search.service import _batch_token, _utc_iso
    from reunite.store.models import ImportBatch, RecordVersion, Sample, Setting, Unidentified

    row = session.get(Setting, "database_id")
    imports = sorted(_batch_token(b) for b in session.execute(
        select(ImportBatch.id, ImportBatch.created_at, ImportBatch.num_rows, ImportBatch.source)))
    last = [session.execute(select(RecordVersion.id, RecordVersion.changed_at).where(RecordVersion.entity == "unidentified")
                            .order_by(RecordVersion.id.desc()).limit(1)).first(),
            session.execute(select(RecordVersion.id, RecordVersion.changed_at)
                            .join(Sample, Sample.id == RecordVersion.entity_id)
                            .where(RecordVersion.entity == "sample", Sample.owner_kind == "unidentified")
                            .order_by(RecordVersion.id.desc()).limit(1)).first()]
    last = max((v for v in last if v is not None), key=lambda v: v.id, default=None)
    count, top = session.execute(select(func.count(Unidentified.id), func.max(Unidentified.id))).one()
    newest = None
    if top is not None:
        newest = list(session.execute(select(Unidentified.code, Unidentified.sample_id).where(Unidentified.id == top)).one())
    return {"database_id": json.loads(row.value) if row is not None else None, "imports": imports,
            "correction": None if last is None else f"{last.id}|{_utc_iso(last.changed_at)}",
            "persons": [count, top, newest]}


def _active(session):
    """The statement of every searched unidentified person (active sample), by id."""
    from sqlalchemy import select

    from reunite.store.models import Sample, Unidentified

    return (select(Unidentified.id, Unidentified.code, Unidentified.sex, Unidentified.estimated_birth_date,
                   Unidentified.found_date, Sample.profile)
            .join(Sample, Sample.id == Unidentified.sample_id).where(Sample.status == "active")
            .order_by(Unidentified.id))


def _read_rows(index: UnidentifiedIndex, session, *, after: int | None = None, ids=None, chunk: int = 50_000,
               progress=None) -> None:
    """Add the active persons (all; those with an id over ``after``; or ``ids``), streamed."""
    from reunite.store.models import Unidentified

    q = _active(session)
    if after is not None:
        q = q.where(Unidentified.id > after)
    parts = [q] if ids is None else [q.where(Unidentified.id.in_(ids[k:k + 900])) for k in range(0, len(ids), 900)]

    def rows():
        for q in parts:
            result = session.connection().execute(q.execution_options(stream_results=True))
            for part in result.partitions(chunk):
                yield from part

    index.add_rows(rows(), batch=chunk, progress=progress)


def _corrected_since(session, held: str | None) -> list[int] | None:
    """The unidentified persons (ids) corrected since the correction ``held`` (id|time): those
    of the record versions after it, of the person or of their sample; None when that
    correction is no longer in the database (rolled back, a restored backup)."""
    from sqlalchemy import select

    from reunite.search.service import _utc_iso
    from reunite.store.models import RecordVersion, Unidentified

    after = 0
    if held is not None:
        rid, _, at = held.partition("|")
        row = session.execute(select(RecordVersion.changed_at).where(RecordVersion.id == int(rid))).first()
        if row is None or _utc_iso(row.changed_at) != at:
            return None
        after = int(rid)
    direct = select(RecordVersion.entity_id).where(RecordVersion.entity == "unidentified", RecordVersion.id > after)
    by_sample = (select(Unidentified.id).join(RecordVersion, (RecordVersion.entity == "sample")
                                              & (RecordVersion.entity_id == Unidentified.sample_id))
                 .where(RecordVersion.id > after))
    return sorted(set(session.execute(direct).scalars()) | set(session.execute(by_sample).scalars()))


def _brought_up(index: UnidentifiedIndex, session, state: dict, *, progress=None) -> bool:
    """Bring ``index`` up to ``state``: the persons corrected since (:func:`_corrected_since`)
    read again, those added since read and added.  False (rebuild) unless the database is
    the same, no import or correction it holds is gone and every person it holds is still
    searched.  Unchanged (the state it was made for): nothing is read."""
    from sqlalchemy import select

    from reunite.store.models import Sample, Unidentified

    old = index.token or {}
    if old.get("database_id") != state["database_id"] or not set(old.get("imports", ())) <= set(state["imports"]):
        return False
    if old.get("correction") != state["correction"]:  # the corrected persons read again
        corrected = _corrected_since(session, old.get("correction"))
        if corrected is None:
            return False
        index.drop(corrected)
        _read_rows(index, session, ids=corrected, progress=progress)  # those still searched
    if old.get("persons") == state["persons"]:  # the same persons (imports of families only since)
        index.token = state
        return True
    held = index.ids
    db_ids = np.fromiter(session.execute(select(Unidentified.id).join(Sample, Sample.id == Unidentified.sample_id)
                                         .where(Sample.status == "active")).scalars(), dtype=np.int64)
    if not np.isin(held, db_ids).all():  # a person gone (withdrawn, a rolled-back import): rebuilt
        return False
    new = np.setdiff1d(db_ids, held)
    if len(new):
        top_held = int(held.max(initial=0))
        if new.min() > top_held:
            _read_rows(index, session, after=top_held, progress=progress)
        else:
            _read_rows(index, session, ids=new.tolist(), progress=progress)
    index.token = state
    return True


def unidentified_index(session, model, *, save: bool = True, rebuild: bool = False, progress=None):
    """The database's unidentified index, from this process' memory or its file
    (:func:`unidentified_index_path`), brought up to date: the persons added since are read
    and added, the persons corrected since (re-typed, withdrawn, new dates or sex: every
    correction records a version) read again.  Rebuilt from the database when the file is
    missing, damaged (its checksum) or made for another database, genetic model, format or
    software version, when an import or correction it holds is gone (rolled back, a restored
    backup), when persons were added or removed and one it holds is no longer searched, or
    with ``rebuild``.  Saved atomically when it changed; a file that cannot be written is left as
    it was and the search goes on with the index in memory (a warning).  In-memory
    databases: built each time.  The index returned is never changed afterwards (an update
    makes a new one), so a search may go on with it while another brings it up to date."""
    import copy
    import warnings

    from reunite.search.service import _unwritable

    path = unidentified_index_path(session.get_bind())
    state = unidentified_state(session)
    if path is None or state["database_id"] is None:
        index = UnidentifiedIndex(model)
        _read_rows(index, session, progress=progress)
        index.token = state
        return index
    with _LOCK:
        index, changed = None, True
        candidates = []
        if not rebuild:
            known = _CACHE.get(str(path))
            if known is not None and known.model == model:
                candidates.append(("memory", known))
            candidates.append(("file", None))
        for where, base in candidates:
            if where == "file":
                if not path.exists():
                    continue
                try:
                    base = UnidentifiedIndex.load(path, model)
                except DamagedFileError as exc:  # truncated, corrupted: never used, rebuilt (said)
                    warnings.warn(str(exc), stacklevel=2)
                    continue
                except ReuniteError:  # another model, format or version: rebuilt
                    continue
            work = copy.copy(base)  # the held one is left as it is
            if _brought_up(work, session, state, progress=progress):
                changed = work.token != base.token or len(work) != len(base)
                index = base if not changed else work
                break
        if index is None:
            index = UnidentifiedIndex(model)
            _read_rows(index, session, progress=progress)
            index.token = state
        if save and changed:
            try:
                index.save(path)
            except OSError as exc:
                warnings.warn(f"the unidentified index could not be saved to {path} ({_unwritable(path, exc)}); "
                              f"the search goes on with it in memory. Make the folder {path.parent} writable, "
                              "or set REUNITE_INDEX to a file in a writable folder", stacklevel=2)
        _CACHE[str(path)] = index
    return index



def run_family_search(session, model, *, family_ids=None, min_lr: float = 1.0, top_k: int | None = 20,
                      progress=None, age_tolerance: float = DEFAULT_AGE_TOLERANCE, identity=None,
                      index=None) -> SearchResult:
    """Families (all, or these database ids) against every unidentified person of the
    database, ranked per family: :func:`search_families` on the database's index
    (:func:`unidentified_index`, or ``index``), the persons read from the database only for
    the candidates.  ``identity``: as :func:`reunite.search.service.run_search` (default:
    :func:`reunite.search.service.identity_cache` when there is a person to search)."""
    from reunite.search.service import identity_cache, load_families
    from reunite.search.service import load_unidentified as load

    index = unidentified_index(session, model) if index is None else index
    if identity is None and len(index):
        identity = identity_cache(session, model)

    def load_unidentified(ids):
        if ids is None:
            return load(session)
        return [u for k in range(0, len(ids), 500) for u in load(session, ids[k:k + 500])]

    return search_families(index, load_families(session, family_ids), model=model,
                           load_unidentified=load_unidentified, min_lr=min_lr, top_k=top_k, progress=progress,
                           age_tolerance=age_tolerance, identity=identity)
