"""The batched index build (index/build.py) against the family-by-family build it replaced
(kept below, frozen, as the reference): the same index, array for array, key for key, on
random databases with every pedigree shape, partly typed references, absent alleles,
unusable loci (fallback), dated missing persons, unknown sex (every shape of tests/test_index.py SHAPES), profiles as dicts and as
packed text, families added in several batches, re-added, and after a stored index is read."""

import datetime

import numpy as np
import pytest
from test_index import _families, _p

from reunite.genetics import pedigree as ped
from reunite.genetics.likelihood import MarkerData, joint_tables
from reunite.search import index as ix
from reunite.search.index.build import _split_item
from reunite.search.index.kernels import NO_DATE
from reunite.search.index.query import SEX_CODE
from reunite.search.index.theta import lr_table, with_unrelated
from reunite.simulate import simulate_database
from reunite.store.profiles import GeneticModel, pack_profile

POP = "CHN_national_GBT37223"


class ReferenceIndex(ix.FamilyIndex):
    """The index with the family-by-family build it had before index/build.py (frozen copy;
    one change: a family whose first uncodable item is at an unusable locus goes to
    ``fallback``, where that build stopped with an IndexError)."""

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
                    if None in ids:
                        unusable = False
                        for i, item in zip(ids, items):
                            if i is None:
                                locus, (a, b) = _split_item(item)
                                if locus not in self._all_tables:
                                    unusable = True
                                    break
                                extended[locus] = (a, b)
                        else:
                            ids = [i for i in ids if i is not None]
                        if unusable or len(ids) + len(extended) != len(items):
                            break
                typed.append(ids)
                rare.append(extended)
            else:
                rare = rare if any(rare) else None
                for m_code, m_pos, m_sex, *dates in missing:
                    birth, gone = dates if dates else (NO_DATE, NO_DATE)
                    groups.setdefault((structure, positions, m_pos), []).append(
                        (fid, code, m_code, SEX_CODE.get(m_sex, 0), typed, rare, birth, gone))
                continue
            self.fallback.append(fid)
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
            self._old_add_group(structure, m_pos, positions, group)
        self._compute_pending()
        self._combined = None

    def _old_add_group(self, structure, m_pos, positions, rows) -> None:
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
            codes[r, t, li] = -2
        key_p = np.full((n, n_loci), -1, dtype=np.int32)
        key_q = np.full((n, n_loci), -1, dtype=np.int32)
        key_d = np.full((n, n_loci), -1, dtype=np.int32) if self.theta > 0 else None
        typed_bits = codes >= 0
        ref_mask = self._mask_words((codes != -1).any(axis=1))
        weights = 1 << np.arange(codes.shape[1], dtype=np.int64)
        col = {p: t for t, p in enumerate(positions)}
        for li in range(n_loci):
            masks = typed_bits[:, :, li].astype(np.int64) @ weights
            masks[(codes[:, :, li] == -2).any(axis=1)] = -1
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
            key_p[r, li] = self._old_extended_table(structure, m_pos, positions, rows[r], self.loci[li])
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

    def _old_extended_table(self, structure, m_pos, positions, row, locus) -> int:
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
        if key in tab.dense_keys:
            return tab.dense_keys[key]
        alleles, afreq, male, female, index = self._extended(locus, genos)
        md = MarkerData(np.asarray(afreq), male, female, {p: (index[a], index[b]) for p, (a, b) in genos.items()},
                        self.theta)
        if self.theta > 0:
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

    def _keys(self, part, sub, li):
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


def old_member_rows(family_id, code, members, *, shapes):
    """:func:`reunite.search.index.member_rows` as it was (frozen copy)."""
    local = {m[1]: k for k, m in enumerate(members)}
    try:
        sig = tuple((None if m[2] is None else local[m[2]], None if m[3] is None else local[m[3]], m[4], m[5],
                     m[5] == "reference" and bool(m[6])) for m in members)
    except KeyError:
        extra: dict[str, int] = {}

        def ref(person):
            if person is None:
                return None
            return local[person] if person in local else ("x", extra.setdefault(person, len(extra)))

        sig = tuple((ref(m[2]), ref(m[3]), m[4], m[5], m[5] == "reference" and bool(m[6])) for m in members)
    shape = shapes.get(sig)
    if shape is None:
        pedigree = ped.make_pedigree([{"id": m[1], "father": m[2], "mother": m[3], "sex": m[4]} for m in members],
                                     where=f"family {code!r}")
        typed = sorted((k for k, s in enumerate(sig) if s[4]), key=lambda k: pedigree.index[members[k][1]])
        missing = [(k, pedigree.index[m[1]], pedigree[m[1]].sex) for k, m in enumerate(members)
                   if m[5] == "missing"]
        shape = shapes[sig] = (pedigree.structure_key(), typed,
                               tuple(pedigree.index[members[k][1]] for k in typed), missing)
    structure, typed, positions, missing = shape
    return (family_id, code, structure, positions, [members[k][6] for k in typed],
            [(members[k][1], pos, sex) if len(members[k]) < 9 or (members[k][7] is None and members[k][8] is None)
             else ix._missing_entry(members[k][1], pos, sex, members[k][7], members[k][8])
             for k, pos, sex in missing])


# -- comparing two indexes ------------------------------------------------------------------


def _same_values(xs, ys, what):
    assert len(xs) == len(ys), what
    for k, (x, y) in enumerate(zip(xs, ys)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape, (what, k)
        assert np.array_equal(x, y, equal_nan=True), (what, k)


def assert_same_index(a, b):
    """Every array, list and table of two indexes equal (order included)."""
    for name in ("key_p", "key_q", "key_d", "row_shape", "family_id", "m_sex", "m_birth", "m_missing", "ref_mask"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
            continue
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
    for name in ("family_code", "missing", "fallback", "loci"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.indexed == b.indexed
    assert list(a.shapes.items()) == list(b.shapes.items())
    assert a.locus_idx == b.locus_idx
    assert len(a.tables) == len(b.tables)
    for li, (ta, tb) in enumerate(zip(a.tables, b.tables)):
        assert list(ta.side_keys.items()) == list(tb.side_keys.items()), li
        assert list(ta.dense_keys.items()) == list(tb.dense_keys.items()), li
        assert list(ta.d_keys.items()) == list(tb.d_keys.items()) and ta.d_list == tb.d_list, li
        _same_values(ta.sides, tb.sides, ("sides", li))
        _same_values(ta.dense, tb.dense, ("dense", li))
    assert not a._pending and not b._pending


# -- random databases -----------------------------------------------------------------------


def _day(rng):
    return datetime.date(1950, 1, 1) + datetime.timedelta(days=int(rng.integers(0, 25_000)))


def _oddities(rows, rng):
    """Families as add_rows takes them, with what a database can hold: alleles absent from
    the table, an unusable locus (SE33 in this table), a profile typed twice at a locus,
    an empty profile, a family with no missing person, families with no typed reference."""
    out = []
    for k, (fid, code, structure, positions, profiles, missing) in enumerate(rows):
        profiles = list(profiles)
        kind = k % 17
        if profiles and kind in (1, 5):  # an absent allele (once at the first locus, once further on)
            p = profiles[0]
            d = dict(p) if isinstance(p, dict) else dict(_split_item(x) for x in p.split(";"))
            locus = sorted(d)[0 if kind == 1 else len(d) // 2]
            d[locus] = ("45", d[locus][1])
            profiles[0] = d if isinstance(p, dict) else pack_profile(d)
        elif profiles and kind == 3:  # an unusable locus
            p = profiles[-1]
            profiles[-1] = {**p, "SE33": ("20", "21")} if isinstance(p, dict) else p + ";SE33=20/21"
        elif profiles and kind == 7:  # an absent allele, then an unusable locus: fallback
            p = profiles[0]
            d = dict(p) if isinstance(p, dict) else dict(_split_item(x) for x in p.split(";"))
            locus = sorted(d)[0]
            d[locus] = ("45.1", d[locus][1])
            d["SE33"] = ("20", "21")
            profiles[0] = d if isinstance(p, dict) else pack_profile(d)
        elif profiles and kind == 9 and isinstance(profiles[0], str):  # a locus twice: the last one counts
            first = profiles[0].split(";")[0]
            locus = first.partition("=")[0]
            profiles[0] = profiles[0] + f";{locus}=" + ("9/10" if locus != "AMEL" else "X/Y")
        elif kind == 11:
            missing = []
        elif profiles and kind == 13 and isinstance(profiles[0], str):
            profiles[0] = ""
        out.append((fid, code, structure, positions, profiles, missing))
    return out


def _shape_rows(model, rng, *, seed, packed):
    """Every pedigree shape of tests/test_index.py (three families each, partly typed),
    dates and unknown sexes on some missing persons."""
    families, _ = _families(model, seed=seed)
    rows = []
    for f in families:
        fid, code, structure, positions, profiles, missing = ix.family_rows(f)
        if packed == "mixed":
            profiles = [pack_profile(p) if (fid + t) % 2 else p for t, p in enumerate(profiles)]
        elif packed:
            profiles = [pack_profile(p) for p in profiles]
        missing = [(m[0], m[1], "U" if fid % 3 == 0 else m[2], *(
            (NO_DATE if fid % 5 == 0 else 1_000 + fid, 20_000 + fid) if fid % 2 else ()))
                   for m in missing]
        rows.append((fid, code, structure, positions, profiles, missing))
    return rows


def _simulated_rows(n, *, seed, first=1):
    """A simulated database's families as member rows (packed profiles), some missing
    persons dated, given to member_rows (as the database loader does)."""
    rng = np.random.default_rng(seed)
    db = simulate_database(n, 2, seed=seed, first_family=first)
    profiles: dict[str, dict] = {}
    for sample, locus, a, b in db["genotypes"]:
        profiles.setdefault(sample, {})[locus] = (a, b)
    families: dict[str, list] = {}
    for code, person, father, mother, sex, role, sample, *_ in db["families"]:
        dated = role == "missing" and rng.random() < 0.3
        families.setdefault(code, []).append(
            (None, person, father or None, mother or None, sex, role,
             pack_profile(profiles[sample]) if sample else None,
             _day(rng) if dated else None, _day(rng) if dated and rng.random() < 0.7 else None))
    return families


def _build(cls, model, batches, *, batch=50_000):
    index = cls(model)
    for rows in batches:
        index.add_rows(rows, batch=batch)
    return index


@pytest.mark.parametrize("packed", [True, False, "mixed"])
def test_every_shape_builds_the_same_index(packed):
    model = GeneticModel(POP)
    rng = np.random.default_rng(7)
    rows = _oddities(_shape_rows(model, rng, seed=3, packed=packed), rng)
    rows2 = _oddities(_shape_rows(model, rng, seed=4, packed=packed), rng)
    rows2 = [(fid + 1000, *rest) for fid, *rest in rows2]
    # in one batch; in small batches, some families given twice (skipped the second time)
    for batches, size in (([rows + rows2], 50_000), ([rows[:20], rows[10:] + rows2, rows2[:5]], 7)):
        a = _build(ix.FamilyIndex, model, batches, batch=size)
        b = _build(ReferenceIndex, model, batches, batch=size)
        assert_same_index(a, b)
        assert a.fallback and any(len(t.dense_keys) for t in a.tables)
        assert any(c[0] == "extended" for t in a.tables for c, _ in t.dense_keys)


def test_a_simulated_database_builds_the_same_index(tmp_path):
    model = GeneticModel(POP)
    shapes: dict = {}
    parts = []
    for k in range(3):
        members = _simulated_rows(400, seed=11 + k, first=1 + 400 * k)
        rows = [ix.member_rows(int(code[1:]), code, m, shapes=shapes) for code, m in members.items()]
        old_shapes: dict = {}
        assert rows == [old_member_rows(int(code[1:]), code, m, shapes=old_shapes) for code, m in members.items()]
        parts.append(_oddities(rows, np.random.default_rng(k)))
    a = _build(ix.FamilyIndex, model, parts[:2], batch=300)
    b = _build(ReferenceIndex, model, parts[:2], batch=300)
    assert_same_index(a, b)
    # read back from a file (the registries replaced), then more families
    a.save(tmp_path / "a.index")
    b.save(tmp_path / "b.index")
    a = ix.FamilyIndex.load(tmp_path / "a.index", model)
    b = ReferenceIndex.load(tmp_path / "b.index", model)
    a.add_rows(parts[2] + parts[1][:50], batch=250)
    b.add_rows(parts[2] + parts[1][:50], batch=250)
    assert_same_index(a, b)
    # a locus asked for by a query only: a new column for every row
    a.extend_loci(["PENTA_E"] if "PENTA_E" not in a.loci else [])
    b.extend_loci(["PENTA_E"] if "PENTA_E" not in b.loci else [])
    assert_same_index(a, b)


@pytest.mark.parametrize("kw", [{"mutation": "none"}, {"theta": 0.02}])
def test_other_models_build_the_same_index(kw):
    model = GeneticModel(POP, **kw)
    rng = np.random.default_rng(5)
    skip = ("first_cousin", "parents_are_cousins", "three_sibs", "parents_and_sibs") if "theta" in kw else ()
    families, _ = _families(model, seed=9, skip=skip)
    rows = [ix.family_rows(f) for f in families]
    rows = _oddities([(fid, c, s, p, [pack_profile(x) for x in prof] if fid % 2 else prof, m)
                      for fid, c, s, p, prof, m in rows], rng)
    batches = [rows[: len(rows) // 2], rows[len(rows) // 3:]]
    a = _build(ix.FamilyIndex, model, batches, batch=9)
    b = _build(ReferenceIndex, model, batches, batch=9)
    assert_same_index(a, b)


def test_member_rows_equal_the_old_ones_on_odd_families():
    members = [
        # a parent named but not listed
        [(None, "C", "X", "MO", "M", "missing", None), (None, "MO", None, None, "F", "reference", "VWA=14/17")],
        # a withdrawn sample (no profile): untyped reference; a dated missing person with one date
        [(None, "FA", None, None, "M", "reference", None, None, None),
         (None, "MO", None, None, "F", "reference", "VWA=14/17", None, None),
         (None, "M", "FA", "MO", "U", "missing", None, datetime.date(1990, 5, 1), None)],
        # the same shape again, other people
        [(None, "FA2", None, None, "M", "reference", "FGA=21/22", None, None),
         (None, "MO2", None, None, "F", "reference", "VWA=14/17", None, None),
         (None, "M2", "FA2", "MO2", "F", "missing", None, None, datetime.date(2001, 1, 2))],
    ]
    new, old = {}, {}
    for k, m in enumerate(members):
        assert ix.member_rows(k, f"F{k}", m, shapes=new) == old_member_rows(k, f"F{k}", m, shapes=old)


def test_families_with_nothing_to_index():
    model = GeneticModel(POP)
    structure = ped.make_pedigree([_p("FA", sex="M"), _p("MO", sex="F"), _p("M", "FA", "MO")]).structure_key()
    rows = [(1, "F1", structure, (), [], [("M", 2, "U")]),  # nobody typed
            (2, "F2", structure, (0,), ["SE33=1/2"], [("M", 2, "M")]),  # only an unusable locus
            (3, "F3", structure, (0,), [{}], [])]
    for batches in ([rows], [[]], [rows[1:2], rows[:1]]):
        a = _build(ix.FamilyIndex, model, batches)
        b = _build(ReferenceIndex, model, batches)
        assert_same_index(a, b)
