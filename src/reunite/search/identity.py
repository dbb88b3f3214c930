"""Identity checks: profiles that are identical, identical at every common locus, or one
locus apart.

An unidentified person whose profile is (almost) the profile of a reference is a possible
sample mix-up (the child's sample may be the parent's); almost the profile of another
unidentified person, a duplicate registration or a contamination.  The search flags these on
every candidate (:meth:`IdentityLookup.flag`) and ``reunite stats`` lists them
(:meth:`IdentityLookup.pairs`).

For two profiles A and B with typed loci S_A and S_B, common loci C = S_A ∩ S_B and d the
number of loci of C at which their genotypes differ, a pair is reported as

- ``identical``: S_A = S_B (not empty) and d = 0, whatever the number of loci;
- ``identical_common_loci``: S_A != S_B, d = 0 and |C| >= ``min_common_loci`` (the
  database's minimum of common loci): one profile a subset of the other, or both typed at
  loci the other lacks;
- ``one_locus_apart``: d = 1 and |C| >= ``min_common_loci`` (the locus is named).

Every such pair is found, whatever the loci typed (no sampling, no heuristics).  Profiles
are grouped by their set of typed loci (coverage).  For a query group and a target group
with |C| >= ``min_common_loci`` (or the same coverage), each profile's genotypes on C are hashed (the sum, mod
2^64, of a 64-bit mix of every (locus, genotype)), and so is each leave-one-out sum (the
hash less one locus' term); equal hashes on C give the d = 0 candidates, equal leave-one-out
hashes at locus l the d = 1 candidates differing at l.  Every candidate pair is then
checked genotype by genotype, so a hash collision never makes a flag.  The cost is
(|C| + 1) sorts per (target group, C): linear in the number of profiles times the number of
coverages paired, never a scan of all pairs.  A handful of queries (at most
:data:`SCAN_MAX_QUERIES`) is compared with every profile directly instead, by a compiled
single pass over the genotype matrix that leaves a profile at its second differing locus
(:func:`scan_numpy` is the NumPy reference it is tested against), with the same result.

The entries are kept as a genotype matrix ``(profiles, loci)`` of int16 (int32 past 32,767
genotypes at a locus; -1 untyped, else the genotype's code at that locus) and their holders
as columns (:class:`Holders`), so that a lookup of millions of profiles is saved to, and
read back from, one ``.npz`` file in a fraction of a second (:meth:`IdentityLookup.save`,
:meth:`IdentityLookup.load`; the database side is :func:`reunite.search.service.identity_cache`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from reunite.errors import ReuniteError

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency, this is a safety net
    numba = None

#: Query counts up to this are compared with every profile directly (no hash tables); more
#: queries by whichever of the two costs less (:meth:`IdentityLookup._found`); 0: never directly.
SCAN_MAX_QUERIES = 8

KINDS = ("identical", "identical_common_loci", "one_locus_apart")

#: Version of the saved lookup (raise when what is stored, or how, changes: files are rebuilt).
CACHE_FORMAT = 2  # 2: a SHA-256 of the arrays in the document, checked on load

HOLDER_KINDS = ("reference", "unidentified", "sample")

_OUTSIDE = (1 << 31) - 1  # token locus column: a locus outside the lookup
_UNSEEN = (1 << 32) - 2  # token genotype code: a genotype no entry has
_BLOCK = 65_536  # profiles added are encoded into the matrix in blocks of this many

#: Order of the relations on a candidate's flags (the family's own references first).
RELATIONS = ("this_family_reference", "other_family_reference", "unidentified", "sample")

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED = np.uint64(0x9E3779B97F4A7C15)


def _mix(locus: int, codes: np.ndarray) -> np.ndarray:
    """A 64-bit mix (splitmix64) of (locus, genotype code) for every code; 0 where untyped."""
    x = (np.uint64(locus) << np.uint64(32)) ^ codes.astype(np.int64).astype(np.uint64)
    x = x + _SEED
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    x = x ^ (x >> np.uint64(31))
    return np.where(codes >= 0, x, np.uint64(0))


def _coverages(typed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a (profiles, loci) boolean array and each profile's row number."""
    if len(typed) == 0:
        return np.zeros((0, typed.shape[1]), dtype=bool), np.zeros(0, dtype=np.int64)
    packed = np.packbits(typed, axis=1)
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).reshape(-1)
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    return typed[first], group.reshape(-1)


# -- the direct scan of a few queries -----------------------------------------------------

def scan_numpy(g: np.ndarray, qg: np.ndarray, extra: np.ndarray, min_common: int) -> list[tuple]:
    """Every query against every entry, directly, in NumPy (the reference of the compiled
    scan): ``(query, entry, kind, common loci, differing locus column or None)``.

    ``g``: entries' genotype codes (profiles, loci), -1 untyped; ``qg``: the queries', -1
    untyped, -2 a genotype no entry has; ``extra[q]``: query q is typed at a locus outside
    the lookup."""
    typed = g >= 0
    out = []
    for q in range(len(qg)):
        tq = qg[q] != -1  # -2: typed with a genotype no entry has
        both = typed & tq[None, :]
        common = both.sum(axis=1)
        diff = (g != qg[q][None, :]) & both
        d = diff.sum(axis=1)
        same = (typed == tq[None, :]).all(axis=1) & ~extra[q]
        hit = np.flatnonzero(((common >= min_common) & (d <= 1)) | (same & (common >= 1) & (d == 0)))
        for t, c, dd, s in zip(hit.tolist(), common[hit].tolist(), d[hit].tolist(), same[hit].tolist()):
            if dd == 0:
                out.append((q, t, "identical" if s else "identical_common_loci", c, None))
            else:
                out.append((q, t, "one_locus_apart", c, int(np.flatnonzero(diff[t])[0])))
    return out


def _scan_one_py(g, q, extra, min_common, order, out):
    """One query ``q`` (loci,) against every row of ``g`` in a single pass, the loci taken in
    ``order`` (a permutation of the columns: the least often shared first), each row left at
    its second differing locus (the compiled kernel :func:`_scan_one` is this function).
    Writes ``(entry, kind index, common loci, differing locus or -1)`` rows into ``out`` (as
    many as fit) and returns how many matches there are."""
    n = g.shape[0]
    found = 0
    for t in range(n):
        common = 0
        d = 0
        first = -1
        same = not extra
        for j in range(order.size):
            li = order[j]
            gt = g[t, li]
            qq = q[li]
            if gt >= 0:
                if qq != -1:
                    common += 1
                    if gt != qq:
                        d += 1
                        if d > 1:
                            break
                        first = li
                else:
                    same = False
            elif qq != -1:
                same = False
        if d > 1:
            continue
        if d == 0:
            if same and common >= 1:
                kind = 0
            elif common >= min_common:
                kind = 1
            else:
                continue
        elif common >= min_common:
            kind = 2
        else:
            continue
        if found < out.shape[0]:
            out[found, 0] = t
            out[found, 1] = kind
            out[found, 2] = common
            out[found, 3] = first
        found += 1
    return found


if numba is not None:
    _scan_one = numba.njit(cache=True, nogil=True)(_scan_one_py)
else:  # pragma: no cover
    _scan_one = _scan_one_py


def scan_order(g: np.ndarray) -> np.ndarray:
    """The columns of ``g`` by how often two entries share a genotype there (the sum of the
    squared genotype frequencies, from up to 100,000 entries), least often first: the order in
    which the scan reaches a second differing locus soonest (any order gives the same result)."""
    columns = np.ascontiguousarray(g[::max(1, len(g) // 100_000)].T).astype(np.int64)
    shared = []
    for column in columns:
        counts = np.bincount(column[column >= 0])
        shared.append(float((counts.astype(float) ** 2).sum() / max(1, counts.sum()) ** 2))
    return np.argsort(np.array(shared), kind="stable").astype(np.int64)


def scan_compiled(g: np.ndarray, qg: np.ndarray, extra: np.ndarray, min_common: int,
                  order: np.ndarray | None = None) -> list[tuple]:
    """:func:`scan_numpy`'s result, by the compiled single pass (:func:`_scan_one`);
    ``order``: the loci in the order to compare them (default: :func:`scan_order`)."""
    order = scan_order(g) if order is None else np.ascontiguousarray(order, dtype=np.int64)
    out_rows = []
    buf = np.empty((256, 4), dtype=np.int64)
    for q in range(len(qg)):
        query = np.ascontiguousarray(qg[q], dtype=np.int64)
        found = _scan_one(g, query, bool(extra[q]), int(min_common), order, buf)
        if found > len(buf):
            buf = np.empty((found, 4), dtype=np.int64)
            found = _scan_one(g, query, bool(extra[q]), int(min_common), order, buf)
        for t, kind, common, locus in buf[:found].tolist():
            out_rows.append((q, t, KINDS[kind], common, None if kind != 2 else locus))
    return out_rows


# -- holders ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Holder:
    """Whose profile an entry of the lookup is."""

    sample: str  # sample code
    kind: str  # "reference", "unidentified" or "sample" (a profile given to nobody yet)
    person: str | None = None  # person code (family member or unidentified person)
    family_id: int | None = None
    family_code: str | None = None
    unidentified_id: int | None = None


class _Texts:
    """Many short strings as one UTF-8 buffer and their end offsets: a million codes are
    read in one piece and decoded one at a time when needed.  None is stored as ""."""

    def __init__(self, blob: bytes, ends: np.ndarray):
        self.blob = blob
        self.ends = ends

    @classmethod
    def of(cls, values) -> "_Texts":
        encoded = [(v or "").encode() for v in values]
        ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
        return cls(b"".join(encoded), ends)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, k: int) -> str | None:
        start = int(self.ends[k - 1]) if k else 0
        return self.blob[start:int(self.ends[k])].decode() or None

    @classmethod
    def join(cls, parts) -> "_Texts":
        """The strings of ``parts``, one after the other."""
        shifts = np.cumsum([0] + [len(p.blob) for p in parts[:-1]])
        return cls(b"".join(p.blob for p in parts),
                   np.concatenate([np.zeros(0, dtype=np.int64)] + [p.ends + k for p, k in zip(parts, shifts)]))


class Holders:
    """Whose profile each entry of a lookup is (``holders[k]``: a :class:`Holder`), kept as
    columns: a list of Holder objects would take seconds to make for millions of entries."""

    def __init__(self):
        self._n = 0  # entries in the columns below
        self._kind = np.zeros(0, dtype=np.int8)  # index in HOLDER_KINDS
        self._family_id = np.zeros(0, dtype=np.int64)  # -1: none
        self._unidentified_id = np.zeros(0, dtype=np.int64)  # -1: none
        self._texts = {name: _Texts.of([]) for name in ("sample", "person", "family_code")}
        self._chunks: list[tuple] = []  # added since, in order: columns (see :meth:`extend`)
        self._more: list[tuple] = []  # added one by one since the last chunk: rows
        self._pending = 0
        self._order = None  # (sorted unidentified ids, their entries), made when needed

    def __len__(self) -> int:
        return self._n + self._pending

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __getitem__(self, k: int) -> Holder:
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(k)
        self.compact()
        fid, uid = int(self._family_id[k]), int(self._unidentified_id[k])
        return Holder(self._texts["sample"][k], HOLDER_KINDS[self._kind[k]], self._texts["person"][k],
                      None if fid < 0 else fid, self._texts["family_code"][k], None if uid < 0 else uid)

    def append(self, holder: Holder) -> None:
        self._more.append((holder.kind, holder.sample, holder.person, holder.family_id, holder.family_code,
                           holder.unidentified_id))
        self._pending += 1

    def extend(self, columns) -> None:
        """Add holders given as columns: (kinds, samples, persons, family ids, family codes,
        unidentified ids), each a sequence (None where there is none)."""
        columns = tuple(columns)
        if self._more:
            more, self._more = self._more, []
            self._chunks.append(self._columns(tuple(zip(*more))))
        if columns and len(columns[0]):
            self._chunks.append(self._columns(columns))
            self._pending += len(columns[0])

    @staticmethod
    def _columns(columns) -> tuple:
        """Columns as arrays and texts (few Python objects are kept: building stays linear)."""
        kind, sample, person, fid, fcode, uid = columns
        code = {k: i for i, k in enumerate(HOLDER_KINDS)}
        try:
            kinds = np.fromiter(map(code.__getitem__, kind), dtype=np.int8, count=len(kind))
        except KeyError as exc:
            raise ValueError(f"holder kind must be one of {HOLDER_KINDS}, found {exc.args[0]!r}") from None
        return (kinds, np.array([-1 if v is None else v for v in fid], dtype=np.int64),
                np.array([-1 if v is None else v for v in uid], dtype=np.int64),
                _Texts.of(sample), _Texts.of(person), _Texts.of(fcode))

    def compact(self) -> None:
        """Fold the holders added since into the columns."""
        if not self._pending:
            return
        self.extend(())
        parts = [(self._kind, self._family_id, self._unidentified_id, self._texts["sample"], self._texts["person"],
                  self._texts["family_code"])] + self._chunks
        kinds, fids, uids, samples, persons, fcodes = zip(*parts)
        self._kind, self._family_id = np.concatenate(kinds), np.concatenate(fids)
        self._unidentified_id = np.concatenate(uids)
        self._texts = {"sample": _Texts.join(samples), "person": _Texts.join(persons),
                       "family_code": _Texts.join(fcodes)}
        self._n += self._pending
        self._chunks, self._pending, self._order = [], 0, None

    def kinds_and_families(self) -> tuple[np.ndarray, np.ndarray]:
        """Per entry: the index of its kind in HOLDER_KINDS, and its family id (-1: none)."""
        self.compact()
        return self._kind, self._family_id

    def unidentified_entries(self, ids) -> list[int]:
        """The entry of each unidentified person (database id), -1 where it has none."""
        self.compact()
        if self._order is None:
            order = np.flatnonzero(self._unidentified_id >= 0)
            order = order[np.argsort(self._unidentified_id[order], kind="stable")]
            self._order = (self._unidentified_id[order], order)
        keys, entries = self._order
        ids = np.fromiter(ids, dtype=np.int64)
        if len(keys) == 0:
            return [-1] * len(ids)
        at = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        return np.where(keys[at] == ids, entries[at], -1).tolist()

    def arrays(self) -> dict[str, np.ndarray]:
        """The columns as arrays (for :meth:`IdentityLookup.save`)."""
        self.compact()
        out = {"holder_kind": self._kind, "family_id": self._family_id, "unidentified_id": self._unidentified_id}
        for name, texts in self._texts.items():
            out[f"{name}_text"] = np.frombuffer(texts.blob, dtype=np.uint8)
            out[f"{name}_ends"] = texts.ends
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n: int) -> "Holders":
        """Holders read back from :meth:`arrays`; ValueError if they do not hold ``n`` entries."""
        out = cls()
        out._kind = np.asarray(arrays["holder_kind"], dtype=np.int8)
        out._family_id = np.asarray(arrays["family_id"], dtype=np.int64)
        out._unidentified_id = np.asarray(arrays["unidentified_id"], dtype=np.int64)
        for name in out._texts:
            blob, ends = arrays[f"{name}_text"], np.asarray(arrays[f"{name}_ends"], dtype=np.int64)
            if blob.dtype != np.uint8 or len(ends) != n or (n and (ends[-1] != len(blob) or ends[0] < 0
                                                                   or np.any(np.diff(ends) < 0))):
                raise ValueError(f"{name} codes do not match {n} entries")
            out._texts[name] = _Texts(blob.tobytes(), ends)
        if not (len(out._kind) == len(out._family_id) == len(out._unidentified_id) == n):
            raise ValueError(f"holder columns do not hold {n} entries")
        if n and (out._kind.min() < 0 or out._kind.max() >= len(HOLDER_KINDS)):
            raise ValueError("holder kinds out of range")
        out._n = n
        return out


@dataclass(frozen=True)
class Match:
    """One near-duplicate: the lookup entry ``target``, the kind, the number of common loci,
    and the differing locus (``one_locus_apart`` only)."""

    target: int
    kind: str
    common_loci: int
    locus: str | None = None


class IdentityLookup:
    """Every profile of a database, ready for identity checks (see the module doc).

    ``min_common_loci``: a pair other than ``identical`` is reported only with at least this
    many common loci.  ``token``: what the lookup was built from (set and compared by
    :func:`reunite.search.service.identity_cache`; saved with it).
    """

    def __init__(self, *, min_common_loci: int):
        self.min_common_loci = max(1, int(min_common_loci))
        self.holders = Holders()
        self.loci: list[str] = []
        self.token: dict | None = None
        self._locus_idx: dict[str, int] = {}
        self._geno: list[dict] = []  # per locus: genotype (sorted alleles) -> code
        self._blocks: list[np.ndarray] = []  # encoded entries: genotype codes, -1 untyped
        self._rows: list[list[int]] = []  # entries not encoded yet: tokens (locus column << 32 | code)
        self._token: dict[str, int] = {}  # "LOCUS=a/b" -> token
        self._scan_order: np.ndarray | None = None  # see scan_order

    def __len__(self) -> int:
        return len(self.holders)

    # -- building -------------------------------------------------------------------------

    def add(self, holder: Holder, profile: dict[str, tuple[str, str]] | str) -> None:
        """Add one profile: locus -> (allele, allele), or packed text ``"VWA=14/17;..."``."""
        self.holders.append(holder)
        self._rows.append(self._packed(profile) if isinstance(profile, str) else self._encode(profile, grow=True))
        if len(self._rows) >= _BLOCK:
            self._encode_rows()

    def add_rows(self, rows) -> None:
        """Add many profiles at once (a faster :meth:`add`): ``(kind, sample, person,
        family_id, family_code, unidentified_id, packed profile)`` tuples, ``kind`` one of
        :data:`HOLDER_KINDS`."""
        rows = list(rows)
        if not rows:
            return
        columns = list(zip(*rows))
        self.holders.extend(columns[:6])
        self._encode_rows()
        profiles = columns[6]
        for start in range(0, len(profiles), _BLOCK):
            self._blocks.append(self._packed_block(profiles[start:start + _BLOCK]))

    def _packed_block(self, profiles) -> np.ndarray:
        """Genotype codes (int32, -1 untyped) of packed profiles, all parsed at once."""
        lens = np.fromiter((p.count(";") + 1 if p else 0 for p in profiles), dtype=np.int64, count=len(profiles))
        items = ";".join(filter(None, profiles)).split(";") if lens.sum() else []
        flat = np.fromiter(map(self._token.get, items, itertools.repeat(-1)), dtype=np.int64, count=len(items))
        unseen = np.flatnonzero(flat < 0).tolist()
        if unseen:  # items not seen before: each coded once
            for item in dict.fromkeys(items[k] for k in unseen):
                self._packed(item)
            flat[unseen] = [self._token[items[k]] for k in unseen]
        g = np.full((len(profiles), max(1, len(self.loci))), -1, dtype=np.int32)
        g[np.repeat(np.arange(len(profiles)), lens), flat >> 32] = flat & 0xFFFFFFFF
        return g

    def _packed(self, profile: str) -> list[int]:
        """Tokens of a packed profile (cached per ``LOCUS=a/b`` item)."""
        get = self._token.get
        items = profile.split(";") if profile else []
        tokens = list(map(get, items))
        if None in tokens:
            for k, item in enumerate(items):
                if tokens[k] is None:
                    locus, _, g = item.partition("=")
                    a, _, b = g.partition("/")
                    tokens[k] = self._token[item] = self._encode({locus: (a, b)}, grow=True)[0]
        return tokens

    @classmethod
    def from_records(cls, unidentified, families, *, min_common_loci: int) -> "IdentityLookup":
        """A lookup of the references of ``families`` and the profiles of ``unidentified``
        (the search's records; sample codes are not known there, the person's code is used)."""
        out = cls(min_common_loci=min_common_loci)
        for f in families:
            for person, profile in sorted(f.references.items()):
                out.add(Holder(person, "reference", person, f.id, f.code), profile)
        for u in unidentified:
            out.add(Holder(u.code, "unidentified", u.code, unidentified_id=u.id), u.profile)
        return out

    def _encode(self, profile, *, grow: bool) -> list[int]:
        """Tokens (locus column << 32 | genotype code) of a profile; loci and genotypes the
        lookup has not seen are added (``grow``), or coded as genotype 2^32 - 2 (matches
        nothing) and locus column 2^31 - 1 (a locus no entry is typed at)."""
        out = []
        for locus, (a, b) in profile.items():
            li = self._locus_idx.get(locus)
            if li is None:
                if not grow:
                    out.append(_OUTSIDE << 32)
                    continue
                li = self._locus_idx[locus] = len(self.loci)
                self.loci.append(locus)
                self._geno.append({})
            key = (a, b) if a <= b else (b, a)
            codes = self._geno[li]
            code = codes.get(key)
            if code is None:
                if not grow:
                    out.append(li << 32 | _UNSEEN)
                    continue
                code = codes[key] = len(codes)
            out.append(li << 32 | code)
        return out

    def _matrix(self, rows, dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
        """(genotype codes (profiles, loci): -1 untyped, -2 a genotype no entry has; whether
        a profile is typed at a locus outside the lookup)."""
        g = np.full((len(rows), max(1, len(self.loci))), -1, dtype=dtype)
        extra = np.zeros(len(rows), dtype=bool)
        lens = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(lens.sum()))
        r = np.repeat(np.arange(len(rows)), lens)
        li, code = flat >> 32, flat & 0xFFFFFFFF
        outside = li == _OUTSIDE
        extra[r[outside]] = True
        inside = ~outside
        g[r[inside], li[inside]] = np.where(code[inside] == _UNSEEN, -2, code[inside])
        return g, extra

    def _encode_rows(self) -> None:
        """Encode the entries added since into a block of the genotype matrix."""
        if self._rows:
            self._blocks.append(self._matrix(self._rows, np.int32)[0])
            self._rows = []

    def genotypes(self) -> np.ndarray:
        """The entries' genotype codes, (profiles, loci): -1 untyped, else the genotype's code
        at that locus; int16 (int32 where a locus has more than 32,767 genotypes)."""
        self._encode_rows()
        width = max(1, len(self.loci))
        dtype = np.int16 if max(map(len, self._geno), default=0) <= np.iinfo(np.int16).max else np.int32
        if len(self._blocks) == 1 and self._blocks[0].shape[1] == width and self._blocks[0].dtype == dtype:
            return self._blocks[0]
        g = np.full((sum(len(b) for b in self._blocks), width), -1, dtype=dtype)
        at = 0
        for b in self._blocks:
            g[at:at + len(b), :b.shape[1]] = b
            at += len(b)
        self._blocks = [g]
        return g

    def _hash_state(self, g: np.ndarray):
        """(per-entry locus hashes, coverages, the entries of each coverage) for :meth:`_hashed`."""
        h = np.zeros(g.shape, dtype=np.uint64)
        for li in range(g.shape[1]):
            h[:, li] = _mix(li, g[:, li])
        masks, group = _coverages(g >= 0)
        order = np.argsort(group, kind="stable")
        members = np.split(order, np.cumsum(np.bincount(group, minlength=len(masks)))[:-1])
        return h, masks, members

    # -- storing --------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write the lookup to ``path``: NumPy ``.npz``, arrays and one JSON document (the
        loci, each locus' genotypes in code order, :attr:`token`, the format and software
        version); no pickled objects, so reading a file cannot run code.  Atomic, as
        :meth:`reunite.search.index.FamilyIndex.save`: written beside it, flushed, renamed.

        Raises
        ------
        OSError
            if the folder or the file cannot be written (the old file is left as it was).
        """
        import json
        from pathlib import Path

        from reunite import __version__
        from reunite.search.index import arrays_checksum, remove_stale_temporaries, write_npz_atomically

        path = Path(path)
        g = self.genotypes()
        meta = {"format": CACHE_FORMAT, "software": f"reunite {__version__}", "token": self.token,
                "loci": self.loci, "entries": len(self),
                "genotypes": [[list(k) for k in sorted(codes, key=codes.get)] for codes in self._geno]}
        if self._scan_order is None or len(self._scan_order) != g.shape[1]:
            self._scan_order = scan_order(g)
        arrays = {"genotypes": g, "scan_order": self._scan_order, **self.holders.arrays()}
        meta["checksum"] = arrays_checksum(arrays)  # verified by load: a damaged file is never used
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        write_npz_atomically(path, arrays)

    @classmethod
    def load(cls, path, *, min_common_loci: int) -> "IdentityLookup":
        """Read a lookup written by :meth:`save`.

        Raises
        ------
        DamagedFileError
            (a ReuniteError) if the file is not one: unreadable (truncated, empty), its arrays
            not those whose SHA-256 it recorded, or inconsistent.
        ReuniteError
            if it was written by another format or software version.
        """
        from reunite import __version__
        from reunite.search.index import DamagedFileError, read_checked_npz

        meta, arrays = read_checked_npz(path, what="identity lookup")
        made = (meta.get("format"), meta.get("software"))
        if made != (CACHE_FORMAT, f"reunite {__version__}"):
            raise ReuniteError(f"{path}: an identity lookup of format {made[0]!r} by {made[1]!r}, not format "
                               f"{CACHE_FORMAT} by 'reunite {__version__}'")
        if "checksum" not in meta:
            raise DamagedFileError(f"{path}: an identity lookup without its checksum; it is rebuilt from the database")
        try:
            return cls(min_common_loci=min_common_loci)._restore(meta, arrays)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DamagedFileError(f"{path}: not a readable identity lookup ({type(exc).__name__}: {exc}); "
                                   "it is rebuilt from the database") from None

    def _restore(self, meta: dict, arrays: dict) -> "IdentityLookup":
        n = int(meta["entries"])
        loci = [str(locus) for locus in meta["loci"]]
        if len(set(loci)) != len(loci) or len(meta["genotypes"]) != len(loci):
            raise ValueError("the loci and their genotypes do not match")
        geno = []
        for codes in meta["genotypes"]:
            table = {(str(a), str(b)): k for k, (a, b) in enumerate(codes)}
            if len(table) != len(codes) or any(a > b for a, b in table):
                raise ValueError("a locus' genotypes are repeated or not in order")
            geno.append(table)
        g = arrays["genotypes"]
        if g.dtype not in (np.int16, np.int32) or g.shape != (n, max(1, len(loci))):
            raise ValueError(f"genotypes of shape {g.shape} and type {g.dtype}, not ({n}, {max(1, len(loci))})")
        if n and (g.min() < -1 or np.any(g.max(axis=0) >= np.array([len(c) for c in geno] or [0]))):
            raise ValueError("genotype codes out of range")
        self.holders = Holders.from_arrays(arrays, n)
        self.loci = loci
        self._locus_idx = {locus: k for k, locus in enumerate(loci)}
        self._geno = geno
        self._blocks = [g] if n else []
        order = arrays.get("scan_order")
        if order is not None and sorted(order.tolist()) == list(range(g.shape[1])):
            self._scan_order = order.astype(np.int64)
        self.token = meta.get("token")
        return self

    # -- matching -------------------------------------------------------------------------

    def matches(self, profiles, *, exclude=None) -> list[list[Match]]:
        """For each profile, the lookup entries it is identical to, identical to at every
        common locus, or one locus apart from (``exclude[k]``: an entry left out for
        profile k, e.g. the person's own)."""
        rows = [self._encode(p, grow=False) for p in profiles]
        qg, extra = self._matrix(rows)
        if len(self.holders) == 0 or len(rows) == 0:
            return [[] for _ in rows]
        g = self.genotypes()
        found = self._found(g, qg, extra)
        out: list[list[Match]] = [[] for _ in rows]
        for q, t, kind, common, locus in found:
            if exclude is not None and exclude[q] == t:
                continue
            out[q].append(Match(t, kind, common, None if locus is None else self.loci[locus]))
        for ms in out:
            ms.sort(key=lambda m: (m.target, m.kind))
        return out

    def pairs(self) -> list[tuple[int, int, Match]]:
        """Every near-duplicate pair of the lookup's entries, (i, j, match of j) with i < j,
        except two family references of different families: a family's references are
        compared with unidentified persons only (their consent), never with another family's."""
        g = self.genotypes()
        found = self._found(g, g, np.zeros(len(g), dtype=bool))
        reference = HOLDER_KINDS.index("reference")
        kinds, families = self.holders.kinds_and_families()
        out = [(q, t, Match(t, kind, common, None if locus is None else self.loci[locus]))
               for q, t, kind, common, locus in found if q < t
               and not (kinds[q] == reference and kinds[t] == reference and families[q] != families[t])]
        out.sort(key=lambda x: (x[0], x[1]))
        return out

    def _found(self, g, qg, extra):
        """Every query against every entry, by the compiled scan or the hash tables, whichever
        costs less: the scan about 6 ns per query and entry; the hash tables about (loci + 1)
        sorts, some 10 us of Python each, per pair of coverages (query's, entries'), which
        dominates when the profiles are typed at many different sets of loci (dropouts,
        kits) — 310 coverages among 6,640 simulated profiles took 20 s by the tables, 0.3 s
        by the scan."""
        scan = len(qg) <= SCAN_MAX_QUERIES
        if not scan and SCAN_MAX_QUERIES > 0:  # 0: the hash tables always (tests)
            pairs = len(_coverages(np.asarray(qg) != -1)[0]) * len(_coverages(g >= 0)[0])
            scan = len(qg) * len(g) * 6e-9 < pairs * (g.shape[1] + 1) * 1e-5
        if not scan:
            return self._hashed(g, qg, extra)
        if self._scan_order is None or len(self._scan_order) != g.shape[1]:
            self._scan_order = scan_order(g)  # a hint: kept as entries are added
        return scan_compiled(g, qg, extra, self.min_common_loci, self._scan_order)

    def _hashed(self, g, qg, extra):
        """Every query against every entry through hash tables per coverage (module doc)."""
        h, masks, members = self._hash_state(g)
        tables: dict = {}

        def target_table(b: int, cols: tuple[int, ...], drop: int | None):
            """Sorted hashes of target group ``b`` on loci ``cols`` (less locus ``drop``):
            (order of the group's members, sorted hashes); cached for this call."""
            key = (b, cols, drop)
            hit = tables.get(key)
            if hit is None:
                idx = members[b]
                full = tables.get((b, cols, "sum"))
                if full is None:
                    full = tables[(b, cols, "sum")] = h[idx][:, list(cols)].sum(axis=1, dtype=np.uint64)
                hashes = full if drop is None else full - h[idx, drop]
                order = np.argsort(hashes, kind="stable")
                hit = tables[key] = (idx[order], hashes[order])
            return hit

        qg = np.asarray(qg, dtype=np.int64)
        qh = np.zeros(qg.shape, dtype=np.uint64)
        for li in range(qg.shape[1]):
            qh[:, li] = _mix(li, np.where(qg[:, li] == -2, -1, qg[:, li]))
        q_unknown = qg == -2  # a genotype no entry has: typed, but matches nobody there
        q_typed = qg != -1
        q_masks, q_group = _coverages(q_typed)
        common = q_masks.astype(np.int64) @ masks.T.astype(np.int64)
        out = []
        for a in range(len(q_masks)):
            qa = np.flatnonzero(q_group == a)
            same_mask = (masks == q_masks[a][None, :]).all(axis=1)
            for b in np.flatnonzero((common[a] >= self.min_common_loci) | (same_mask & (common[a] >= 1))).tolist():
                cols = tuple(np.flatnonzero(q_masks[a] & masks[b]).tolist())
                same_cov = bool(same_mask[b])
                enough = len(cols) >= self.min_common_loci  # else: identical ones only
                # a query whose genotype at a common locus no entry has can only match
                # entries one locus apart, at that locus
                full = qh[qa][:, list(cols)].sum(axis=1, dtype=np.uint64)
                for drop in (None, *cols) if enough else (None,):
                    idx, sorted_h = target_table(b, cols, drop)
                    key = full if drop is None else full - qh[qa, drop]
                    lo = np.searchsorted(sorted_h, key, "left")
                    hi = np.searchsorted(sorted_h, key, "right")
                    counts = hi - lo
                    total = int(counts.sum())
                    if total == 0:
                        continue
                    qi = np.repeat(qa, counts)
                    pos = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
                    ti = idx[pos]
                    diff = (qg[qi][:, list(cols)] != g[ti][:, list(cols)]) | q_unknown[qi][:, list(cols)]
                    d = diff.sum(axis=1)
                    if drop is None:
                        for q, t in zip(qi[d == 0].tolist(), ti[d == 0].tolist()):
                            kind = "identical" if same_cov and not extra[q] else "identical_common_loci"
                            if kind == "identical" or enough:
                                out.append((q, t, kind, len(cols), None))
                    else:
                        at = cols.index(drop)
                        ok = (d == 1) & diff[:, at]
                        for q, t in zip(qi[ok].tolist(), ti[ok].tolist()):
                            out.append((q, t, "one_locus_apart", len(cols), drop))
        return out

    # -- flags on candidates --------------------------------------------------------------

    def flag(self, cands) -> None:
        """Set ``c.flags`` of search candidates: the unidentified person's near-duplicates
        among the lookup's entries (its own entry left out), each a dict (see
        :func:`flag_dict`), this family's references first."""
        people = {}
        for c in cands:
            people.setdefault(c.unidentified.id, c.unidentified)
        order = list(people.values())
        own = self.holders.unidentified_entries(u.id for u in order)
        found = self.matches([u.profile for u in order], exclude=own)
        by_person = {u.id: ms for u, ms in zip(order, found)}
        for c in cands:
            flags = [flag_dict(self.holders[m.target], m, family_id=c.family.id)
                     for m in by_person[c.unidentified.id]]
            flags.sort(key=lambda x: (RELATIONS.index(x["relation"]), KINDS.index(x["kind"]), x["sample"]))
            c.flags = flags


def flag_dict(holder: Holder, match: Match, *, family_id: int | None) -> dict:
    """A flag as stored (JSON) with a candidate: ``kind``, ``relation``
    (``this_family_reference``, ``other_family_reference``, ``unidentified`` or ``sample``),
    ``sample``, ``person``, ``family`` (references), ``common_loci`` and ``locus``
    (``one_locus_apart``)."""
    if holder.kind == "reference":
        relation = "this_family_reference" if holder.family_id == family_id else "other_family_reference"
    else:
        relation = holder.kind
    out = {"kind": match.kind, "relation": relation, "sample": holder.sample, "person": holder.person,
           "common_loci": match.common_loci}
    if holder.family_code is not None:
        out["family"] = holder.family_code
    if match.locus is not None:
        out["locus"] = match.locus
    return out


def flag_text(flag: dict) -> str:
    """One flag in one short token: ``kind[detail]@relation:who``, e.g.
    ``identical@this_family_reference:F0001/MO(S0001)``,
    ``one_locus_apart[TH01]@unidentified:U0002(S0009)``,
    ``identical_common_loci[15]@other_family_reference:F0003/FA(S0003)``."""
    if flag.get("kind") not in ("identical", "identical_common_loci", "one_locus_apart"):
        # other flags stored on a candidate (e.g. ``superseded`` after a correction)
        return f"{flag.get('kind', 'flag')}: {flag.get('reason', '')}".rstrip(": ")
    detail = {"identical": "", "identical_common_loci": f"[{flag.get('common_loci')}]",
              "one_locus_apart": f"[{flag.get('locus')}]"}[flag["kind"]]
    who = flag.get("person") or flag["sample"]
    if flag.get("family"):
        who = f"{flag['family']}/{who}"
    if flag["sample"] != flag.get("person"):
        who += f"({flag['sample']})"
    return f"{flag['kind']}{detail}@{flag['relation']}:{who}"


def describe_holder(holder: Holder) -> str:
    """Whose profile, in words: ``reference F0001/MO (sample S0001)``,
    ``unidentified U0002 (sample S0009)``, ``sample S0010 (no person)``."""
    if holder.kind == "reference":
        return f"reference {holder.family_code}/{holder.person} (sample {holder.sample})"
    if holder.kind == "unidentified":
        return f"unidentified {holder.person} (sample {holder.sample})"
    return f"sample {holder.sample} (no person)"
