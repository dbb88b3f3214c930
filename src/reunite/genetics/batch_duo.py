"""Duo likelihoods (one typed parent, one typed child) for many markers at once, in NumPy.

The kernel of ``reunite lr``'s casework path (:mod:`reunite.genetics.duo_cases`).  A duo marker
is a closed form: with the parent typed ``a/b`` (frequencies ``p_a``, ``p_b``), the child typed
``c/d``, the parent's transmission matrix ``M`` (male for a father, female for a mother) and the
untyped other parent's matrix ``W``,

    P(data | H1) = h(a, b) p_a p_b  sum_v  g_v t_v u_v,        h = 2 for a heterozygote, else 1
    t_v = (M[a, x_v] + M[b, x_v]) / 2,  u_v = sum_k p_k W[k, y_v]
    P(data | H2) = h(a, b) h(c, d) p_a p_b p_c p_d

where ``v`` runs over the child's two phases: ``(x_0, y_0) = (c, d)``, ``(x_1, y_1) = (d, c)``,
``g = (1, [c != d])``.  Every product and sum is taken in the order the general engine
(:mod:`reunite.genetics.likelihood`, variable elimination with θ = 0 and no lumping) takes it,
so the likelihoods equal the engine's bit for bit; ``tests/test_batch_duo.py`` compares them on
random cases.

Data dictionary (K markers, N alleles at most, U matrices):

- ``afreq``: (K, N) float64, each row a marker's frequencies, padded with 0.
- ``parent``, ``child``: (K, 2) int64 allele indices into the row, in genotype order.
- ``mats``: (U, N, N) float64 transition matrices padded with 0; ``mats[0]`` is the identity
  (no mutation).
- ``parent_mat``, ``other_mat``: (K,) int64 indices into ``mats``: the typed parent's matrix
  and the untyped other parent's.
- ``father``: (K,) bool, whether the typed parent is the father.
"""

from __future__ import annotations

import numpy as np


def duo_likelihoods(afreq: np.ndarray, *, parent: np.ndarray, child: np.ndarray, mats: np.ndarray,
                    parent_mat: np.ndarray, other_mat: np.ndarray,
                    father: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(P(data | H1), P(data | H2))`` per marker, H1 the duo and H2 unrelated (θ = 0).

    See the module docstring for the formula and the array layout.
    """
    num, width = afreq.shape
    rows = np.arange(num)
    pa, pb = parent[:, 0], parent[:, 1]
    ca, cb = child[:, 0], child[:, 1]
    p_pa, p_pb = afreq[rows, pa], afreq[rows, pb]
    p_ca, p_cb = afreq[rows, ca], afreq[rows, cb]
    het_parent = np.where(pa != pb, 2.0, 1.0)
    het_child = np.where(ca != cb, 2.0, 1.0)
    # H2: both typed founders, parent first (parents precede children in a pedigree)
    l2 = (het_parent * het_child) * (((p_pa * p_pb) * p_ca) * p_cb)
    # H1: the typed parent's allele reaching the child, for the child's two phases
    x0 = np.where(father, ca, cb)  # the child's allele from the typed parent, phase 0
    x1 = np.where(father, cb, ca)
    t0 = 0.5 * (mats[parent_mat, pa, x0] + mats[parent_mat, pb, x0])
    t1 = 0.5 * (mats[parent_mat, pa, x1] + mats[parent_mat, pb, x1])
    # the untyped parent summed out: u[y] = sum_k p_k W[k, y], accumulated k = 0, 1, ...
    columns = np.ascontiguousarray(mats.transpose(0, 2, 1))  # columns[u, y] = mats[u][:, y]
    u0 = _transmitted(afreq, columns, other_mat, np.where(father, cb, ca))
    u1 = _transmitted(afreq, columns, other_mat, np.where(father, ca, cb))
    g1 = (ca != cb).astype(float)
    # the engine's factor order: the child's phase indicator, then the father's side, then
    # the mother's (einsum "za,za,za->z": ((g * first) * second), summed over the phases)
    first0 = np.where(father, t0, u0)
    second0 = np.where(father, u0, t0)
    first1 = np.where(father, t1, u1)
    second1 = np.where(father, u1, t1)
    phase0 = (1.0 * first0) * second0
    phase1 = (g1 * first1) * second1
    l1 = (het_parent * (p_pa * p_pb)) * (phase0 + phase1)
    return l1, l2


def _transmitted(afreq: np.ndarray, columns: np.ndarray, mat: np.ndarray, allele: np.ndarray) -> np.ndarray:
    """``sum_k afreq[r, k] * columns[mat[r], allele[r], k]`` per row ``r``, summed in order of
    ``k`` (a cumulative sum: the order of the engine's einsum, the padding adding exact zeros)."""
    return np.cumsum(afreq * columns[mat, allele], axis=1)[:, -1]
