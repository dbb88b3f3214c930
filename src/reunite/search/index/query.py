"""The family index's queries (mixed into :class:`.table.FamilyIndex`): the per-query
gathers, the scan, the selection of the rows to report, per-locus LRs and inconsistent loci."""

from __future__ import annotations

import numpy as np

from reunite.genetics.likelihood import MarkerData, joint_tables
from reunite.search.index import fast as _fast
from reunite.search.index.closed_forms import _closed_form_siblings, _closed_form_sides
from reunite.search.index.kernels import NO_DATE, _select, scan
from reunite.search.index.rare import absent_alleles, extended_locus
from reunite.search.index.theta import d_values_of, scan_theta, sides_denominator

SEX_CODE = {"M": 1, "F": 2}

#: A query's rows are split between threads only when each gets at least this many.
MIN_ROWS_PER_THREAD = 4096


class IndexQueries:
    """Queries of a :class:`.table.FamilyIndex` (its rows, tables and combined arrays)."""

    def _any_dated(self, m_birth, m_missing) -> bool:
        """Whether any row of the combined arrays has a date (cached with them)."""
        cached = getattr(self, "_dated", None)
        if cached is None or cached[0] is not m_birth:
            cached = self._dated = (m_birth, bool((m_birth != NO_DATE).any() or (m_missing != NO_DATE).any()))
        return cached[1]

    def accepts(self, profile: dict[str, tuple[str, str]]) -> bool:
        """Whether the index can score this profile (always: alleles absent from a table are
        scored with the locus' values recomputed, :mod:`reunite.search.index.rare`); adds
        columns for loci it has none for yet."""
        if not self.locus_idx.keys() >= profile.keys():
            self.extend_loci(set(profile) - set(self.locus_idx))
        return True

    def query(self, profile: dict[str, tuple[str, str]]):
        """The per-query gathers for :func:`scan`: (ab, offsets, 1/(2 p_x p_y), loci) (θ > 0:
        and the denominators of the D keys with their offsets).  At a locus where U has an
        allele absent from the table, the values with the table extended (the rare-allele
        rule, :mod:`reunite.search.index.rare`).  Loci the index has no column for yet are
        added."""
        if not self.accepts(profile):
            return None
        absent = absent_alleles(self, profile)
        _, _, n_sides, n_dense, offsets, total = self.combined()[:6]
        if self.theta == 0 and not absent and _fast.gather_query is not None:  # one compiled pass
            return _fast.query_gathers(self, profile)
        ab = np.zeros(2 * total)
        inv = np.zeros(len(self.loci))
        loci = []
        theta = self.theta > 0
        if theta:
            _, d_offsets, d_total = self._combined_d
            dv = np.ones(d_total)
        else:  # kept for the reported rows' per-locus LRs: each dense entry's LR, and 2 p_x p_y
            dxy = np.empty(total)
            den = np.zeros(len(self.loci))
        for locus, (a, b) in profile.items():
            li = self.locus_idx[locus]
            tab = self.tables[li]
            loci.append(li)
            extra = absent.get(locus)
            x, y, sides, dense, afreq = self._locus_values(li, a, b, extra)
            if not extra:  # the stored side vectors, allele by allele (contiguous; kept)
                by_allele = _fast.sides_by_allele(self, li, sides)
                side_x, side_y = by_allele[x], by_allele[y]
            else:
                side_x, side_y = sides[:, x], sides[:, y]
            if theta:  # the denominator per D key (dense rows: their own, c = 1)
                c = 1.0
                dv[d_offsets[li]:d_offsets[li] + len(tab.d_list) + 1] = d_values_of(tab, x, y, afreq, self.theta)
            else:
                den[li] = 2.0 * afreq[x] * afreq[y]
                c = 1.0 / den[li]
            inv[li] = c
            o = 2 * offsets[li]
            ab[o:o + 2 * n_sides[li]:2] = side_x
            ab[o + 1:o + 2 * n_sides[li]:2] = side_y
            o += 2 * n_sides[li]
            lrs = dense[:, x, y]
            ab[o:o + 2 * n_dense[li]:2] = lrs / c
            ab[o + 2 * n_dense[li] + 1] = 1.0  # the unit entry: a = 0, b = 1
            if not theta:
                dxy[offsets[li] + n_sides[li]:offsets[li] + n_sides[li] + n_dense[li]] = lrs
        if theta:
            return ab, offsets, inv, np.array(sorted(loci), dtype=np.int64), dv, d_offsets
        q = ab, offsets, inv, np.array(sorted(loci), dtype=np.int64)
        _fast.remember_query(self, profile, q, dxy, den)
        return q

    def _locus_values(self, li: int, a: str, b: str, extra):
        """(x, y, side vectors, dense tables, frequencies) of U's alleles a, b at locus ``li``:
        the stored ones, or with the table extended by ``extra`` (U's absent alleles)."""
        tab = self.tables[li]
        if extra:
            ext = extended_locus(self, li, extra)
            return ext.index_of[a], ext.index_of[b], ext.sides, ext.dense, ext.afreq
        sides, dense = tab.stacked()
        return tab.index[a], tab.index[b], sides, dense, tab.afreq

    def _scan_ranges(self, q, ranges, out, threads: int) -> None:
        """The compiled scan over row ranges of the combined (sex-ordered) arrays."""
        kp, kq = self.combined()[:2]
        pieces = []
        for a, b in ranges:
            step = max(MIN_ROWS_PER_THREAD, -(-(b - a) // max(1, threads)))
            pieces += [(k, min(b, k + step)) for k in range(a, b, step)]
        if len(q) > 4:  # θ > 0: (ab, offsets, inv, loci, dv, d_offsets) and the D keys
            kd = self._combined_d[0]
            ab, offsets, _, loci, dv, d_offsets = q

            def run(piece):
                a, b = piece
                scan_theta(kp[:, a:b], kq[:, a:b], kd[:, a:b], ab, offsets, dv, d_offsets, loci, out[a:b])

            if threads > 1 and len(pieces) > 1:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=threads) as pool:
                    list(pool.map(run, pieces))
            else:
                for piece in pieces:
                    run(piece)
            return
        if threads > 1 and len(pieces) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(lambda ab: scan(kp[:, ab[0]:ab[1]], kq[:, ab[0]:ab[1]], *q, out[ab[0]:ab[1]]),
                              pieces))
        else:
            for a, b in pieces:
                scan(kp[:, a:b], kq[:, a:b], *q, out[a:b])

    def scores(self, profile, *, threads: int = 1) -> np.ndarray | None:
        """log10 LR of U against every row; None if U has an allele missing from a table.
        ``threads`` > 1 splits the rows between threads (the scan releases the GIL)."""
        q = self.query(profile)
        if q is None:
            return None
        order = self.combined()[6]
        tmp = np.empty(len(self))
        self._scan_ranges(q, [(0, len(self))], tmp, threads)
        out = np.empty(len(self))
        out[order] = tmp
        return out

    def search_rows(self, profile, *, sex: str, min_common: int, min_log: float, top_k: int | None,
                    max_listed: int = 0, threads: int = 1, q=None, dates=(NO_DATE, NO_DATE, 0)):
        """Rows to report for one person U (None if U has an allele missing from a table):
        eligible (sex known on both sides agrees; dates compatible, see
        :func:`reunite.search.engine.age_conflicts`; at least ``min_common`` loci typed in U
        and a reference) with log10 LR >= ``min_log``; with ``top_k``, the best ``top_k``
        and every row tied with the k-th (of each sex block; the caller ranks them).
        Only the rows of a compatible sex are scanned.  ``dates``: U's estimated birth and
        found day numbers and the tolerance in days.  Returns (rows, their log10 LR, number
        skipped for sex, for dates, for loci, up to ``max_listed`` rows skipped for loci,
        up to ``max_listed`` rows skipped for dates).  ``q``: :meth:`query` of the profile,
        if already computed."""
        q = self.query(profile) if q is None else q
        if q is None:
            return None
        if len(q) == 4 and _fast.ENABLED:  # θ = 0: scan and selection fused and pruned (the same results)
            return _fast.search_rows(self, profile, sex=sex, min_common=min_common, min_log=min_log, top_k=top_k,
                                     max_listed=max_listed, threads=threads, q=q, dates=dates)
        kp, kq, _, _, _, _, order, bounds, m_sex, ref_mask, m_birth, m_missing = self.combined()
        code = SEX_CODE.get(sex, 0)
        ranges = [bounds[0], bounds[code]] if code else [(0, len(self))]
        n_sex = 0 if not code else bounds[3 - code][1] - bounds[3 - code][0]
        out = np.empty(len(self))
        self._scan_ranges(q, ranges, out, threads)
        u_mask = self.locus_words(profile)
        u_birth, u_found, tol = (int(x) for x in dates)
        if not self._any_dated(m_birth, m_missing):  # no row has a date: skip the per-row test
            u_birth = u_found = NO_DATE
        rows, vals, n_few, few, n_age, aged = [], [], 0, [], 0, []
        for a, b in ranges:
            if a == b:
                continue
            r, _, nf, lf, na, la = _select(out[a:b], m_sex[a:b], ref_mask[a:b], code, u_mask, min_common,
                                           min_log, -1 if top_k is None else top_k, max(0, max_listed - len(few)),
                                           m_birth[a:b], m_missing[a:b], u_birth, u_found, tol,
                                           max(0, max_listed - len(aged)))
            rows.append(order[a + r])
            vals.append(out[a + r])
            n_few += nf
            n_age += na
            few += (order[a + lf]).tolist()
            aged += (order[a + la]).tolist()
        cat = (lambda xs, dtype: np.concatenate(xs) if xs else np.zeros(0, dtype=dtype))
        return (cat(rows, np.int64), cat(vals, float), n_sex, n_age, n_few, np.array(few, dtype=np.int64),
                np.array(aged, dtype=np.int64))

    def lr_per_locus_rows(self, profile, rows) -> list[dict[str, float]]:
        """``[self.lr_per_locus(profile, r) for r in rows]``, one locus at a time over all the
        rows (:func:`.fast.lr_per_locus_rows`; the same numbers)."""
        if _fast.ENABLED:
            return _fast.lr_per_locus_rows(self, profile, rows)
        return [self.lr_per_locus(profile, int(r)) for r in rows]

    def inconsistent_loci_rows(self, cands, rows) -> None:
        """:meth:`inconsistent_loci` with each candidate's index row given (``rows[k]``): the
        requisite genotypes read from the row's keys (:func:`.fast.inconsistent_loci_rows`)."""
        if _fast.ENABLED:
            _fast.inconsistent_loci_rows(self, cands, rows)
        else:
            self.inconsistent_loci(cands)

    def lr_per_locus(self, profile, row: int) -> dict[str, float]:
        """Per-locus LRs of one row, for the loci typed in U."""
        out = {}
        absent = absent_alleles(self, profile)
        for locus, (a, b) in profile.items():
            li = self.locus_idx[locus]
            tab = self.tables[li]
            x, y, sides, dense, afreq = self._locus_values(li, a, b, absent.get(locus))
            p, q = int(self.key_p[row, li]), int(self.key_q[row, li])
            if q >= 0 and self.theta > 0:
                key = tab.d_list[int(self.key_d[row, li])]
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = (sides[p, x] * sides[q, y] + sides[p, y] * sides[q, x]) / sides_denominator(
                        key.count(x), key.count(y), len(key), afreq[x], afreq[y], self.theta, x == y)
            elif q >= 0:
                v = (sides[p, x] * sides[q, y] + sides[p, y] * sides[q, x]) / (2.0 * afreq[x] * afreq[y])
            else:
                v = dense[p, x, y]
            out[locus] = float(v)
        return out

    def inconsistent_loci(self, cands) -> None:
        """Set ``c.inconsistent_loci`` of search candidates: the loci where U in M's place is
        impossible without mutation, i.e. where the engine's no-mutation LR is 0 or 0/0.

        P0(references, M = U) > 0 exactly when P0(requisite references, M = U) > 0 and
        P0(all references) > 0 (the other references are independent of M given the
        requisite ones).  The first is read from the support of the no-mutation side vectors
        or tables of the candidate's keys (computed once per key and kept); the second needs
        the engine only where references were left out."""
        from reunite.genetics.likelihood import likelihoods_many

        checks, refs_jobs = [], []
        for k, c in enumerate(cands):
            c.inconsistent_loci = []
            f = c.family
            pedigree = f.pedigree
            structure = pedigree.structure_key()
            m_pos = pedigree.index[c.missing]
            typed_ids = sorted(f.references, key=pedigree.index.__getitem__)
            for locus, (a, b) in c.unidentified.profile.items():
                li = self.locus_idx[locus]
                tab = self.tables[li]
                n = len(tab.index)
                raw = {pedigree.index[pid]: f.references[pid][locus] for pid in typed_ids
                       if locus in f.references[pid]}
                if any(x not in tab.index for g in raw.values() for x in g):  # an extended table
                    _, afreq, _, _, index = self._extended(locus, raw)
                    genos = {p: (index[x], index[y]) for p, (x, y) in raw.items()}
                    genos[m_pos] = (index[a], index[b])
                    refs_jobs.append((k, locus, (structure, MarkerData(np.asarray(afreq), None, None, genos, 0.0,
                                                                       True))))
                    continue
                genos = {}
                for pid in typed_ids:
                    g = f.references[pid].get(locus)
                    if g is not None:
                        ia, ib = tab.index[g[0]], tab.index[g[1]]
                        genos[pedigree.index[pid]] = (min(ia, ib), max(ia, ib))
                plan = self.plan(structure, m_pos, frozenset(genos))
                if plan.requisite != tuple(sorted(genos)):
                    refs_jobs.append((k, locus, (structure, MarkerData(tab.afreq, None, None, genos, 0.0, True))))
                parts = []
                for part in plan.parts:
                    row = [genos[p][0] * n + genos[p][1] for p in part.people]
                    for cols in part.exchangeable:
                        vals = sorted(row[c] for c in cols)
                        for c2, v in zip(cols, vals):
                            row[c2] = v
                    parts.append((part.kind, li, (part.kind, part.structure, part.missing, part.local), tuple(row)))
                checks.append((k, locus, tab.index[a], tab.index[b], parts))
        missing = {}
        for *_, parts in checks:
            for kind, li, canon, row in parts:
                if (li, canon, row) not in self._support0:
                    missing.setdefault((li, canon), set()).add(row)
        for (li, (kind, structure, m_pos, local)), rows in missing.items():
            tab = self.tables[li]
            n = len(tab.afreq)
            rows = sorted(rows)
            from reunite.search.index.table import LocusTables

            plain = LocusTables(tab.alleles, tab.afreq, None, None, tab.index)  # no mutation
            new = list(enumerate(rows))
            closed = (_closed_form_siblings(structure, m_pos, local, new, plain) if kind == "dense"
                      else _closed_form_sides(kind, structure, m_pos, local, new, plain))
            if closed is not None:
                for row, vec in zip(rows, closed):
                    with np.errstate(invalid="ignore"):
                        self._support0[(li, (kind, structure, m_pos, local), row)] = vec > 0
                continue
            jobs = [(structure, MarkerData(tab.afreq, None, None, {p: divmod(c, n) for p, c in zip(local, row)}),
                     m_pos) for row in rows]
            for row, t in zip(rows, joint_tables(jobs)):
                if kind == "P":
                    support = t.sum(axis=1) > 0
                elif kind == "Q":
                    support = t.sum(axis=0) > 0
                else:
                    support = (t + t.T) > 0
                self._support0[(li, (kind, structure, m_pos, local), row)] = support
        for k, locus, x, y, parts in checks:
            sup = {kind: self._support0[(li, canon, row)] for kind, li, canon, row in parts}
            if "dense" in sup:
                ok = bool(sup["dense"][x, y])
            else:
                sp, sq = sup["P"], sup["Q"]
                ok = bool((sp[x] and sq[y]) or (sp[y] and sq[x]))
            if not ok:
                cands[k].inconsistent_loci.append(locus)
        if refs_jobs:
            values = likelihoods_many([job for *_, job in refs_jobs])
            for (k, locus, _), v in zip(refs_jobs, values):
                if v == 0.0 and locus not in cands[k].inconsistent_loci:
                    cands[k].inconsistent_loci.append(locus)
        for c in cands:
            c.inconsistent_loci.sort()

