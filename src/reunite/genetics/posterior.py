"""The posterior probability of a hypothesis from its likelihood ratio and a prior.

    posterior = LR·π / (LR·π + 1 − π) = 1 / (1 + 10^−(log10 LR + log10(π / (1 − π))))

With π = 0.5 and H1 "the alleged father is the father" this is the classic probability of
paternity W (Essen-Möller).  No statistics on the database here: the prior is the caller's
(``reunite lr --prior``; for candidates :mod:`reunite.cases.posterior` states its basis).
"""

from __future__ import annotations

import math


def check_prior(prior: float, *, where: str = "prior") -> float:
    """``prior`` as a float, refused unless 0 < prior < 1.

    Raises
    ------
    ValueError
        the prior is not a number strictly between 0 and 1 (a prior of 0 or 1 would make the
        DNA evidence irrelevant).
    """
    try:
        value = float(prior)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a number with 0 < prior < 1, found {prior!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"{where}: expected 0 < prior < 1 (e.g. 0.5 for the classic probability of "
                         f"paternity), found {prior!r}")
    return value


def posterior(lr: float, prior: float) -> float:
    """LR·π / (LR·π + 1 − π); LR infinite gives 1, LR 0 gives 0, NaN stays NaN.

    Raises
    ------
    ValueError
        the prior is outside (0, 1) or the LR is negative.
    """
    if not 0.0 < prior < 1.0:
        raise ValueError(f"prior: expected 0 < prior < 1, found {prior}")
    if math.isnan(lr):
        return math.nan
    if math.isinf(lr):
        return 1.0 if lr > 0 else 0.0
    if lr < 0:
        raise ValueError(f"lr: expected LR >= 0, found {lr}")
    odds = lr * prior / (1.0 - prior)
    return odds / (odds + 1.0) if math.isfinite(odds) else 1.0


def posterior_from_log10(log10_lr: float, prior: float) -> float:
    """The same, from log10 LR (exact for LRs beyond the float range):
    1 / (1 + 10^−(log10 LR + log10(π / (1 − π)))); log10 LR −Inf gives 0, +Inf gives 1."""
    if math.isnan(log10_lr):
        return math.nan
    log_odds = log10_lr + math.log10(prior) - math.log10(1.0 - prior)
    if log_odds > 300:
        return 1.0
    odds = 10.0 ** log_odds  # far below 1e-300 this underflows to the float nearest (0 at last)
    return odds / (odds + 1.0)


def posterior_of_lr(lr: float, log10_lr: float, prior: float) -> float:
    """The posterior of a result that carries both its LR and its log10 LR: from the LR where
    it is a finite positive float, else from log10 LR (an LR that left the float range keeps
    an exact log10), else LR 0 -> 0, Inf -> 1, NaN -> NaN."""
    if math.isnan(lr) or math.isnan(log10_lr):
        return math.nan
    if 0.0 < lr < math.inf:
        return posterior(lr, prior)
    if math.isfinite(log10_lr):
        return posterior_from_log10(log10_lr, prior)
    return posterior(lr, prior)
