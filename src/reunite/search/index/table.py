"""The family index (see :mod:`reunite.search.index` for the maths): its rows, per-locus
tables and stored arrays (save/load, index file format 4), and the family row helpers."""

from __future__ import annotations

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
from reunite.search.index.build import (  # noqa: F401  (family_rows, member_rows: the index's row makers)
    IndexBuild,
    _missing_entry,
    _split_item,
    family_rows,
    member_rows,
)
from reunite.search.index.kernels import _common_py
from reunite.search.index.plan import Plan
from reunite.search.index.query import MIN_ROWS_PER_THREAD, SEX_CODE, IndexQueries  # noqa: F401
from reunite.search.index.theta import closed_form_sides_theta, part_value, with_unrelated

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


class FamilyIndex(IndexBuild, IndexQueries):
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

    # -- building (the rest in index/build.py) ---------------------------------------------

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


def _tuples(x):
    """JSON lists back to the tuples the index uses as keys."""
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x
