"""Building the family index (:class:`~reunite.search.index.FamilyIndex`): families (as
:func:`family_rows` or :func:`member_rows` give them) to rows, keys and the per-locus keys'
registries, a batch of families at a time.

A batch is tokenised at once (every packed profile of the batch split in one call, each
item looked up in one dictionary pass), its genotype codes gathered into one
(locus, profile) array, its rows grouped by (pedigree structure, typed positions, missing
position) with NumPy; per group and locus the rows of each typed-references mask get
their keys from :meth:`IndexBuild._keys`, which packs each row's genotype codes into one
integer, finds the distinct ones with NumPy and looks them up in an integer-keyed map of
the locus' registry (only keys never seen go through the registry itself).  The index is
the one the family-by-family construction gives: the same rows in the same order, the
same keys in the same slots, the same keys queued for the engine in the same order
(tests/test_index_build.py keeps that construction and compares every array).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from itertools import repeat

import numpy as np

from reunite.genetics.likelihood import MarkerData, joint_tables
from reunite.search.index.kernels import NO_DATE
from reunite.search.index.plan import Part, Plan, make_plan
from reunite.search.index.query import SEX_CODE
from reunite.search.index.theta import lr_table, make_plan_theta, with_unrelated

#: Largest packed key of one genotype column counted with a presence table instead of a sort.
DIRECT_KEYS = 1 << 16


class IndexBuild:
    """The building half of :class:`~reunite.search.index.FamilyIndex` (a mixin: the index's
    attributes are set by its ``__init__``)."""

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
        with _collector_paused():
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

    # -- one batch ------------------------------------------------------------------------

    def _add_batch(self, rows) -> None:
        """Index one batch of :func:`family_rows` tuples: rows grouped by (structure, typed
        positions, missing position) in order of first appearance, each group's rows in
        the batch's order (one row per missing person)."""
        indexed = self.indexed
        fams = []
        for row in rows:
            if row[0] not in indexed:
                indexed.add(row[0])
                fams.append(row)
        profiles = [p for f in fams for p in f[4]]
        first = np.zeros(len(fams) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, (f[4] for f in fams)), dtype=np.int64, count=len(fams)), out=first[1:])
        item_prof, ids, items, special = self._tokenise(profiles)
        # families with an item the tables cannot code: an absent allele (extended tables)
        # or a locus the frequency table cannot be used for (the family goes to fallback)
        prof_fam = np.repeat(np.arange(len(fams)), np.diff(first))
        keep = np.ones(len(fams), dtype=bool)
        rare: dict[int, tuple[list, list]] = {}  # family -> (token ids, absent alleles) per profile
        for fi in sorted({int(prof_fam[p]) for p in special}):
            got = self._family_items(fams[fi][4])
            if got is None:
                keep[fi] = False
                self.fallback.append(fams[fi][0])
            elif any(got[1]):
                rare[fi] = got
        # the rows: one per (kept family, missing person); group ids by first appearance
        by_obj: dict[tuple, int] = {}  # (id(structure), id(positions), m_pos) -> group (objects held by fams)
        by_value: dict[tuple, int] = {}
        r_group, r_fam, r_missing = [], [], []
        for fi, f in enumerate(fams):
            missing = f[5]
            if not missing or not keep[fi]:
                continue
            structure, positions = f[2], f[3]
            for m in missing:
                key = (id(structure), id(positions), m[1])
                g = by_obj.get(key)
                if g is None:
                    g = by_obj[key] = by_value.setdefault((structure, positions, m[1]), len(by_value))
                r_group.append(g)
                r_fam.append(fi)
                r_missing.append(m)
        groups = list(by_value)
        r_group = np.array(r_group, dtype=np.int64)
        r_fam = np.array(r_fam, dtype=np.int64)
        # loci used by the kept families with rows
        has_rows = np.zeros(len(fams), dtype=bool)
        has_rows[r_fam] = True
        tok_locus = np.array(self._tok_locus, dtype=np.int64)
        tok_code = np.array(self._tok_code, dtype=np.int32)
        good = ids >= 0
        item_prof, ids = item_prof[good], ids[good]
        in_rows = has_rows[prof_fam[item_prof]]
        used = np.zeros(len(self.model_loci), dtype=bool)
        used[tok_locus[ids[in_rows]]] = True
        for fi, (_, extended) in rare.items():
            if has_rows[fi]:
                for ext in extended:
                    used[[self._model_pos[locus] for locus in ext]] = True
        self.extend_loci(self.model_loci[k] for k in np.flatnonzero(used))
        # genotype codes per (profile, index locus): -1 untyped, -2 an allele absent from the table
        n_loci = len(self.loci)
        column = np.full(len(self.model_loci), -1, dtype=np.int64)
        column[[self._model_pos[locus] for locus in self.loci]] = np.arange(n_loci)
        codes = np.full((len(profiles), n_loci), -1, dtype=np.int32)
        cols = column[tok_locus[ids]]
        there = cols >= 0
        codes.reshape(-1)[item_prof[there] * n_loci + cols[there]] = tok_code[ids[there]]  # in item order
        for fi, (_, extended) in rare.items():
            for t, ext in enumerate(extended):
                for locus in ext:
                    if locus in self.locus_idx:
                        codes[first[fi] + t, self.locus_idx[locus]] = -2
        # group by group, in order of first appearance; rows in the batch's order
        order = np.argsort(r_group, kind="stable")
        bounds = np.searchsorted(r_group[order], np.arange(len(groups) + 1))
        sex = np.array([SEX_CODE.get(m[2], 0) for m in r_missing], dtype=np.int8)
        dated = [len(m) > 3 for m in r_missing]
        birth = np.array([m[3] if d else NO_DATE for m, d in zip(r_missing, dated)], dtype=np.int32)
        gone = np.array([m[4] if d else NO_DATE for m, d in zip(r_missing, dated)], dtype=np.int32)
        fid = np.array([fams[fi][0] for fi in r_fam.tolist()], dtype=np.int64)
        for g, (structure, positions, m_pos) in enumerate(groups):
            sel = order[bounds[g]:bounds[g + 1]]
            fam = r_fam[sel]
            pidx = first[fam][:, None] + np.arange(len(positions))[None, :]
            extended = {r: rare[fi] for r, fi in enumerate(fam.tolist()) if fi in rare} if rare else {}
            self._add_group(structure, m_pos, positions, np.ascontiguousarray(codes[pidx].transpose(2, 0, 1)), extended,
                            (sex[sel], fid[sel], birth[sel], gone[sel]))
            self.family_code.extend(fams[fi][1] for fi in fam.tolist())
            self.missing.extend(r_missing[r][0] for r in sel.tolist())
        self._compute_pending()
        self._combined = None

    def _tokenise(self, profiles: list) -> tuple:
        """Every item of ``profiles`` (packed text or dicts) as (profile of the item, token
        id or -1, the items, profiles with an item no token codes)."""
        get = self._tok_id.get
        if not profiles:
            items, item_prof = [], np.zeros(0, dtype=np.int64)
        elif all(isinstance(p, str) for p in profiles):
            items = ";".join(profiles).split(";")
            counts = np.fromiter(map(str.count, profiles, repeat(";")), dtype=np.int64, count=len(profiles)) + 1
            item_prof = np.repeat(np.arange(len(profiles)), counts)
        else:
            items, owner = [], []
            for k, p in enumerate(profiles):
                got = p.split(";") if isinstance(p, str) else list(p.items())
                items += got
                owner.append(len(got))
            item_prof = np.repeat(np.arange(len(profiles)), np.array(owner, dtype=np.int64))
        ids = np.fromiter(map(get, items, repeat(-1)), dtype=np.int64, count=len(items))
        miss = np.flatnonzero(ids < 0)
        special = set()
        if len(miss):  # items never seen: tokens made once per distinct item
            unseen = [items[k] for k in miss.tolist()]
            for item in dict.fromkeys(unseen):
                if get(item) is None:
                    self._token(item)
            ids[miss] = np.fromiter(map(get, unseen, repeat(-1)), dtype=np.int64, count=len(miss))
            special = set(item_prof[miss[ids[miss] < 0]].tolist())
        return item_prof, ids, items, special

    def _family_items(self, profiles) -> tuple[list, list] | None:
        """One family's profiles as (token ids, {locus: absent alleles}) per profile; None
        when an item's locus cannot be used (the family goes to ``fallback``)."""
        typed, rare = [], []
        for profile in profiles:
            items = profile.split(";") if isinstance(profile, str) else list(profile.items())
            ids = [self._token(item) for item in items]
            extended = {}
            for i, item in zip(ids, items):
                if i is None:
                    locus, (a, b) = _split_item(item)
                    if locus not in self._all_tables:
                        return None
                    extended[locus] = (a, b)
            ids = [i for i in ids if i is not None]
            if len(ids) + len(extended) != len(items):  # one locus twice with absent alleles
                return None
            typed.append(ids)
            rare.append(extended)
        return typed, rare

    def _add_group(self, structure, m_pos, positions, codes, extended, attrs) -> None:
        """Rows of one (structure, typed positions, missing position): ``codes`` (locus,
        row, typed position); ``extended``: (row, (token ids, absent alleles per profile))
        of the rows with an allele absent from a table; ``attrs``: the rows' missing
        person's sex, family id, birth and missing day."""
        n_loci, n, n_typed = codes.shape
        key_p = np.full((n, n_loci), -1, dtype=np.int32)
        key_q = np.full((n, n_loci), -1, dtype=np.int32)
        key_d = np.full((n, n_loci), -1, dtype=np.int32) if self.theta > 0 else None
        ref_mask = self._mask_words((codes != -1).any(axis=2).T)
        masks = (codes >= 0).astype(np.int64) @ (1 << np.arange(n_typed, dtype=np.int64))
        masks[(codes == -2).any(axis=2)] = -1  # computed below
        col = {p: t for t, p in enumerate(positions)}
        plans: dict[int, tuple] = {}
        for li in range(n_loci if n else 0):
            m, cl = masks[li], codes[li]
            lo, hi = m.min(), m.max()
            if lo == hi:
                runs = [(int(lo), None)] if lo >= 0 else []
            else:
                by = np.argsort(m, kind="stable")
                sm = m[by]
                starts = np.flatnonzero(np.concatenate([[True], sm[1:] != sm[:-1]]))
                ends = np.append(starts[1:], len(sm))
                runs = [(int(sm[a]), by[a:b]) for a, b in zip(starts.tolist(), ends.tolist()) if sm[a] >= 0]
            for mask, sel in runs:
                hit = plans.get(mask)
                if hit is None:
                    typed = frozenset(positions[t] for t in range(n_typed) if (mask >> t) & 1)
                    plan = self.plan(structure, m_pos, typed)
                    hit = plans[mask] = (plan, [(part, [col[p] for p in part.people]) for part in plan.parts],
                                         [col[p] for p in plan.d_people] if key_d is not None and plan.kind == "sides"
                                         else None)
                plan, parts, d_cols = hit
                rows = cl if sel is None else cl[sel]
                for part, part_cols in parts:
                    out = key_q if part.kind == "Q" else key_p
                    keys = self._keys(part, rows[:, part_cols], li)
                    if sel is None:
                        out[:, li] = keys
                    else:
                        out[sel, li] = keys
                if d_cols is not None:
                    keys = self._d_keys(rows[:, d_cols], li)
                    if sel is None:
                        key_d[:, li] = keys
                    else:
                        key_d[sel, li] = keys
        for r, li in sorted({(r, self.locus_idx[locus]) for r, (_, ext) in extended.items() for e in ext
                             for locus in e}):
            key_p[r, li] = self._extended_table(structure, m_pos, positions, *extended[r], self.loci[li])
            key_q[r, li] = -1
            if key_d is not None:
                key_d[r, li] = -1
        shape = self.shapes.setdefault((structure, m_pos), len(self.shapes))
        sex, fid, birth, gone = attrs
        self._new_parts.append((key_p, key_q, np.full(n, shape, dtype=np.int32), ref_mask, sex, fid, birth, gone,
                                key_d))

    # -- keys -----------------------------------------------------------------------------

    def _key_map(self, li: int, dense: bool, canon: tuple) -> dict:
        """The keys of ``canon`` at locus ``li`` held by its registry, as packed genotype codes
        (see :meth:`_keys`) -> slot; rebuilt from the registry when it was replaced (a
        stored index read) or grew without :meth:`_keys`."""
        tab = self.tables[li]
        registry = tab.dense_keys if dense else tab.side_keys
        maps = self.__dict__.setdefault("_key_maps", {})
        entry = maps.get((li, dense))
        if entry is None or entry[0] is not registry or entry[1] != len(registry):
            by_canon: dict[tuple, dict] = {}
            base = len(tab.afreq) ** 2
            for (c, row), slot in registry.items():
                by_canon.setdefault(c, {})[_pack(row, base)] = slot
            entry = maps[(li, dense)] = [registry, len(registry), by_canon]
        got = entry[2].get(canon)
        if got is None:
            got = entry[2][canon] = {}
        return got

    def _keys_added(self, li: int, dense: bool, registry: dict) -> None:
        """The registry of ``li`` grew through the index's own methods: its map stays valid."""
        entry = self.__dict__.get("_key_maps", {}).get((li, dense))
        if entry is not None and entry[0] is registry:
            entry[1] = len(registry)

    def _keys(self, part: Part, sub: np.ndarray, li: int) -> np.ndarray:
        """Ids of the distinct genotype rows of ``part`` at locus ``li`` (new ones queued
        for the engine, in increasing order of their genotype codes)."""
        tab = self.tables[li]
        for cols in part.exchangeable:
            sub[:, cols] = np.sort(sub[:, cols], axis=1)
        base = len(tab.afreq) ** 2
        width = sub.shape[1]
        if width and base ** width < 2**62:
            packed = sub[:, 0].astype(np.int64)
            for c in range(1, width):
                packed = packed * base + sub[:, c]
            if width == 1 and base <= DIRECT_KEYS and len(packed) > 64:
                present = np.zeros(base, dtype=bool)
                present[packed] = True
                upacked = np.flatnonzero(present)
                rank = np.cumsum(present, dtype=np.int64) - 1
                inverse = rank[packed]
            else:
                upacked, inverse = np.unique(packed, return_inverse=True)
            keys = upacked.tolist()
        elif width:
            uniq, inverse = np.unique(sub, axis=0, return_inverse=True)
            keys = [tuple(row) for row in uniq.tolist()]
        else:
            keys, inverse = [()], np.zeros(len(sub), dtype=np.int64)
        dense = part.kind == "dense"
        canon = (part.kind, part.structure, part.missing, part.local)
        known = self._key_map(li, dense, canon)
        slots = list(map(known.get, keys))
        if None in slots:
            registry, store = (tab.dense_keys, tab.dense) if dense else (tab.side_keys, tab.sides)
            pending = self._pending.setdefault((li, canon), [])
            for u, key in enumerate(keys):
                if slots[u] is None:
                    row = _unpack(key, base, width)
                    slots[u] = known[key] = registry[(canon, tuple(row))] = len(store)
                    store.append(None)
                    pending.append((slots[u], row))
            self._keys_added(li, dense, registry)
        return np.array(slots, dtype=np.int32)[inverse.reshape(-1)]

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

    # -- absent alleles -------------------------------------------------------------------

    def _extended(self, locus: str, genos: dict) -> tuple:
        """The locus' table with the alleles of ``genos`` that it lacks added, as the engine
        does for a case (:class:`reunite.search.engine._LocusTables`):
        (alleles, afreq, male, female, allele -> index)."""
        base = self._all_tables[locus].index
        extra = sorted({a for g in genos.values() for a in g if a not in base})
        tables = self._engine_tables
        return (*tables.family_table(locus, extra), tables.family_index(locus, extra))

    def _extended_table(self, structure, m_pos, positions, typed, rare, locus) -> int:
        """A dense table for one family and locus whose references carry an allele missing
        from the table (``typed``: the token ids per reference, ``rare``: its absent
        alleles per locus): the engine's LR of every genotype of U (from the table's
        alleles) with the table extended as the engine extends it for the pair."""
        genos = {}
        for t, extended in enumerate(rare):
            if locus in extended:
                genos[positions[t]] = extended[locus]
        for t, ids in enumerate(typed):
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
        self._keys_added(li, True, tab.dense_keys)
        return slot


@contextlib.contextmanager
def _collector_paused():
    """Python's cycle collector off while families are indexed: the build makes no reference
    cycles (tuples, lists and dicts of numbers and strings, freed as they go), and the
    collector's passes over the millions of objects already alive (the rows, the
    registries' keys), set off by the build's allocations, would cost a fifth of it.  (The
    rows' source runs meanwhile too: cycles it leaves are collected once it is done.)"""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _pack(row: tuple, base: int):
    """A registry row (genotype codes) as :meth:`IndexBuild._keys` keys it: one integer when
    ``base ** len(row)`` fits, else the tuple itself."""
    if row and base ** len(row) < 2**62:
        packed = 0
        for c in row:
            packed = packed * base + c
        return packed
    return tuple(row)


def _unpack(key, base: int, width: int) -> list:
    """The genotype codes of a key made by :func:`_pack` (a list, as the registry's rows)."""
    if isinstance(key, tuple):
        return list(key)
    row = [0] * width
    for c in range(width - 1, -1, -1):
        key, row[c] = divmod(key, base)
    return row


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
