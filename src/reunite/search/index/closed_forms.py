"""Side vectors and dense LR tables by formula for the commonest sub-pedigrees (a typed
parent, typed grandparents, a typed uncle or aunt, typed full siblings); each returns None
where it does not apply, and the kinship engine is used instead."""

from __future__ import annotations

import itertools

import numpy as np


def _closed_form_sides(kind, structure, m_pos, local, new, tab):
    """Side vectors by formula for the two commonest sides (else None: the engine):
    a typed parent u/v:  s = (M[u] + M[v]) / 2;
    an untyped parent whose parents are typed u/v and w/z:
    s = ((Mf[u] + Mf[v]) / 2 + (Mm[w] + Mm[z]) / 2) / 2 · M,
    with M the parent's (father's or mother's) matrix."""
    if kind == "dense" or len(new) < 1:
        return None
    n = len(tab.afreq)
    eye = np.eye(n)
    male = tab.male if tab.male is not None else eye
    female = tab.female if tab.female is not None else eye
    last = male if kind == "P" else female
    codes = np.array([row for _, row in new], dtype=np.int64).reshape(len(new), -1)
    parent = structure[m_pos][0 if kind == "P" else 1]
    if local == (parent,):  # a typed parent: its ancestors do not matter
        u, v = codes[:, 0] // n, codes[:, 0] % n
        return 0.5 * (last[u] + last[v])
    gf, gm = structure[parent][0], structure[parent][1]
    if (len(structure) == 5 and gf >= 0 and local == (gf, gm) and structure[gf][0] < 0
            and structure[gm][0] < 0):
        u, v = codes[:, 0] // n, codes[:, 0] % n
        w, z = codes[:, 1] // n, codes[:, 1] % n
        inherited = 0.25 * (male[u] + male[v] + female[w] + female[z])
        return inherited @ last
    if (len(structure) == 6 and gf >= 0 and len(local) == 1 and structure[local[0]][:2] == (gf, gm)
            and local[0] != parent and all(structure[g][0] < 0 and structure[g][3] == 0.0 for g in (gf, gm))):
        return _uncle_side(codes[:, 0] // n, codes[:, 0] % n, tab.afreq, male, female, last)
    return None


def _uncle_side(u, v, p, male, female, last):
    """Side vectors of an untyped parent P whose untyped parents (founders, not inbred) have
    another child, typed u/v (M's uncle or aunt).  For a grandparent G with matrix M_G, the
    joint of the alleles G gives its two children is
    J_G(x, z) = (M_Gᵀ diag(p) M_G)[x, z] / 2 + (p M_G)(x) (p M_G)(z) / 2;
    summing over which of u/v came from the grandfather gives P's paternal and maternal
    alleles, and P passes one of them on with ``last``."""
    pf, pm = p @ male, p @ female
    jf = 0.5 * (male.T * p) @ male + 0.5 * np.outer(pf, pf)
    jm = 0.5 * (female.T * p) @ female + 0.5 * np.outer(pm, pm)
    half = np.where(u == v, 0.5, 1.0)[:, None]  # a homozygote has one phase, not two
    paternal = (jf[u] * pm[v][:, None] + jf[v] * pm[u][:, None]) * half
    maternal = (pf[u][:, None] * jm[v] + pf[v][:, None] * jm[u]) * half
    s = 0.5 * (paternal + maternal) @ last
    with np.errstate(divide="ignore", invalid="ignore"):
        return s / s.sum(axis=1, keepdims=True)


def _closed_form_siblings(structure, m_pos, local, new, tab):
    """Dense LR tables by formula when M's references are k typed full siblings and the
    parents are untyped founders (not inbred) with no other relatives (else None).

    Fixing the phase Φ of every sibling (which allele came from the father) separates the
    parents: T[a, b] = Σ_Φ A_Φ(a) B_Φ(b), with
    A_Φ(a) = Σ_{f1,f2} p_f1 p_f2 Π_s h(f1, f2; x_s) h(f1, f2; a),  h(f1, f2; x) = (M[f1, x] + M[f2, x]) / 2
    over the siblings' paternal alleles x_s (father's matrix M), and B_Φ alike for the mother."""
    k = len(structure) - 3
    if not (1 <= k <= 3 and structure[0] == (-1, -1, "U", 0.0) and structure[1] == (-1, -1, "U", 0.0)
            and all(person[:2] == (0, 1) for person in structure[2:])
            and set(local) | {m_pos} == set(range(2, len(structure))) and m_pos not in local):
        return None
    n = len(tab.afreq)
    p = tab.afreq
    eye = np.eye(n)
    male = tab.male if tab.male is not None else eye
    female = tab.female if tab.female is not None else eye
    codes = np.array([row for _, row in new], dtype=np.int64).reshape(len(new), k)
    g1, g2 = codes // n, codes % n  # (keys, siblings)
    pp = np.outer(p, p)
    T = np.zeros((len(new), n, n))
    for phase in itertools.product((0, 1), repeat=k):
        flip = np.array(phase, dtype=bool)[None, :]
        pat = np.where(flip, g2, g1)
        mat = np.where(flip, g1, g2)
        use = np.ones(len(new), dtype=bool)  # a homozygous sibling has one phase, not two
        for s in range(k):
            if phase[s]:
                use &= g1[:, s] != g2[:, s]
        sides = []
        for obs, mut in ((pat, male), (mat, female)):
            w = np.broadcast_to(pp, (len(new), n, n)).copy()
            for s in range(k):
                col = mut[:, obs[:, s]].T  # (keys, n): M[f, x_s]
                w *= 0.5 * (col[:, :, None] + col[:, None, :])
            sides.append(np.einsum("kf,fa->ka", w.sum(axis=2), mut))  # W symmetric
        T += np.where(use[:, None, None], sides[0][:, :, None] * sides[1][:, None, :], 0.0)
    total = T.sum(axis=(1, 2))
    pop = 2.0 * pp
    with np.errstate(divide="ignore", invalid="ignore"):
        pred = (T + T.transpose(0, 2, 1)) / total[:, None, None]
        idx = np.arange(n)
        pred[:, idx, idx] = 2.0 * T[:, idx, idx] / total[:, None]
        return list(pred / pop)
