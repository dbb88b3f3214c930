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
:data:`SCAN_MAX_QUERIES`) is compared with every profile directly instead (cheaper than
sorting), with the same result.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

#: Query counts up to this are compared with every profile directly (no hash tables).
SCAN_MAX_QUERIES = 8

KINDS = ("identical", "identical_common_loci", "one_locus_apart")

_OUTSIDE = (1 << 31) - 1  # token locus column: a locus outside the lookup
_UNSEEN = (1 << 32) - 2  # token genotype code: a genotype no entry has

#: Order of the relations on a candidate's flags (the family's own references first).
RELATIONS = ("this_family_reference", "other_family_reference", "unidentified", "sample")

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED = np.uint64(0x9E3779B97F4A7C15)


def _mix(locus: int, codes: np.ndarray) -> np.ndarray:
    """A 64-bit mix (splitmix64) of (locus, genotype code) for every code; 0 where untyped."""
    x = (np.uint64(locus) << np.uint64(32)) ^ codes.astype(np.uint64)
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


@dataclass(frozen=True)
class Holder:
    """Whose profile an entry of the lookup is."""

    sample: str  # sample code
    kind: str  # "reference", "unidentified" or "sample" (a profile given to nobody yet)
    person: str | None = None  # person code (family member or unidentified person)
    family_id: int | None = None
    family_code: str | None = None
    unidentified_id: int | None = None


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
    many common loci.
    """

    def __init__(self, *, min_common_loci: int):
        self.min_common_loci = max(1, int(min_common_loci))
        self.holders: list[Holder] = []
        self.loci: list[str] = []
        self._locus_idx: dict[str, int] = {}
        self._geno: list[dict] = []  # per locus: genotype (sorted alleles) -> code
        self._rows: list[list[int]] = []  # per profile: tokens (locus column << 32 | genotype code)
        self._token: dict[str, int] = {}  # "LOCUS=a/b" -> token
        self._frozen = None
        self._tables: dict = {}

    def __len__(self) -> int:
        return len(self.holders)

    # -- building -------------------------------------------------------------------------

    def add(self, holder: Holder, profile: dict[str, tuple[str, str]] | str) -> None:
        """Add one profile: locus -> (allele, allele), or packed text ``"VWA=14/17;..."``."""
        self.holders.append(holder)
        if isinstance(profile, str):
            get = self._token.get
            items = profile.split(";") if profile else []
            tokens = list(map(get, items))
            if None in tokens:
                for k, item in enumerate(items):
                    if tokens[k] is None:
                        locus, _, g = item.partition("=")
                        a, _, b = g.partition("/")
                        tokens[k] = self._token[item] = self._encode({locus: (a, b)}, grow=True)[0]
            self._rows.append(tokens)
        else:
            self._rows.append(self._encode(profile, grow=True))
        self._frozen = None
        self._tables = {}

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

    def _matrix(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """(genotype codes (profiles, loci): -1 untyped, -2 a genotype no entry has; whether
        a profile is typed at a locus outside the lookup)."""
        g = np.full((len(rows), max(1, len(self.loci))), -1, dtype=np.int64)
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

    def _freeze(self):
        if self._frozen is None:
            g, _ = self._matrix(self._rows)
            h = np.zeros(g.shape, dtype=np.uint64)
            for li in range(g.shape[1]):
                h[:, li] = _mix(li, g[:, li])
            masks, group = _coverages(g >= 0)
            order = np.argsort(group, kind="stable")
            members = np.split(order, np.cumsum(np.bincount(group, minlength=len(masks)))[:-1])
            self._frozen = (g, h, masks, members)
        return self._frozen

    # -- matching -------------------------------------------------------------------------

    def matches(self, profiles, *, exclude=None) -> list[list[Match]]:
        """For each profile, the lookup entries it is identical to, identical to at every
        common locus, or one locus apart from (``exclude[k]``: an entry left out for
        profile k, e.g. the person's own)."""
        rows = [self._encode(p, grow=False) for p in profiles]
        qg, extra = self._matrix(rows)
        if len(self.holders) == 0 or len(rows) == 0:
            return [[] for _ in rows]
        if len(rows) <= SCAN_MAX_QUERIES:
            found = self._scan(qg, extra)
        else:
            found = self._hashed(qg, extra)
        out: list[list[Match]] = [[] for _ in rows]
        for q, t, kind, common, locus in found:
            if exclude is not None and exclude[q] == t:
                continue
            out[q].append(Match(t, kind, common, None if locus is None else self.loci[locus]))
        for ms in out:
            ms.sort(key=lambda m: (m.target, m.kind))
        return out

    def pairs(self) -> list[tuple[int, int, Match]]:
        """Every near-duplicate pair of the lookup's entries, (i, j, match of j) with i < j."""
        g, _, _, _ = self._freeze()
        found = self._hashed(g, np.zeros(len(g), dtype=bool))
        out = [(q, t, Match(t, kind, common, None if locus is None else self.loci[locus]))
               for q, t, kind, common, locus in found if q < t]
        out.sort(key=lambda x: (x[0], x[1]))
        return out

    def _scan(self, qg, extra):
        """Every query against every entry, directly."""
        g, _, _, _ = self._freeze()
        typed = g >= 0
        out = []
        for q in range(len(qg)):
            tq = qg[q] != -1  # -2: typed with a genotype no entry has
            both = typed & tq[None, :]
            common = both.sum(axis=1)
            diff = (g != qg[q][None, :]) & both
            d = diff.sum(axis=1)
            same = (typed == tq[None, :]).all(axis=1) & ~extra[q]
            hit = np.flatnonzero(((common >= self.min_common_loci) & (d <= 1))
                                 | (same & (common >= 1) & (d == 0)))
            for t, c, dd, s in zip(hit.tolist(), common[hit].tolist(), d[hit].tolist(), same[hit].tolist()):
                if dd == 0:
                    out.append((q, t, "identical" if s else "identical_common_loci", c, None))
                else:
                    out.append((q, t, "one_locus_apart", c, int(np.flatnonzero(diff[t])[0])))
        return out

    def _target_table(self, b: int, cols: tuple[int, ...], drop: int | None):
        """Sorted hashes of target group ``b`` on loci ``cols`` (less locus ``drop``):
        (order of the group's members, sorted hashes); cached."""
        key = (b, cols, drop)
        hit = self._tables.get(key)
        if hit is None:
            _, h, _, members = self._freeze()
            idx = members[b]
            full = self._tables.get((b, cols, "sum"))
            if full is None:
                full = self._tables[(b, cols, "sum")] = h[idx][:, list(cols)].sum(axis=1, dtype=np.uint64)
            hashes = full if drop is None else full - h[idx, drop]
            order = np.argsort(hashes, kind="stable")
            hit = self._tables[key] = (idx[order], hashes[order])
        return hit

    def _hashed(self, qg, extra):
        """Every query against every entry through hash tables per coverage (module doc)."""
        g, _, masks, _ = self._freeze()
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
                    idx, sorted_h = self._target_table(b, cols, drop)
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
        own = {h.unidentified_id: k for k, h in enumerate(self.holders) if h.kind == "unidentified"}
        found = self.matches([u.profile for u in order], exclude=[own.get(u.id, -1) for u in order])
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
