"""The reported rows' details at θ = 0 (the one-to-many ranking is :mod:`.fast`'s): per-locus LRs
read from the person's kept query, every row and locus at once, and inconsistent loci read from
the rows' keys through flat per-slot arrays, a person's candidates at once.  Both are the
index's own numbers (:meth:`FamilyIndex.lr_per_locus`, :meth:`FamilyIndex.inconsistent_loci`),
computed with the same operations; tests/test_index_speed.py compares them."""

from __future__ import annotations

import threading

import numpy as np

#: Queries kept for their details (:func:`remember_query`): a few, for the persons being searched.
KEPT_QUERIES = 8


def _query_key(profile) -> frozenset:
    return frozenset(profile.items())


def remember_query(index, profile, q, dxy, den) -> None:
    """Keep a θ = 0 query's gathers (:meth:`FamilyIndex.query`) with, per combined dense
    entry, its LR for U's genotype (``dxy``) and per locus U's 2 p_x p_y (``den``): the
    reported rows' per-locus LRs are read from them (:func:`lr_per_locus_rows`)."""
    kept = index.__dict__.setdefault("_fast_queries", {})
    kept[_query_key(profile)] = (index.combined()[0], q, dxy, den)
    while len(kept) > KEPT_QUERIES:
        try:
            del kept[next(iter(kept))]
        except (KeyError, RuntimeError, StopIteration):  # another thread got there first
            break


def recall_query(index, profile):
    """(q, dxy, den) kept by :func:`remember_query` for this profile and these combined
    arrays, or None."""
    hit = index.__dict__.get("_fast_queries", {}).get(_query_key(profile))
    if hit is None or hit[0] is not index.combined()[0]:
        return None
    return hit[1:]


def lr_per_locus_rows(index, profile, rows) -> list[dict[str, float]]:
    """``[index.lr_per_locus(profile, r) for r in rows]``, bit for bit (the same operations
    on the same numbers): from the person's kept query (:func:`remember_query`), every row
    and locus at once (a side pair's (a_p b_q + b_p a_q) / (2 p_x p_y) from the gathered side
    values, a dense row's LR as gathered); else one locus at a time over every row (θ = 0;
    θ > 0 row by row)."""
    rows = np.asarray(rows, dtype=np.int64)
    values = getattr(index, "_locus_values", None)
    if getattr(index, "theta", 0.0) > 0 or values is None or not len(rows):
        return [index.lr_per_locus(profile, int(r)) for r in rows]
    kept = recall_query(index, profile)
    if kept is not None:
        (ab, offsets, _, _), dxy, den = kept
        names = list(profile)
        lis = np.array([index.locus_idx[locus] for locus in names], dtype=np.int64)
        n_sides = index.combined()[2]
        p = index.key_p[rows][:, lis].astype(np.int64)
        q = index.key_q[rows][:, lis].astype(np.int64)
        side = q >= 0
        base = offsets[lis][None, :]
        pi = 2 * (base + p)
        qi = 2 * (base + np.where(side, q, 0))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            v = (ab[pi] * ab[qi + 1] + ab[pi + 1] * ab[qi]) / den[lis][None, :]
        dense = ~side
        if dense.any():
            v[dense] = dxy[(base + n_sides[lis][None, :] + p)[dense]]
        return [dict(zip(names, row)) for row in v.tolist()]
    from reunite.search.index.rare import absent_alleles

    absent = absent_alleles(index, profile)
    cols = {}
    for locus, (a, b) in profile.items():
        li = index.locus_idx[locus]
        x, y, sides, dense, afreq = values(li, a, b, absent.get(locus))
        p = index.key_p[rows, li].astype(np.int64)
        q = index.key_q[rows, li].astype(np.int64)
        side = q >= 0
        v = np.empty(len(rows))
        ps, qs = p[side], q[side]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            v[side] = (sides[ps, x] * sides[qs, y] + sides[ps, y] * sides[qs, x]) / (2.0 * afreq[x] * afreq[y])
        v[~side] = dense[p[~side], x, y]
        cols[locus] = v.tolist()
    return [{locus: cols[locus][k] for locus in profile} for k in range(len(rows))]


def _slot_parts(index, li: int) -> tuple[list, list]:
    """Per side and per dense slot of locus ``li``: its (canon, genotype row) key (the
    registries inverted; kept while they do not grow)."""
    tab = index.tables[li]
    cache = index.__dict__.setdefault("_fast_slots", {})
    size = (len(tab.side_keys), len(tab.dense_keys), id(tab.side_keys), id(tab.dense_keys))
    hit = cache.get(li)
    if hit is None or hit[0] != size:
        sides, dense = [None] * len(tab.sides), [None] * len(tab.dense)
        for key, slot in tab.side_keys.items():
            sides[slot] = key
        for key, slot in tab.dense_keys.items():
            dense[slot] = key
        hit = cache[li] = (size, sides, dense)
    return hit[1], hit[2]


class _FlatKeys:
    """Every locus' side and dense slots in flat arrays: per slot the number of requisite
    references of its key, whether (dense) its table is an extended one, and its no-mutation
    support (a bool per allele, per genotype for a dense slot), filled from
    ``index._support0`` as candidates need it (``known``)."""

    def __init__(self, index, signature):
        self.signature = signature
        n_s = [len(t.sides) for t in index.tables]
        n_d = [len(t.dense) for t in index.tables]
        n_al = [len(t.afreq) for t in index.tables]
        self.n_alleles = np.array(n_al, dtype=np.int64)
        self.side_off = np.concatenate([[0], np.cumsum(n_s)]).astype(np.int64)
        self.dense_off = np.concatenate([[0], np.cumsum(n_d)]).astype(np.int64)
        # one more slot of each kind at the end (the place holder of the other kind's entries)
        self.side_nreq = np.zeros(self.side_off[-1] + 1, dtype=np.int64)
        self.dense_nreq = np.zeros(self.dense_off[-1] + 1, dtype=np.int64)
        self.dense_ext = np.zeros(self.dense_off[-1] + 1, dtype=np.bool_)
        self.side_base = np.zeros(self.side_off[-1] + 1, dtype=np.int64)  # where a slot's support starts
        self.dense_base = np.zeros(self.dense_off[-1] + 1, dtype=np.int64)
        s_base = d_base = 0
        for li in range(len(index.tables)):
            sides, dense = _slot_parts(index, li)
            a, b = self.side_off[li], self.side_off[li + 1]
            self.side_nreq[a:b] = [len(row) for _, row in sides]
            self.side_base[a:b] = s_base + n_al[li] * np.arange(b - a)
            s_base += n_al[li] * (b - a)
            a, b = self.dense_off[li], self.dense_off[li + 1]
            self.dense_nreq[a:b] = [len(row) for _, row in dense]
            self.dense_ext[a:b] = [canon[0] == "extended" for canon, _ in dense]
            self.dense_base[a:b] = d_base + n_al[li] ** 2 * np.arange(b - a)
            d_base += n_al[li] ** 2 * (b - a)
        self.side_base[-1], self.dense_base[-1] = s_base, d_base
        most = max(n_al, default=0)
        self.side_known = np.zeros(self.side_off[-1] + 1, dtype=np.bool_)
        self.dense_known = np.zeros(self.dense_off[-1] + 1, dtype=np.bool_)
        self.side_sup = np.zeros(s_base + most, dtype=np.bool_)  # calloc: pages only made when written
        self.dense_sup = np.zeros(d_base + most * most, dtype=np.bool_)

    def fill(self, index, side_slots, dense_slots) -> None:
        """The support of these flat slots (those not yet known), from ``index._support0``
        (computed there first where missing)."""
        side_slots = np.unique(side_slots[~self.side_known[side_slots]])
        dense_slots = np.unique(dense_slots[~self.dense_known[dense_slots]])
        if not len(side_slots) and not len(dense_slots):
            return
        wanted = []
        for flat in side_slots.tolist():
            li = int(np.searchsorted(self.side_off, flat, side="right")) - 1
            canon, row = _slot_parts(index, li)[0][flat - self.side_off[li]]
            wanted.append((canon[0], li, canon, row, flat))
        for flat in dense_slots.tolist():
            li = int(np.searchsorted(self.dense_off, flat, side="right")) - 1
            canon, row = _slot_parts(index, li)[1][flat - self.dense_off[li]]
            wanted.append(("dense", li, canon, row, flat))
        parts = [((kind, li, canon, row),) for kind, li, canon, row, _ in wanted]
        index._fill_support0(parts) if hasattr(index, "_fill_support0") else _fill_support0(index, parts)
        for kind, li, canon, row, flat in wanted:
            sup = np.asarray(index._support0[(li, canon, row)], dtype=np.bool_).reshape(-1)
            if kind == "dense":
                self.dense_sup[self.dense_base[flat]:self.dense_base[flat] + sup.size] = sup
                self.dense_known[flat] = True
            else:
                self.side_sup[self.side_base[flat]:self.side_base[flat] + sup.size] = sup
                self.side_known[flat] = True


_FLAT_LOCK = threading.Lock()


def _flat_keys(index) -> _FlatKeys:
    """The index' :class:`_FlatKeys` (made again when a registry has grown)."""
    signature = tuple((len(t.side_keys), len(t.dense_keys), id(t.side_keys), id(t.dense_keys), len(t.afreq))
                      for t in index.tables)
    flat = index.__dict__.get("_fast_flat")
    if flat is None or flat.signature != signature:
        flat = index._fast_flat = _FlatKeys(index, signature)
    return flat


def inconsistent_loci_rows(index, cands, rows) -> None:
    """:meth:`FamilyIndex.inconsistent_loci` (the same loci) with each candidate's requisite
    genotypes read from its row's keys (``rows[k]``: the index row of ``cands[k]``) instead
    of rebuilt from the family: a side or dense key is one (canon, genotypes) of the
    registries, whose no-mutation support the index computes once and keeps (here also in
    flat arrays, so that a person's candidates are checked at every locus at once).  A locus
    where some references were left out of the plan (fewer requisite than typed) also needs
    P0(all references) > 0, from the engine as the index does it.  Candidates with an
    extended table (an allele absent from the table) go through the index's method."""
    from reunite.genetics.likelihood import MarkerData, likelihoods_many

    if getattr(index, "theta", 0.0) > 0:
        index.inconsistent_loci(cands)
        return
    slow, refs_jobs = [], []
    groups: dict[int, list] = {}
    for k, c in enumerate(cands):
        c.inconsistent_loci = []
        groups.setdefault(id(c.unidentified.profile), []).append(k)
    with _FLAT_LOCK:
        flat = _flat_keys(index)
        for ks in groups.values():
            profile = cands[ks[0]].unidentified.profile
            names = list(profile)
            lis = np.array([index.locus_idx[locus] for locus in names], dtype=np.int64)
            xs, ys = [], []
            for locus, li in zip(names, lis.tolist()):
                tab = index.tables[li]
                xs.append(tab.index.get(profile[locus][0]))
                ys.append(tab.index.get(profile[locus][1]))
            if any(v is None for v in xs + ys):
                slow += [cands[k] for k in ks]
                continue
            x, y = np.array(xs, dtype=np.int64), np.array(ys, dtype=np.int64)
            r = np.asarray([rows[k] for k in ks], dtype=np.int64)
            p = index.key_p[r][:, lis].astype(np.int64)
            q = index.key_q[r][:, lis].astype(np.int64)
            dense = q < 0
            pad_s, pad_d = flat.side_off[-1], flat.dense_off[-1]
            sp = np.where(dense, pad_s, flat.side_off[lis] + p)
            sq = np.where(dense, pad_s, flat.side_off[lis] + q)
            dp = np.where(dense, flat.dense_off[lis] + p, pad_d)
            ext = (dense & flat.dense_ext[dp]).any(axis=1)
            n_req = np.where(dense, flat.dense_nreq[dp], flat.side_nreq[sp] + flat.side_nreq[sq])
            fast_k = np.flatnonzero(~ext)
            slow += [cands[ks[i]] for i in np.flatnonzero(ext).tolist()]
            if not len(fast_k):
                continue
            dense, sp, sq, dp, n_req = dense[fast_k], sp[fast_k], sq[fast_k], dp[fast_k], n_req[fast_k]
            typed = np.zeros(n_req.shape, dtype=np.int64)
            for i, kk in enumerate(fast_k.tolist()):
                counted: dict[str, int] = {}
                for prof in cands[ks[kk]].family.references.values():
                    for locus in prof:
                        counted[locus] = counted.get(locus, 0) + 1
                typed[i] = [counted.get(locus, 0) for locus in names]
            flat.fill(index, np.concatenate([sp[~dense], sq[~dense]]), dp[dense])
            n_al = flat.n_alleles[lis][None, :]
            bp, bq = flat.side_base[sp], flat.side_base[sq]
            ok_side = (flat.side_sup[bp + x] & flat.side_sup[bq + y]) | (flat.side_sup[bp + y] & flat.side_sup[bq + x])
            ok_dense = flat.dense_sup[flat.dense_base[dp] + x * n_al + y]
            bad = np.where(dense, ~ok_dense, ~ok_side)
            for i, j in zip(*np.nonzero(bad)):
                cands[ks[fast_k[i]]].inconsistent_loci.append(names[j])
            for i, j in zip(*np.nonzero(n_req != typed)):  # references left out of the plan
                c = cands[ks[fast_k[i]]]
                locus, tab = names[j], index.tables[int(lis[j])]
                f = c.family
                genos = {}
                for pid, prof in f.references.items():
                    g = prof.get(locus)
                    if g is not None:
                        ia, ib = tab.index[g[0]], tab.index[g[1]]
                        genos[f.pedigree.index[pid]] = (min(ia, ib), max(ia, ib))
                refs_jobs.append((c, locus, (f.pedigree.structure_key(),
                                             MarkerData(tab.afreq, None, None, genos, 0.0, True))))
    if refs_jobs:
        values = likelihoods_many([job for _, _, job in refs_jobs])
        for (c, locus, _), v in zip(refs_jobs, values):
            if v == 0.0 and locus not in c.inconsistent_loci:
                c.inconsistent_loci.append(locus)
    for c in cands:
        c.inconsistent_loci.sort()
    if slow:
        index.inconsistent_loci(slow)


def _fill_support0(index, wanted) -> None:
    """The no-mutation support of every (li, canon, genotypes) of ``wanted`` (lists of
    parts (kind, li, canon, row)) not yet in ``index._support0``: by the closed forms, else
    the engine's joint tables (as :meth:`FamilyIndex.inconsistent_loci` computes them)."""
    from reunite.genetics.likelihood import MarkerData, joint_tables
    from reunite.search.index.closed_forms import _closed_form_siblings, _closed_form_sides
    from reunite.search.index.table import LocusTables

    missing: dict = {}
    for parts in wanted:
        for kind, li, canon, row in parts:
            if (li, canon, row) not in index._support0:
                missing.setdefault((li, canon), set()).add(row)
    for (li, (kind, structure, m_pos, local)), rows in missing.items():
        tab = index.tables[li]
        n = len(tab.afreq)
        rows = sorted(rows)
        plain = LocusTables(tab.alleles, tab.afreq, None, None, tab.index)  # no mutation
        new = list(enumerate(rows))
        closed = (_closed_form_siblings(structure, m_pos, local, new, plain) if kind == "dense"
                  else _closed_form_sides(kind, structure, m_pos, local, new, plain))
        if closed is not None:
            for row, vec in zip(rows, closed):
                with np.errstate(invalid="ignore"):
                    index._support0[(li, (kind, structure, m_pos, local), row)] = vec > 0
            continue
        jobs = [(structure, MarkerData(tab.afreq, None, None, {p: divmod(c, n) for p, c in zip(local, row)}), m_pos)
                for row in rows]
        for row, t in zip(rows, joint_tables(jobs)):
            if kind == "P":
                sup = t.sum(axis=1) > 0
            elif kind == "Q":
                sup = t.sum(axis=0) > 0
            else:
                sup = (t + t.T) > 0
            index._support0[(li, (kind, structure, m_pos, local), row)] = sup


__all__ = ["KEPT_QUERIES", "inconsistent_loci_rows", "lr_per_locus_rows", "recall_query", "remember_query"]
