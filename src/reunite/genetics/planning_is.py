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


def _log_tilt(p1: np.ndarray, p2: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """``(log q_λ (normalised), log Z_m(λ))`` of one marker (natural logs)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lp1, lp2 = np.log(p1), np.log(p2)
        if lam == 0.0:
            lq = lp2
        elif lam == 1.0:
            lq = lp1  # includes the genotypes impossible under H2 (LR inf), if any
        else:
            lq = (1.0 - lam) * lp2 + lam * lp1
    lq = np.where(np.isnan(lq) | (lq == np.inf), -np.inf, lq)
    top = lq.max()
    if not np.isfinite(top):
        return lq, -math.inf
    log_z = float(top + math.log(np.exp(lq - top).sum()))
    return lq - log_z, log_z


def _tilted_mean(dists, lam: float) -> float:
    total = 0.0
    for d in dists:
        lq, _ = _log_tilt(d.p_h1, d.p_h2, lam)
        q = np.exp(lq)
        on = q > 0
        with np.errstate(invalid="ignore"):
            total += float(np.sum(q[on] * d.log10_lr[on]))
    return total


def tilt_for(dists, log10_threshold: float, *, max_tilt: float = MAX_TILT) -> float:
    """λ in [0, max_tilt] with E_{q_λ}[log10 LR] = log10 t (0 or max_tilt when t lies beyond)."""
    lo, hi = 1e-6, max_tilt
    if _tilted_mean(dists, lo) >= log10_threshold:
        return 0.0
    if _tilted_mean(dists, hi) <= log10_threshold:
        return hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _tilted_mean(dists, mid) < log10_threshold:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-4:
            break
    return round(0.5 * (lo + hi), 4)


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(cdf) - 1)


def tilted_exceedance(dists, log10_thresholds, *, num_simulations: int, rng) -> dict:
    """P(LR >= t) under H1 and H2 for every threshold (see the module's docstring).

    Returns ``{"p_h1", "se_h1", "p_h2", "se_h2", "tilt"}`` (lists, one per threshold), and
    ``"h1"``, ``"h2"``: the plain draws of log10 LR under H1 and H2 (the λ = 1 and λ = 0
    components)."""
    dists = [d for d in dists if d.usable]
    ts = [float(t) for t in log10_thresholds]
    tilts = [tilt_for(dists, t) for t in ts]
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
        value = np.zeros(count)
        lz = 0.0
        for d in dists:
            lq, z = _log_tilt(d.p_h1, d.p_h2, lam)
            lz += z
            k = _draw(np.cumsum(np.exp(lq)), rng.random(count))
            with np.errstate(invalid="ignore"):
                value += d.log10_lr[k]
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
