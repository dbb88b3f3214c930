"""A person with an allele absent from the frequency table, searched through the index.

The rare-allele rule (README, "Allele frequencies and rare alleles") adds the pair's absent
alleles to the locus' table at the minimum frequency and renormalises it, so every frequency
and mutation probability of that locus changes for that person: none of the stored side
vectors and tables apply.  They are recomputed, exactly as the engine computes them, with the
table extended by the person's absent alleles:

- a side vector or dense table of ordinary references: its key's sub-pedigree and genotypes
  (in the table's allele numbering, which the extended table keeps: absent alleles are
  appended) with the extended table, by the closed forms or the engine, as when indexing;
- the table of a family whose own references carry absent alleles: with the table extended
  by the family's and the person's absent alleles together, as the engine extends it for the
  pair;
- θ > 0: the D keys' denominators with the extended frequencies.

The values are kept per (locus, absent alleles), so persons sharing a microvariant share the
work; the scan itself is unchanged.  Cost: one engine batch over the locus' keys (a few
thousand at 1,000,000 families).
"""

from __future__ import annotations

import numpy as np

from reunite.genetics.likelihood import MarkerData, joint_tables
from reunite.search.index.closed_forms import _closed_form_siblings, _closed_form_sides
from reunite.search.index.theta import closed_form_sides_theta, lr_table, part_value, with_unrelated


def absent_alleles(index, profile: dict) -> dict[str, list[str]]:
    """Per locus of ``profile`` whose table lacks one of its alleles: those alleles, sorted
    (the engine's order of adding them)."""
    out = {}
    for locus, (a, b) in profile.items():
        tab = index._all_tables.get(locus)
        if tab is not None and (a not in tab.index or b not in tab.index):
            out[locus] = sorted({x for x in (a, b) if x not in tab.index})
    return out


class ExtendedLocus:
    """Side vectors, dense tables and frequencies of one locus of ``index`` with its table
    extended by ``extra`` (absent alleles), for every key the index holds there."""

    def __init__(self, index, li: int, extra: list[str]):
        from reunite.search.index.table import LocusTables

        tab = index.tables[li]
        locus = index.loci[li]
        self.li, self.extra = li, list(extra)
        self.sizes = (len(tab.sides), len(tab.dense))
        alleles, afreq, male, female = index._engine_tables.family_table(locus, self.extra)
        self.index_of = index._engine_tables.family_index(locus, self.extra)
        self.afreq = np.asarray(afreq, dtype=float)
        ext = LocusTables(list(alleles), self.afreq, male, female, self.index_of)
        n_base = len(tab.afreq)
        n = len(self.afreq)
        theta = index.theta
        self.sides = np.zeros((len(tab.sides), n))
        self.dense = np.zeros((len(tab.dense), n, n))
        by_canon: dict[tuple, list] = {}
        for registry in (tab.side_keys, tab.dense_keys):
            for (canon, row), slot in registry.items():
                by_canon.setdefault(canon, []).append((slot, row))
        for canon, items in by_canon.items():
            if canon[0] == "extended":  # a family with its own absent alleles
                for slot, _ in items:
                    self.dense[slot] = self._extended_family(index, locus, canon, theta)
                continue
            kind, structure, m_pos, local = canon
            # genotype codes min * n_base + max in the table's numbering -> allele pairs
            new = [(slot, [divmod(int(c), n_base) for c in row]) for slot, row in items]
            store = self.dense if kind == "dense" else self.sides
            coded = [(slot, [a * n + b for a, b in pairs]) for slot, pairs in new]
            if theta == 0:
                closed = (_closed_form_siblings(structure, m_pos, local, coded, ext) if kind == "dense"
                          else _closed_form_sides(kind, structure, m_pos, local, coded, ext))
            else:
                closed = closed_form_sides_theta(kind, structure, m_pos, local, coded, ext, theta)
            if closed is not None:
                for (slot, _), vec in zip(new, closed):
                    store[slot] = vec
                continue
            jobs = []
            for _, pairs in new:
                md = MarkerData(self.afreq, male, female, dict(zip(local, pairs)), theta)
                jobs.append((structure, md, m_pos))
                if theta > 0 and kind == "dense":
                    jobs.append((with_unrelated(structure), md, len(structure)))
            tables = joint_tables(jobs)
            step = 2 if theta > 0 and kind == "dense" else 1
            for k, (slot, _) in enumerate(new):
                t2 = tables[step * k + 1] if step == 2 else None
                store[slot] = part_value(kind, tables[step * k], t2, self.afreq)

    def _extended_family(self, index, locus: str, canon: tuple, theta: float) -> np.ndarray:
        """The dense table of a family whose references carry absent alleles, with the table
        extended by those and the person's (the engine's rule for the pair), over the
        person's extended numbering."""
        _, structure, m_pos, genos = canon
        genos = dict(genos)
        extra = sorted({a for g in genos.values() for a in g if a not in index._all_tables[locus].index}
                       | set(self.extra))
        alleles, afreq, male, female = index._engine_tables.family_table(locus, extra)
        idx = index._engine_tables.family_index(locus, extra)
        afreq = np.asarray(afreq, dtype=float)
        md = MarkerData(afreq, male, female, {p: (idx[a], idx[b]) for p, (a, b) in genos.items()}, theta)
        if theta > 0:
            t1, t2 = joint_tables([(structure, md, m_pos), (with_unrelated(structure), md, len(structure))])
            lr = lr_table(t1, t2)
        else:
            t = joint_tables([(structure, md, m_pos)])[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                pred = (t + t.T) / t.sum()
                np.fill_diagonal(pred, 2.0 * np.diag(t) / t.sum())
                lr = pred / (2.0 * np.outer(afreq, afreq))
        mine = [idx[a] for a in self.index_of]  # the person's numbering within the pair's
        return lr[np.ix_(mine, mine)]

    def current(self, index) -> bool:
        tab = index.tables[self.li]
        return self.sizes == (len(tab.sides), len(tab.dense))


def extended_locus(index, li: int, extra: list[str]) -> ExtendedLocus:
    """The :class:`ExtendedLocus` of ``li`` and ``extra``, kept on the index while no key is
    added at that locus."""
    cache = index.__dict__.setdefault("_extended_loci", {})
    key = (li, tuple(extra))
    hit = cache.get(key)
    if hit is None or not hit.current(index):
        hit = cache[key] = ExtendedLocus(index, li, extra)
    return hit
