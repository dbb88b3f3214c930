"""The family index (see :mod:`reunite.search.index` for the maths): its rows, per-locus
tables and stored arrays (save/load, index file format 4), and the family row helpers."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from reunite.errors import ReuniteError
from reunite.genetics.likelihood import MarkerData, joint_tables
from reunite.search.index.closed_forms import _closed_form_siblings, _closed_form_sides
from reunite.search.index.files import (
    DamagedFileError,
    arrays_checksum,
    read_checked_npz,
    remove_stale_temporaries,
    write_npz_atomically,
)
from reunite.search.index.kernels import NO_DATE, _common_py
from reunite.search.index.plan import Part, Plan, make_plan
from reunite.search.index.query import MIN_ROWS_PER_THREAD, SEX_CODE, IndexQueries  # noqa: F401
from reunite.search.index.theta import (
    closed_form_sides_theta,
    lr_table,
    make_plan_theta,
    part_value,
    with_unrelated,
)

LN10 = math.log(10.0)

#: Largest number of keys per locus stored in 16 bits (else 32).
NARROW_KEYS = np.iinfo(np.uint16).max


@dataclass
class LocusTables:
    """One locus of the index: allele table, side vectors and dense LR tables."""

    alleles: list[str]
    afreq: np.ndarray
    male: np.ndarray | None
    female: np.ndarray | None
    index: dict[str, int]
    side_keys: dict[tuple, int] = field(default_factory=dict)
    sides: list = field(default_factory=list)
    dense_keys: dict[tuple, int] = field(default_factory=dict)
    dense: list = field(default_factory=list)
    #: θ > 0: the sorted alleles of the typed founders U depends on -> D key (see index.theta)
    d_keys: dict[tuple, int] = field(default_factory=dict)
    d_list: list = field(default_factory=list)

    def __post_init__(self):
        self._stacked = None

    def stacked(self) -> tuple[np.ndarray, np.ndarray]:
        """(side vectors (n_sides, n_alleles), dense LR tables (n_dense, n_alleles, n_alleles))."""
        n = len(self.afreq)
        if self._stacked is None or len(self._stacked[0]) != len(self.sides) \
                or len(self._stacked[1]) != len(self.dense):
            self._stacked = (np.array(self.sides, dtype=float).reshape(len(self.sides), n),
                             np.array(self.dense, dtype=float).reshape(len(self.dense), n, n))
        return self._stacked


class FamilyIndex(IndexQueries):
    """The family side of the search (see the module doc; θ > 0: :mod:`reunite.search.index.theta`).

    Rows are (family, missing person).  ``fallback`` holds the database ids of families
    the index cannot hold (an allele missing from the population table changes the
    frequencies of the whole locus); the search computes those with the engine.
    """

    def __init__(self, model):
        from reunite.search.engine import _LocusTables

        self.model = model
        self.theta = float(model.theta)
        self.model_loci = sorted(set(model.loci()) - set(model.unusable_loci()))
        self._engine_tables = _LocusTables(model, self.model_loci)  # the engine's tables, rare-allele rule
        self._all_tables: dict[str, LocusTables] = {}
        prune = True
        for locus in self.model_loci:
            alleles, freqs, male, female = self._engine_tables.family_table(locus, [])
            if male is None or female is None or not (np.all(male > 0) and np.all(female > 0)):
                prune = False  # a zero transition could make left-out references impossible
            self._all_tables[locus] = LocusTables(list(alleles), np.asarray(freqs, dtype=float), male, female,
                                                  {a: k for k, a in enumerate(alleles)})
        self.prune = prune
        # the index's columns: the loci typed in some reference or asked for by a query
        self.loci: list[str] = []
        self.locus_idx: dict[str, int] = {}
        self.tables: list[LocusTables] = []
        self._plans: dict[tuple, Plan] = {}
        self._pending: dict[tuple, list] = {}
        self._model_pos = {l: k for k, l in enumerate(self.model_loci)}
        self._tok_id: dict = {}  # "LOCUS=a/b" or (locus, (a, b)) -> token id
        self._tok_locus: list[int] = []  # token id -> position in model_loci
        self._tok_code: list[int] = []  # token id -> genotype code min*n + max
        self._new_parts: list = []
        self._support0: dict = {}  # (locus, part, genotypes) -> no-mutation support (bool)
        self.shapes: dict[tuple, int] = {}  # (pedigree structure, missing position) -> id
        self.row_shape = np.zeros(0, dtype=np.int32)
        self.family_id = np.zeros(0, dtype=np.int64)  # per row
        self.family_code: list[str] = []
        self.missing: list[str] = []
        self.m_sex = np.zeros(0, dtype=np.int8)  # 0 unknown, 1 M, 2 F
        # the missing person's birth and missing dates, days since 1970-01-01 (NO_DATE: unknown)
        self.m_birth = np.zeros(0, dtype=np.int32)
        self.m_missing = np.zeros(0, dtype=np.int32)
        # loci typed in any reference: bit li % 64 of word li // 64, per row
        self.ref_mask = np.zeros((0, 1), dtype=np.uint64)
        self.key_p = np.zeros((0, 0), dtype=np.int32)
        self.key_q = np.zeros((0, 0), dtype=np.int32)  # -1: key_p is a dense table
        # θ > 0: the D key of a sides row per locus (-1: a dense row); None at θ = 0
        self.key_d = np.zeros((0, 0), dtype=np.int32) if self.theta > 0 else None
        self.fallback: list[int] = []
        self.indexed: set[int] = set()  # database ids of the families in rows or fallback
        self.database_id = None  # the database it was built from (its settings' database_id)
        self.family_imports: list[str] = []  # the family imports it holds (service._batch_token)
        self._combined = None

    def _mask_words(self, typed: np.ndarray) -> np.ndarray:
        """(rows, loci) booleans as (rows, words) uint64 bit masks (bit li % 64 of word li // 64)."""
        words = max(1, -(-len(self.loci) // 64))
        out = np.zeros((len(typed), words), dtype=np.uint64)
        for li in range(typed.shape[1]):
            out[:, li // 64] |= typed[:, li].astype(np.uint64) << np.uint64(li % 64)
        return out

    def locus_words(self, loci) -> np.ndarray:
        """The bit masks (see :meth:`_mask_words`) of a set of loci, as one row."""
        out = np.zeros(max(1, -(-len(self.loci) // 64)), dtype=np.uint64)
        for locus in loci:
            li = self.locus_idx[locus]
            out[li // 64] |= np.uint64(1) << np.uint64(li % 64)
        return out

    def common_loci(self, row: int, loci) -> int:
        """Loci among ``loci`` typed in some reference of ``row``."""
        return _common_py(self.ref_mask[row], self.locus_words(loci))

    def extend_loci(self, loci) -> None:
        """Add columns for these loci (every existing row has no reference typed there; its
        LR there still depends on the pedigree when the mutation model is not stationary)."""
        new = sorted(set(loci) - set(self.loci))
        for locus in new:
            if locus not in self._all_tables:
                raise ReuniteError(f"locus {locus!r} is not usable with the frequency table "
                                   f"{self.model.population} (usable: {', '.join(self.model_loci)})")
        for locus in new:
            li = len(self.loci)
            self.loci.append(locus)
            self.locus_idx[locus] = li
            self.tables.append(self._all_tables[locus])
            shapes = list(self.shapes.items())
            cols = {}
            for (structure, m_pos), sid in shapes:
                plan = self.plan(structure, m_pos, frozenset())
                kp = kq = kd = -1
                for part in plan.parts:
                    k = int(self._keys(part, np.zeros((1, 0), dtype=np.int64), li)[0])
                    if part.kind == "Q":
                        kq = k
                    else:
                        kp = k
                if self.theta > 0 and plan.kind == "sides":
                    kd = int(self._d_keys(np.zeros((1, 0), dtype=np.int64), li)[0])
                cols[sid] = (kp, kq, kd)
            lookup = np.array([cols.get(k, (-1, -1, -1)) for k in range(len(self.shapes))],
                              dtype=np.int32).reshape(len(self.shapes), 3)

            def widen(key_p, key_q, row_shape):
                add = lookup[row_shape] if len(row_shape) else np.zeros((0, 3), dtype=np.int32)
                return (np.concatenate([key_p, add[:, :1]], axis=1), np.concatenate([key_q, add[:, 1:2]], axis=1))

            def widen_d(key_d, row_shape):
                if key_d is None:
                    return None
                add = lookup[row_shape] if len(row_shape) else np.zeros((0, 3), dtype=np.int32)
                return np.concatenate([key_d, add[:, 2:]], axis=1)

            self.key_p, self.key_q = widen(self.key_p, self.key_q, self.row_shape)
            if self.key_d is not None:
                self.key_d = widen_d(self.key_d, self.row_shape)
            self._new_parts = [(*widen(kp, kq, rs), rs, *rest[:-1], widen_d(rest[-1], rs))
                               for kp, kq, rs, *rest in self._new_parts]
            words = -(-len(self.loci) // 64)
            if words > self.ref_mask.shape[1]:  # one more word of locus bits

                def wider(mask):
                    return np.concatenate([mask, np.zeros((len(mask), 1), dtype=np.uint64)], axis=1)

                self.ref_mask = wider(self.ref_mask)
                self._new_parts = [(kp, kq, rs, wider(rm), *rest) for kp, kq, rs, rm, *rest in self._new_parts]
        if new:
            self._compute_pending()
            self._combined = None

    def __len__(self) -> int:
        return len(self.family_id)

    def fingerprint(self) -> str:
        """What the index depends on (a stored index is rebuilt when it changes)."""
        from reunite import __version__
        return f"reunite {__version__}; index format {self.FORMAT}; {self.model.describe()}"

    # -- storing --------------------------------------------------------------------------

    #: Raise when what is stored, or how it is computed, changes: stored indexes are rebuilt.
    #: 3: the missing person's birth and missing dates per row (the age filter).
    #: 4: a SHA-256 of the arrays and the number of rows in the document, checked on load.
    #: 5: θ > 0 indexes (key_d and the D keys); the missing row shapes of a later batch kept.
    FORMAT = 5

    def save(self, path) -> None:
        """Write the index to ``path`` (NumPy ``.npz``: arrays and one JSON document; no
        pickled objects, so reading a file cannot run code).

        Atomic: written to ``<path>.tmp-<pid>-<random>`` beside it, flushed to disk, then
        renamed over ``path``; until the rename the old file is untouched, and a failed
        write removes its temporary file.  Temporary files left by a process that was killed
        while saving (its pid is no longer running, or was reused since) are removed first.

        Raises
        ------
        OSError
            if the folder or the file cannot be written.
        """
        import json
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        canons: dict[tuple, int] = {}
        tables = []
        arrays = {}
        for li, tab in enumerate(self.tables):
            entry = {"locus": self.loci[li]}
            for name, registry in (("side_keys", tab.side_keys), ("dense_keys", tab.dense_keys)):
                entry[name] = [[canons.setdefault(canon, len(canons)), list(row), slot]
                               for (canon, row), slot in registry.items()]
            if self.theta > 0:
                entry["d_keys"] = [list(key) for key in tab.d_list]
            tables.append(entry)
            sides, dense = tab.stacked()
            arrays[f"sides_{li}"] = sides
            arrays[f"dense_{li}"] = dense
        meta = {
            "format": self.FORMAT, "fingerprint": self.fingerprint(), "database_id": self.database_id,
            "family_imports": self.family_imports, "model": self.model.to_json(), "loci": self.loci,
            "canons": [list(c) for c in canons], "tables": tables,
            "shapes": [[list(structure), m_pos, sid] for (structure, m_pos), sid in self.shapes.items()],
            "fallback": self.fallback,
        }
        arrays.update(key_p=self.key_p, key_q=self.key_q, row_shape=self.row_shape, family_id=self.family_id,
                      m_sex=self.m_sex, ref_mask=self.ref_mask, m_birth=self.m_birth, m_missing=self.m_missing,
                      family_code=np.array(self.family_code, dtype=str), missing=np.array(self.missing, dtype=str),
                      indexed=np.array(sorted(self.indexed), dtype=np.int64))
        if self.key_d is not None:
            arrays["key_d"] = self.key_d
        meta["rows"] = len(self.family_id)
        meta["checksum"] = arrays_checksum(arrays)  # verified by load: a damaged file is never used
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        write_npz_atomically(path, arrays)

    @classmethod
    def load(cls, path, model) -> "FamilyIndex":
        """Read an index written by :meth:`save` for ``model``.

        Raises
        ------
        DamagedFileError
            if the file is not one: unreadable (truncated, empty), its arrays not those whose
            SHA-256 it recorded, or their sizes inconsistent.
        ReuniteError
            if it was made for another genetic model, format or software version."""
        meta, arrays = read_checked_npz(path, what="family index")
        index = cls(model)
        if meta.get("format") != cls.FORMAT or meta.get("fingerprint") != index.fingerprint():
            raise ReuniteError(f"{path}: made for {meta.get('fingerprint')!r}, not {index.fingerprint()!r}")
        if "checksum" not in meta:
            raise DamagedFileError(f"{path}: a family index without its checksum; it is rebuilt from the database")
        try:
            index._check_sizes(meta, arrays)
            return index._restore(meta, arrays)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DamagedFileError(f"{path}: not a readable family index ({type(exc).__name__}: {exc}); "
                                   "it is rebuilt from the database") from None

    @staticmethod
    def _check_sizes(meta: dict, arrays: dict) -> None:
        """ValueError unless the stored arrays have the sizes the document says."""
        rows, loci = int(meta["rows"]), len(meta["loci"])
        expect = {"key_p": (rows, loci), "key_q": (rows, loci), "ref_mask": (rows, max(1, -(-loci // 64)))}
        if meta["model"].get("theta", 0.0) > 0:
            expect["key_d"] = (rows, loci)
        expect.update({name: (rows,) for name in ("row_shape", "family_id", "m_sex", "m_birth", "m_missing",
                                                    "family_code", "missing")})
        for name, shape in expect.items():
            if arrays[name].shape != shape:
                raise ValueError(f"{name} of shape {arrays[name].shape}, not {shape}")
        if len(meta["tables"]) != loci or any(f"sides_{li}" not in arrays or f"dense_{li}" not in arrays
                                              for li in range(loci)):
            raise ValueError(f"the tables of {loci} loci are not all there")
        shapes = len(meta["shapes"])
        if rows and (arrays["row_shape"].min() < 0 or arrays["row_shape"].max() >= shapes):
            raise ValueError("row shapes out of range")
        if len(arrays["indexed"]) < len(set(arrays["family_id"].tolist())):
            raise ValueError("fewer indexed families than families in the rows")

    def _restore(self, meta: dict, arrays: dict) -> "FamilyIndex":
        index = self
        index.extend_loci(meta["loci"])
        if index.loci != meta["loci"]:
            index.loci[:] = meta["loci"]
            index.locus_idx = {l: k for k, l in enumerate(index.loci)}
            index.tables[:] = [index._all_tables[l] for l in index.loci]
        canons = [_tuples(c) for c in meta["canons"]]
        for li, entry in enumerate(meta["tables"]):
            tab = index.tables[li]
            for name, store, key in (("side_keys", "sides", f"sides_{li}"), ("dense_keys", "dense", f"dense_{li}")):
                registry = {(canons[c], tuple(row)): slot for c, row, slot in entry[name]}
                setattr(tab, name, registry)
                setattr(tab, store, list(arrays[key]))
            if index.theta > 0:
                tab.d_list = [tuple(key) for key in entry["d_keys"]]
                tab.d_keys = {key: k for k, key in enumerate(tab.d_list)}
        index.shapes = {(_tuples(structure), m_pos): sid for structure, m_pos, sid in meta["shapes"]}
        index.database_id = meta["database_id"]
        index.family_imports = list(meta["family_imports"])
        index.fallback = list(meta["fallback"])
        index.key_p, index.key_q = arrays["key_p"], arrays["key_q"]
        if index.theta > 0:
            index.key_d = arrays["key_d"]
        index.row_shape, index.family_id = arrays["row_shape"], arrays["family_id"]
        index.m_sex, index.ref_mask = arrays["m_sex"], arrays["ref_mask"]
        index.m_birth, index.m_missing = arrays["m_birth"], arrays["m_missing"]
        index.family_code = arrays["family_code"].tolist()
        index.missing = arrays["missing"].tolist()
        index.indexed = set(arrays["indexed"].tolist())
        index._combined = None
        return index

    # -- building -------------------------------------------------------------------------

    def plan(self, structure, missing, typed: frozenset[int]) -> Plan:
        key = (structure, missing, typed)
        hit = self._plans.get(key)
        if hit is None:
            make = make_plan_theta if self.theta > 0 else make_plan
            hit = self._plans[key] = make(structure, missing, typed, prune=self.prune)
        return hit

    def _token(self, item):
        """Token id of ``"LOCUS=a/b"`` or ``(locus, (a, b))`` (its locus and genotype code are
        ``_tok_locus[id]``, ``_tok_code[id]``); None if an allele is not in the table or the
        locus is not usable."""
        locus, (a, b) = _split_item(item)
        tab = self._all_tables.get(locus)
        if tab is None:
            return None
        ia, ib = tab.index.get(a), tab.index.get(b)
        if ia is None or ib is None:
            return None
        key = (locus, min(ia, ib), max(ia, ib))
        hit = self._tok_id.get(key)
        if hit is None:
            hit = len(self._tok_locus)
            self._tok_locus.append(self._model_pos[locus])
            self._tok_code.append(min(ia, ib) * len(tab.index) + max(ia, ib))
            self._tok_id[key] = hit
        self._tok_id[item] = hit
        return hit

    def add(self, families) -> None:
        """Index these FamilyRecords (families already indexed are skipped)."""
        self.add_rows(family_rows(f) for f in families)

    def add_rows(self, rows, *, batch: int = 50_000, progress=None) -> None:
        """Index families given as :func:`family_rows` tuples (families already indexed are
        skipped); profiles are dicts or packed text (``"VWA=14/17;..."``).  Taken in
        batches of ``batch`` families; ``progress(n)`` is called after each."""
        rows = iter(rows)
        self._new_parts = []
        while part := list(itertools.islice(rows, batch)):
            self._add_batch(part)
            if progress is not None:
                progress(len(part))
        if self._new_parts:
            parts = list(zip(*self._new_parts))
            (self.key_p, self.key_q, self.row_shape, self.ref_mask, self.m_sex, self.family_id, self.m_birth,
             self.m_missing) = (
                np.concatenate([old, *new]) for old, new in
                zip((self.key_p, self.key_q, self.row_shape, self.ref_mask, self.m_sex, self.family_id,
                     self.m_birth, self.m_missing), parts[:8]))
            if self.key_d is not None:
                self.key_d = np.concatenate([self.key_d, *parts[8]])
        self._new_parts = []
        self._combined = None

    def _add_batch(self, rows) -> None:
        groups: dict[tuple, list] = {}
        get = self._tok_id.get
        for fid, code, structure, positions, profiles, missing in rows:
            if fid in self.indexed:
                continue
            self.indexed.add(fid)
            typed, rare = [], []
            for profile in profiles:
                items = profile.split(";") if isinstance(profile, str) else list(profile.items())
                ids = list(map(get, items))
                extended = {}
                if None in ids:
                    ids = [i if i is not None else self._token(item) for i, item in zip(ids, items)]
                    if None in ids:  # an allele missing from its locus' table, or an unusable locus
                        for i, item in zip(ids, items):
                            if i is None:
                                locus, (a, b) = _split_item(item)
                                if locus not in self._all_tables:
                                    break
                                extended[locus] = (a, b)
                        else:
                            ids = [i for i in ids if i is not None]
                        if len(ids) + len(extended) != len(items):
                            break
                typed.append(ids)
                rare.append(extended)
            else:
                rare = rare if any(rare) else None
                for m_code, m_pos, m_sex, *dates in missing:  # dates: (birth, missing) day numbers
                    birth, gone = dates if dates else (NO_DATE, NO_DATE)
                    groups.setdefault((structure, positions, m_pos), []).append(
                        (fid, code, m_code, SEX_CODE.get(m_sex, 0), typed, rare, birth, gone))
                continue
            self.fallback.append(fid)  # a locus the frequency table cannot be used for
        tok_locus = np.array(self._tok_locus, dtype=np.int64)
        used = np.zeros(len(self.model_loci), dtype=bool)
        for group in groups.values():
            for r in group:
                for ids in r[4]:
                    used[tok_locus[ids]] = True
                for extended in r[5] or ():
                    used[[self._model_pos[locus] for locus in extended]] = True
        self.extend_loci(self.model_loci[k] for k in np.flatnonzero(used))
        for (structure, positions, m_pos), group in groups.items():
            self._add_group(structure, m_pos, positions, group)
        self._compute_pending()
        self._combined = None

    def _add_group(self, structure, m_pos, positions, rows) -> None:
        n_loci = len(self.loci)
        n = len(rows)
        codes = np.full((n, len(positions), n_loci), -1, dtype=np.int32)
        rr, tt, flat = [], [], []
        for r, row in enumerate(rows):
            for t, ids in enumerate(row[4]):
                rr += [r] * len(ids)
                tt += [t] * len(ids)
                flat += ids
        if flat:
            flat = np.array(flat, dtype=np.int64)
            column = np.full(len(self.model_loci), -1, dtype=np.int64)
            column[[self._model_pos[l] for l in self.loci]] = np.arange(n_loci)
            codes[np.array(rr), np.array(tt), column[np.array(self._tok_locus)[flat]]] = \
                np.array(self._tok_code)[flat]
        extended = [(r, t, self.locus_idx[locus]) for r, row in enumerate(rows) if row[5]
                    for t, ext in enumerate(row[5]) for locus in ext]
        for r, t, li in extended:
            codes[r, t, li] = -2  # typed with an allele missing from the table
        key_p = np.full((n, n_loci), -1, dtype=np.int32)
        key_q = np.full((n, n_loci), -1, dtype=np.int32)
        key_d = np.full((n, n_loci), -1, dtype=np.int32) if self.theta > 0 else None
        typed_bits = codes >= 0
        ref_mask = self._mask_words((codes != -1).any(axis=1))
        weights = 1 << np.arange(codes.shape[1], dtype=np.int64)
        col = {p: t for t, p in enumerate(positions)}
        for li in range(n_loci):
            masks = typed_bits[:, :, li].astype(np.int64) @ weights
            masks[(codes[:, :, li] == -2).any(axis=1)] = -1  # computed below
            for mask in np.unique(masks[masks >= 0]):
                sel = np.flatnonzero(masks == mask) if len(masks) > 1 else np.arange(n)
                typed = frozenset(positions[t] for t in range(len(positions)) if (int(mask) >> t) & 1)
                plan = self.plan(structure, m_pos, typed)
                for part in plan.parts:
                    out = key_q if part.kind == "Q" else key_p
                    out[sel, li] = self._keys(part, codes[sel][:, [col[p] for p in part.people], li], li)
                if key_d is not None and plan.kind == "sides":
                    key_d[sel, li] = self._d_keys(codes[sel][:, [col[p] for p in plan.d_people], li], li)
        for r, li in sorted({(r, li) for r, _, li in extended}):
            key_p[r, li] = self._extended_table(structure, m_pos, positions, rows[r], self.loci[li])
            key_q[r, li] = -1
            if key_d is not None:
                key_d[r, li] = -1
        shape = self.shapes.setdefault((structure, m_pos), len(self.shapes))
        self._new_parts.append((key_p, key_q, np.full(n, shape, dtype=np.int32), ref_mask,
                                np.array([r[3] for r in rows], dtype=np.int8),
                                np.array([r[0] for r in rows], dtype=np.int64),
                                np.array([r[6] for r in rows], dtype=np.int32),
                                np.array([r[7] for r in rows], dtype=np.int32), key_d))
        self.family_code.extend(r[1] for r in rows)
        self.missing.extend(r[2] for r in rows)

    def _extended(self, locus: str, genos: dict) -> tuple:
        """The locus' table with the alleles of ``genos`` that it lacks added, as the engine
        does for a case (:class:`reunite.search.engine._LocusTables`):
        (alleles, afreq, male, female, allele -> index)."""
        base = self._all_tables[locus].index
        extra = sorted({a for g in genos.values() for a in g if a not in base})
        tables = self._engine_tables
        return (*tables.family_table(locus, extra), tables.family_index(locus, extra))

    def _extended_table(self, structure, m_pos, positions, row, locus) -> int:
        """A dense table for one family and locus whose references carry an allele missing
        from the table: the engine's LR of every genotype of U (from the table's alleles)
        with the table extended as the engine extends it for the pair."""
        genos = {}
        for t, extended in enumerate(row[5]):
            if locus in extended:
                genos[positions[t]] = extended[locus]
        for t, ids in enumerate(row[4]):
            for i in ids:
                if self.model_loci[self._tok_locus[i]] == locus:
                    tab = self._all_tables[locus]
                    code = self._tok_code[i]
                    genos[positions[t]] = (tab.alleles[code // len(tab.alleles)], tab.alleles[code % len(tab.alleles)])
        li = self.locus_idx[locus]
        tab = self.tables[li]
        key = (("extended", structure, m_pos, tuple(sorted(genos.items()))), ())
        if key in tab.dense_keys:  # the same pedigree and genotypes: the same table
            return tab.dense_keys[key]
        alleles, afreq, male, female, index = self._extended(locus, genos)
        md = MarkerData(np.asarray(afreq), male, female, {p: (index[a], index[b]) for p, (a, b) in genos.items()},
                        self.theta)
        if self.theta > 0:  # every reference kept: P(M | refs) / P(U | refs), both by the engine
            t1, t2 = joint_tables([(structure, md, m_pos), (with_unrelated(structure), md, len(structure))])
            lr = lr_table(t1, t2)
        else:
            t = joint_tables([(structure, md, m_pos)])[0]
            total = t.sum()
            pop = 2.0 * np.outer(afreq, afreq)
            with np.errstate(divide="ignore", invalid="ignore"):
                pred = (t + t.T) / total
                np.fill_diagonal(pred, 2.0 * np.diag(t) / total)
                lr = pred / pop
        base = [index[a] for a in self._all_tables[locus].alleles]
        tab.dense_keys[key] = slot = len(tab.dense)
        tab.dense.append(lr[np.ix_(base, base)])
        return slot

    def _keys(self, part: Part, sub: np.ndarray, li: int) -> np.ndarray:
        """Ids of the distinct genotype rows of ``part`` at locus ``li`` (new ones queued
        for the engine)."""
        tab = self.tables[li]
        for cols in part.exchangeable:
            sub[:, cols] = np.sort(sub[:, cols], axis=1)
        base = len(tab.afreq) ** 2
        if sub.shape[1] and base ** sub.shape[1] < 2**62:
            packed = np.zeros(len(sub), dtype=np.int64)
            for c in range(sub.shape[1]):
                packed = packed * base + sub[:, c]
            upacked, inverse = np.unique(packed, return_inverse=True)
            uniq = np.empty((len(upacked), sub.shape[1]), dtype=np.int64)
            for c in range(sub.shape[1] - 1, -1, -1):
                upacked, uniq[:, c] = np.divmod(upacked, base)
        elif sub.shape[1]:
            uniq, inverse = np.unique(sub, axis=0, return_inverse=True)
        else:
            uniq, inverse = np.zeros((1, 0), dtype=np.int32), np.zeros(len(sub), dtype=np.int64)
        dense = part.kind == "dense"
        registry, store = (tab.dense_keys, tab.dense) if dense else (tab.side_keys, tab.sides)
        canon = (part.kind, part.structure, part.missing, part.local)
        ids = np.empty(len(uniq), dtype=np.int32)
        for u, row in enumerate(uniq.tolist()):
            key = (canon, tuple(row))
            hit = registry.get(key)
            if hit is None:
                hit = registry[key] = len(store)
                store.append(None)
                self._pending.setdefault((li, canon), []).append((hit, row))
            ids[u] = hit
        return ids[inverse.reshape(-1)]

    def _d_keys(self, sub: np.ndarray, li: int) -> np.ndarray:
        """θ > 0: ids of the D keys (the sorted alleles of the typed founders U depends on)
        of genotype codes ``sub`` (rows × founders) at locus ``li``."""
        tab = self.tables[li]
        n = len(tab.afreq)
        alleles = np.sort(np.concatenate([sub // n, sub % n], axis=1), axis=1)
        if alleles.shape[1]:
            uniq, inverse = np.unique(alleles, axis=0, return_inverse=True)
        else:
            uniq, inverse = np.zeros((1, 0), dtype=np.int64), np.zeros(len(sub), dtype=np.int64)
        ids = np.empty(len(uniq), dtype=np.int32)
        for u, row in enumerate(uniq.tolist()):
            key = tuple(row)
            hit = tab.d_keys.get(key)
            if hit is None:
                hit = tab.d_keys[key] = len(tab.d_list)
                tab.d_list.append(key)
            ids[u] = hit
        return ids[inverse.reshape(-1)]

    def _compute_pending(self) -> None:
        """Side vectors and dense tables of the new keys, by the engine, batched."""
        if self.theta > 0:
            return self._compute_pending_theta()
        for (li, (kind, structure, m_pos, local)), new in self._pending.items():
            tab = self.tables[li]
            n = len(tab.afreq)
            store = tab.dense if kind == "dense" else tab.sides
            closed = (_closed_form_siblings(structure, m_pos, local, new, tab) if kind == "dense"
                      else _closed_form_sides(kind, structure, m_pos, local, new, tab))
            if closed is not None:
                for (slot, _), vec in zip(new, closed):
                    store[slot] = vec
                continue
            jobs = []
            for _, row in new:
                genos = {p: divmod(int(c), n) for p, c in zip(local, row)}
                jobs.append((structure, MarkerData(tab.afreq, tab.male, tab.female, genos), m_pos))
            pop = 2.0 * np.outer(tab.afreq, tab.afreq)
            for (slot, _), t in zip(new, joint_tables(jobs)):
                total = t.sum()
                with np.errstate(divide="ignore", invalid="ignore"):
                    if kind == "P":
                        store[slot] = t.sum(axis=1) / total
                    elif kind == "Q":
                        store[slot] = t.sum(axis=0) / total
                    else:
                        pred = (t + t.T) / total
                        np.fill_diagonal(pred, 2.0 * np.diag(t) / total)
                        store[slot] = pred / pop
        self._pending = {}

    def _compute_pending_theta(self) -> None:
        """θ > 0: side vectors P(M's allele | the side's references) and dense tables
        P(M | refs) / P(U | refs), by formula (:func:`.theta.closed_form_sides_theta`) or by
        the engine at θ, batched; many engine tables are shared between the cores
        (:func:`_joint_tables_parallel`, the same numbers)."""
        groups = []
        for (li, (kind, structure, m_pos, local)), new in self._pending.items():
            tab = self.tables[li]
            n = len(tab.afreq)
            store = tab.dense if kind == "dense" else tab.sides
            closed = closed_form_sides_theta(kind, structure, m_pos, local, new, tab, self.theta)
            if closed is not None:
                for (slot, _), vec in zip(new, closed):
                    store[slot] = vec
                continue
            jobs = []
            h2 = with_unrelated(structure)
            for _, row in new:
                genos = {p: divmod(int(c), n) for p, c in zip(local, row)}
                md = MarkerData(tab.afreq, tab.male, tab.female, genos, self.theta)
                jobs.append((structure, md, m_pos))
                if kind == "dense":
                    jobs.append((h2, md, len(structure)))
            groups.append((kind, store, new, jobs))
        results = _joint_tables_parallel([g[3] for g in groups])
        for (kind, store, new, _), tables in zip(groups, results):
            step = 2 if kind == "dense" else 1
            for k, (slot, _) in enumerate(new):
                store[slot] = part_value(kind, tables[step * k], tables[step * k + 1] if step == 2 else None)
        self._pending = {}

    # -- querying -------------------------------------------------------------------------

    def combined(self):
        """Locus-major keys for the scan: sides first, then dense tables, then one 'unit'
        entry per locus (a dense row is scored as (a_p b_unit + b_p a_unit) c with
        a_p = LR / c, b_p = 0, a_unit = 0, b_unit = 1)."""
        if self._combined is None:
            n_sides = np.array([len(t.sides) for t in self.tables], dtype=np.int64)
            n_dense = np.array([len(t.dense) for t in self.tables], dtype=np.int64)
            sizes = n_sides + n_dense + 1
            dtype = np.uint16 if sizes.max(initial=0) <= NARROW_KEYS else np.uint32
            # rows ordered by the missing person's sex: a person of known sex scans only
            # the rows of the same or unknown sex
            order = np.argsort(self.m_sex, kind="stable")
            counts = np.bincount(self.m_sex, minlength=3)
            bounds = np.concatenate([[0], np.cumsum(counts)])
            dense = self.key_q[order] < 0
            kp = np.where(dense, self.key_p[order] + n_sides[None, :], self.key_p[order])
            kq = np.where(dense, (sizes - 1)[None, :], self.key_q[order])
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
            self._combined = (np.ascontiguousarray(kp.T.astype(dtype)), np.ascontiguousarray(kq.T.astype(dtype)),
                              n_sides, n_dense, offsets, int(sizes.sum()), order,
                              [(int(bounds[k]), int(bounds[k + 1])) for k in range(3)],
                              self.m_sex[order], self.ref_mask[order],
                              np.ascontiguousarray(self.m_birth[order]), np.ascontiguousarray(self.m_missing[order]))
            self._combined_d = None
            if self.key_d is not None:  # θ > 0: the D key per row; dense rows use the unit entry
                n_d = np.array([len(t.d_list) for t in self.tables], dtype=np.int64)
                kd = np.where(self.key_d[order] < 0, n_d[None, :], self.key_d[order])
                d_dtype = np.uint16 if n_d.max(initial=0) <= NARROW_KEYS else np.uint32
                self._combined_d = (np.ascontiguousarray(kd.T.astype(d_dtype)),
                                    np.concatenate([[0], np.cumsum(n_d + 1)[:-1]]).astype(np.int64),
                                    int((n_d + 1).sum()))
        return self._combined

    def memory_bytes(self) -> int:
        """Bytes held by the arrays a search uses."""
        kp, kq = self.combined()[:2]
        total = (kp.nbytes + kq.nbytes + self.key_p.nbytes + self.key_q.nbytes + self.ref_mask.nbytes
                 + self.m_sex.nbytes + self.family_id.nbytes + 2 * (self.m_birth.nbytes + self.m_missing.nbytes))
        if self.key_d is not None:
            total += 2 * self.key_d.nbytes
        pairs = getattr(self, "_fast_pairs", None)  # the fast path's pair ids, once made (θ = 0)
        if pairs is not None and pairs[0] is kp:
            total += pairs[1].nbytes
        for tab in self.tables:
            sides, dense = tab.stacked()
            total += sides.nbytes + dense.nbytes
        return total


#: Fewest engine tables (θ > 0 indexing) worth sharing between processes.
PARALLEL_TABLES = 400


def _tables_of(job_lists):
    return [joint_tables(jobs) for jobs in job_lists]


def _joint_tables_parallel(job_lists: list[list]) -> list[list]:
    """``[joint_tables(jobs) for jobs in job_lists]``, the lists shared between the cores
    (forked processes) when there are at least :data:`PARALLEL_TABLES` tables."""
    import os

    cores = min(os.cpu_count() or 1, 8)
    total = sum(len(j) for j in job_lists)
    if cores < 2 or total < PARALLEL_TABLES:
        return _tables_of(job_lists)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # split every list into pieces of about total / (4 cores) tables, dealt round robin
    size = max(50, total // (4 * cores))
    pieces = [(g, k) for g, jobs in enumerate(job_lists) for k in range(0, len(jobs), size)]
    chunks = [[job_lists[g][k:k + size] for g, k in pieces[c::cores]] for c in range(cores)]
    with ProcessPoolExecutor(max_workers=cores, mp_context=multiprocessing.get_context("fork")) as pool:
        done = list(pool.map(_tables_of, chunks))
    out: list[list] = [[None] * len(jobs) for jobs in job_lists]
    for c in range(cores):
        for (g, k), tables in zip(pieces[c::cores], done[c]):
            out[g][k:k + len(tables)] = tables
    return out


def _missing_entry(code: str, position: int, sex: str, birth, missing) -> tuple:
    """(code, position, sex), with (birth, missing) day numbers added when a date is known."""
    if birth is None and missing is None:
        return (code, position, sex)
    from reunite.search.engine import day_number

    return (code, position, sex, day_number(birth), day_number(missing))


def family_rows(f):
    """A ``FamilyRecord`` as :meth:`FamilyIndex.add_rows` takes it:
    (id, code, structure, typed positions, their profiles, [(missing code, position, sex
    [, birth day, missing day])]) (day numbers only when a date is known)."""
    pedigree = f.pedigree
    typed = sorted(f.references, key=pedigree.index.__getitem__)
    return (f.id, f.code, pedigree.structure_key(), tuple(pedigree.index[pid] for pid in typed),
            [f.references[pid] for pid in typed],
            [_missing_entry(m, pedigree.index[m], pedigree[m].sex, *f.dates.get(m, (None, None)))
             for m in f.missing])


def _split_item(item):
    """``"LOCUS=a/b"`` or ``(locus, (a, b))`` as (locus, (a, b))."""
    if isinstance(item, str):
        locus, _, g = item.partition("=")
        a, _, b = g.partition("/")
        return locus, (a, b)
    return item


def _tuples(x):
    """JSON lists back to the tuples the index uses as keys."""
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def member_rows(family_id: int, code: str, members: list[tuple], *, shapes: dict) -> tuple:
    """A family given as member rows ``(_, person, father, mother, sex, role, profile
    [, birth_date, missing_date])`` (profile packed text or None; dates or None) as
    :meth:`FamilyIndex.add_rows` takes it.  Families of the same shape share one pedigree
    validation through the ``shapes`` cache."""
    from reunite.genetics.pedigree import make_pedigree

    local = {m[1]: k for k, m in enumerate(members)}
    try:
        sig = tuple((None if m[2] is None else local[m[2]], None if m[3] is None else local[m[3]], m[4], m[5],
                     m[5] == "reference" and bool(m[6])) for m in members)
    except KeyError:  # a parent named but not listed: numbered in order of appearance
        extra: dict[str, int] = {}

        def ref(person):
            if person is None:
                return None
            return local[person] if person in local else ("x", extra.setdefault(person, len(extra)))

        sig = tuple((ref(m[2]), ref(m[3]), m[4], m[5], m[5] == "reference" and bool(m[6])) for m in members)
    shape = shapes.get(sig)
    if shape is None:
        pedigree = make_pedigree([{"id": m[1], "father": m[2], "mother": m[3], "sex": m[4]} for m in members],
                                 where=f"family {code!r}")
        typed = sorted((k for k, s in enumerate(sig) if s[4]), key=lambda k: pedigree.index[members[k][1]])
        missing = [(k, pedigree.index[m[1]], pedigree[m[1]].sex) for k, m in enumerate(members)
                   if m[5] == "missing"]
        shape = shapes[sig] = (pedigree.structure_key(), typed,
                               tuple(pedigree.index[members[k][1]] for k in typed), missing)
    structure, typed, positions, missing = shape
    return (family_id, code, structure, positions, [members[k][6] for k in typed],
            [(members[k][1], pos, sex) if len(members[k]) < 9 or (members[k][7] is None and members[k][8] is None)
             else _missing_entry(members[k][1], pos, sex, members[k][7], members[k][8])
             for k, pos, sex in missing])
