"""P(LR >= t) for the true and for an unrelated child, from rare to common, by importance
sampling with exponentially tilted per-marker distributions.

Plain simulation cannot reach the rare events (an unrelated child with LR >= 10^6 happens
once in 10^9 draws, or never), and importance sampling from H1 alone (E_H1[1{LR >= t}/LR])
fails for thresholds below the bulk of the true child's LRs.  The tilted distributions

    q_λ(g) = P_H2(g)^(1-λ) P_H1(g)^λ / Z_m(λ) = P_H2(g) LR(g)^λ / Z_m(λ)    (per marker m)

run from H2 (λ = 0) through H1 (λ = 1) and beyond; over independent markers the total
``q_λ(G) / P_H2(G) = LR(G)^λ / Z(λ)``, Z(λ) = prod_m Z_m(λ), depends on the total LR only.
For each threshold t, λ_t solves E_{q_λ}[log10 LR] = log10 t (the saddlepoint tilt, which
makes LR >= t a common event).  Draws from the components λ ∈ {0, 1, λ_t ...} are pooled
with the balance heuristic (a defensive mixture):

    P_H2(LR >= t) ≈ (1/N) Σ_i 1{LR_i >= t} / Σ_k (n_k/N) LR_i^λ_k / Z(λ_k)
    P_H1(LR >= t) ≈ (1/N) Σ_i 1{LR_i >= t} LR_i / Σ_k (n_k/N) LR_i^λ_k / Z(λ_k),

unbiased, with weights bounded by N/n_0 and N/n_1, and a standard error from the terms.
The λ = 1 and λ = 0 components are plain draws under H1 and H2 (the quantiles); where the
event is common, their plain estimate has the smaller standard error and is given instead.
"""

from __future__ import annotations

import math

import numpy as np

#: the largest tilt (thresholds far above the true child's mean LR)
MAX_TILT = 8.0
LN10 = math.log(10.0)


class _Stack:
    """The usable markers' distributions end to end (one flat array of genotypes, markers as
    segments): log P_H1, log P_H2 (natural) and log10 LR, so that tilts are computed for all
    markers and many λ at once."""

    def __init__(self, dists):
        dists = [d for d in dists if d.usable]
        self.num_markers = len(dists)
        sizes = np.array([len(d.p_h1) for d in dists], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.segment = np.repeat(np.arange(len(dists)), sizes)
        with np.errstate(divide="ignore"):
            self.lp1 = np.log(np.concatenate([d.p_h1 for d in dists])) if dists else np.zeros(0)
            self.lp2 = np.log(np.concatenate([d.p_h2 for d in dists])) if dists else np.zeros(0)
        self.l10 = np.concatenate([d.log10_lr for d in dists]) if dists else np.zeros(0)

    def log_q(self, lams) -> tuple[np.ndarray, np.ndarray]:
        """``(log q_λ, log Z_m(λ))`` for every λ of ``lams``: shapes (K, S) and (K, M)."""
        lam = np.asarray(lams, dtype=float)[:, None]
        with np.errstate(invalid="ignore"):
            mixed = (1.0 - lam) * self.lp2[None] + lam * self.lp1[None]
        lq = np.where(lam == 0.0, self.lp2[None], np.where(lam == 1.0, self.lp1[None], mixed))
        lq = np.where(np.isnan(lq) | (lq == np.inf), -np.inf, lq)
        top = np.maximum.reduceat(lq, self.starts, axis=1)
        top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):
            log_z = np.log(np.add.reduceat(np.exp(lq - top[:, self.segment]), self.starts, axis=1)) + top
        return lq - log_z[:, self.segment], log_z

    def tilted_mean(self, lams) -> np.ndarray:
        """E_{q_λ}[log10 LR] of the total, for every λ."""
        lq, _ = self.log_q(lams)
        q = np.exp(lq)
        with np.errstate(invalid="ignore"):
            terms = np.where(q > 0, q * self.l10[None], 0.0)
        return terms.sum(axis=1)

    def draw(self, lam: float, count: int, rng) -> tuple[np.ndarray, float]:
        """``count`` totals log10 LR drawn from q_λ (all markers in one search), and log Z(λ)."""
        lq, log_z = self.log_q([lam])
        q = np.exp(lq[0])
        cum = np.cumsum(q)
        before = np.concatenate([[0.0], cum])[self.starts]
        within = cum - before[self.segment]
        within /= np.where(within[self._ends()] > 0, within[self._ends()], 1.0)[self.segment]
        index = np.arange(len(q))
        last = np.maximum.reduceat(np.where(q > 0, index, -1), self.starts)
        within = np.where(index >= last[self.segment], 1.0, within)
        flat = within + self.segment
        u = rng.random((self.num_markers, count)) + np.arange(self.num_markers)[:, None]
        k = np.minimum(np.searchsorted(flat, u.ravel(), side="right"), len(flat) - 1)
        with np.errstate(invalid="ignore"):
            total = self.l10[k].reshape(self.num_markers, count).sum(axis=0)
        return total, float(log_z[0].sum())

    def _ends(self) -> np.ndarray:
        return np.concatenate([self.starts[1:], [len(self.l10)]]) - 1


#: the λ grid on which the tilted mean is computed (the tilts are interpolated on it)
TILT_GRID = np.concatenate([[1e-6], np.arange(0.05, 2.0, 0.05), np.arange(2.0, MAX_TILT + 0.01, 0.25)])


def tilt_for(stack: _Stack, log10_thresholds, *, max_tilt: float = MAX_TILT) -> list[float]:
    """For each threshold, λ with E_{q_λ}[log10 LR] = log10 t (0 below the grid's first mean,
    ``max_tilt`` above its last), interpolated on :data:`TILT_GRID` (the tilted mean increases
    with λ; any λ near the solution makes a good proposal)."""
    target = np.asarray(log10_thresholds, dtype=float)
    if stack.num_markers == 0:
        return [0.0] * len(target)
    grid = TILT_GRID[TILT_GRID <= max_tilt]
    means = np.maximum.accumulate(stack.tilted_mean(grid))  # guard against rounding
    lam = np.interp(target, means, grid)
    lam = np.where(target <= means[0], 0.0, np.where(target >= means[-1], max_tilt, np.round(lam, 3)))
    return [float(x) for x in lam]


def tilted_exceedance(dists, log10_thresholds, *, num_simulations: int, rng) -> dict:
    """P(LR >= t) under H1 and H2 for every threshold (see the module's docstring).

    Returns ``{"p_h1", "se_h1", "p_h2", "se_h2", "tilt"}`` (lists, one per threshold), and
    ``"h1"``, ``"h2"``: the plain draws of log10 LR under H1 and H2 (the λ = 1 and λ = 0
    components)."""
    stack = _Stack(dists)
    ts = [float(t) for t in log10_thresholds]
    tilts = tilt_for(stack, ts)
    others = sorted({t for t in tilts if t not in (0.0, 1.0)})
    lambdas = [0.0, 1.0] + others
    n = num_simulations
    if others:
        counts = [n // 4, n // 4] + [max(1, (n - 2 * (n // 4)) // len(others))] * len(others)
    else:
        counts = [n // 2, n - n // 2]
    total = sum(counts)
    log_share = np.log(np.array(counts) / total)
    samples, log_z = [], []
    for lam, count in zip(lambdas, counts):
        value, lz = stack.draw(lam, count, rng)
        samples.append(value)
        log_z.append(lz)
    values = np.concatenate(samples)
    lam_arr = np.array(lambdas)
    lz_arr = np.array(log_z)
    finite = np.isfinite(values)
    safe = np.where(finite, values, 0.0)
    # log of sum_k (n_k/N) LR^λ_k / Z(λ_k)  (= log of mixture density / P_H2)
    a = log_share[None, :] + lam_arr[None, :] * safe[:, None] * LN10 - lz_arr[None, :]
    top = a.max(axis=1)
    log_mix = top + np.log(np.exp(a - top[:, None]).sum(axis=1))
    w2 = np.where(finite, np.exp(-log_mix), 0.0)  # P_H2 / mixture (0 where LR is inf or 0)
    w1 = np.where(finite, np.exp(safe * LN10 - log_mix), 0.0)  # P_H1 / mixture
    inf = values == np.inf
    if inf.any():  # only the λ = 1 component (H1 itself) draws genotypes impossible under H2
        w1 = np.where(inf, total / counts[1], w1)
    out = {"p_h1": [], "se_h1": [], "p_h2": [], "se_h2": [], "tilt": tilts, "h1": samples[1], "h2": samples[0]}
    for t in ts:
        hit = values >= t
        for key, w in (("h1", w1), ("h2", w2)):
            terms = np.where(hit, w, 0.0)
            p, se = float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(total))
            plain = out[key] >= t  # the plain component: better where the event is common
            pp = float(plain.mean())
            sp = math.sqrt(pp * (1 - pp) / len(plain))
            if pp > 0.0 and sp < se:
                p, se = pp, sp
            out["p_" + key].append(p)
            out["se_" + key].append(se)
    return out
