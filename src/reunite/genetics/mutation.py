"""STR mutation models as transition matrices.

``M[i, j]`` is the probability that parental allele ``i`` is transmitted as allele ``j``
(rows sum to 1).  The models follow pedmut's definitions (see README, "Mutation models").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from reunite.errors import MutationModelError
from reunite.genetics.loci import allele_value

MODELS = ("equal", "proportional", "stepwise", "onestep", "custom")
#: Transformations applied to a model's matrix (None: none; "PM": made stationary, pedmut's PM).
TRANSFORMS = (None, "PM")


@dataclass(frozen=True)
class MutationModel:
    """One parent sex's mutation model for one marker.

    Parameters
    ----------
    model : one of ``equal``, ``proportional``, ``stepwise``, ``onestep``, ``custom``.
    rate : total mutation rate per meiosis (all models but ``custom``).
    rate2 : rate of mutations to another microvariant group (``stepwise``).
    range : relative probability of each extra repeat step (``stepwise``), 0 < range < 1.
    matrix : the transition matrix itself (``custom``), rows in allele order.
    transform : None, or ``"PM"``: the matrix is then made stationary for the allele
        frequencies with pedmut's "PM" method (Simonsson & Mostad 2016; Familias's
        "stepwise stationary" model is ``stepwise`` with ``transform="PM"``), see
        :func:`stationary_pm`.
    """

    model: str
    rate: float = 0.0
    rate2: float = 0.0
    range: float = 0.5
    matrix: tuple[tuple[float, ...], ...] | None = field(default=None)
    transform: str | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise MutationModelError(
                f"mutation model: expected one of {', '.join(MODELS)}, found {self.model!r}"
            )
        for name in ("rate", "rate2"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise MutationModelError(
                    f"mutation {name}: expected a probability in [0, 1], found {value!r}"
                )
        if self.model == "stepwise" and not (0.0 < self.range < 1.0):
            raise MutationModelError(
                f"mutation range: expected 0 < range < 1 for the stepwise model, found {self.range!r}"
            )
        if self.transform not in TRANSFORMS:
            raise MutationModelError(
                f"mutation transform: expected none or one of {', '.join(TRANSFORMS[1:])}, "
                f"found {self.transform!r}"
            )
        if self.model == "custom" and self.matrix is None:
            raise MutationModelError("custom mutation model: a 'matrix' is required")
        if self.matrix is not None and not isinstance(self.matrix, tuple):
            try:  # lists and arrays become nested tuples, so the model stays hashable
                rows = tuple(tuple(float(x) for x in row) for row in self.matrix)
            except (TypeError, ValueError):
                raise MutationModelError(
                    f"custom mutation matrix: expected rows of numbers, found {self.matrix!r}"
                ) from None
            object.__setattr__(self, "matrix", rows)

    def describe(self) -> str:
        """Short human-readable description, used in provenance."""
        if self.transform == "PM":
            return f"{MutationModel(self.model, self.rate, self.rate2, self.range, self.matrix).describe()}" \
                " made stationary (PM)"
        if self.model == "custom":
            return "custom matrix"
        if self.model == "stepwise":
            return f"stepwise(rate={self.rate:g}, rate2={self.rate2:g}, range={self.range:g})"
        return f"{self.model}(rate={self.rate:g})"

    def transition_matrix(self, alleles: list[str], afreq: np.ndarray) -> np.ndarray:
        """The ``n x n`` matrix for the given allele labels and frequencies (cached by what
        it depends on: the alleles and the model, plus the frequencies only for the
        ``proportional`` model and the ``PM`` transform)."""
        return _cached_matrix(self, tuple(alleles), afreq)

    @property
    def uses_frequencies(self) -> bool:
        """Whether the matrix depends on the allele frequencies (``proportional``, ``PM``)."""
        return self.model == "proportional" or self.transform == "PM"


_CACHE: dict[tuple, np.ndarray] = {}
_MAX_CACHED = 20000


def _remember(key: tuple, matrix: np.ndarray) -> np.ndarray:
    if len(_CACHE) > _MAX_CACHED:
        _CACHE.clear()
    matrix.setflags(write=False)
    _CACHE[key] = matrix
    return matrix


def _cached_matrix(model: MutationModel, alleles: tuple, afreq) -> np.ndarray:
    if not model.uses_frequencies:
        key = (model, alleles)
        hit = _CACHE.get(key)
        return hit if hit is not None else _remember(key, build_matrix(model, list(alleles), None))
    freqs = tuple(float(p) for p in afreq)
    key = (model, alleles, freqs)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    p = np.asarray(freqs, dtype=float)
    if model.model == "proportional":
        return _remember(key, build_matrix(model, list(alleles), p))
    # PM of a model that does not use the frequencies: its base matrix is cached by the alleles
    base = _cached_matrix(replace(model, transform=None), alleles, None)
    return _remember(key, stationary_pm(base, p))


def build_matrix(model: MutationModel, alleles: list[str], afreq: np.ndarray) -> np.ndarray:
    """Build the transition matrix of ``model`` (uncached; see the module docstring)."""
    m = _base_matrix(model, alleles, afreq)
    if model.transform == "PM":
        m = stationary_pm(m, np.asarray(afreq, dtype=float))
    return m


def stationary_pm(m: np.ndarray, afreq: np.ndarray) -> np.ndarray:
    """pedmut's "PM" transformation of ``m`` into a matrix for which ``afreq`` is stationary.

    With ``v`` the stationary distribution of ``m`` (``v m = v``, sum 1), the overall
    mutation rate ``R = 1 - sum_i m_ii p_i`` and ``d_i = R v_i / ((1 - sum_k m_kk v_k) p_i)``,
    the result is ``S = diag(d) (m - I) + I`` (Simonsson & Mostad 2016, FSI Genetics 23:217;
    pedmut ``makeStationary``).  ``p S = p`` and the overall rate is kept.

    Raises
    ------
    MutationModelError
        when the transformation does not exist (``d_i (1 - m_ii) > 1`` for some allele), or
        a frequency is 0.
    """
    m = np.asarray(m, dtype=float)
    p = np.asarray(afreq, dtype=float)
    n = m.shape[0]
    diag = np.diag(m)
    rate = 1.0 - float(np.sum(diag * p))
    if n == 1 or np.all(diag == 1.0):
        return m.copy()
    if np.any(p <= 0):
        raise MutationModelError(
            "stationary (PM) mutation model: every allele needs a frequency above 0")
    x = m.T - np.eye(n)
    x[n - 1, :] = 1.0
    rhs = np.zeros(n)
    rhs[n - 1] = 1.0
    try:
        v = np.linalg.solve(x, rhs)
    except np.linalg.LinAlgError:
        raise MutationModelError(
            "stationary (PM) mutation model: the matrix has no unique stationary distribution"
        ) from None
    moving = 1.0 - float(np.sum(diag * v))  # the stationary chance of a mutation
    if not moving > 0.0:
        # the stationary distribution sits on alleles that never mutate (e.g. an allele with
        # no stepwise neighbour): the formula would divide by 0 and give NaN entries
        raise MutationModelError(
            "stationary (PM) mutation model: the matrix's stationary distribution sits on alleles "
            "that never mutate, so the PM transformation does not exist; use the model without "
            "transform, or the equal model")
    d = rate * v / (moving * p)
    if not np.all(np.isfinite(d)):
        raise MutationModelError(
            "stationary (PM) mutation model: the PM transformation does not exist for these "
            "frequencies and rates; use the model without transform, or the equal model")
    if np.any(d * (1.0 - diag) > 1.0):
        raise MutationModelError(
            "stationary (PM) mutation model: the PM transformation does not exist for these "
            "frequencies and rates; use the model without transform, or the equal model")
    return (m - np.eye(n)) * d[:, None] + np.eye(n)


def _base_matrix(model: MutationModel, alleles: list[str], afreq: np.ndarray) -> np.ndarray:
    n = len(alleles)
    rate = model.rate
    if model.model == "custom":
        m = np.asarray(model.matrix, dtype=float)
        if m.shape != (n, n):
            raise MutationModelError(
                f"custom mutation matrix: expected {n}x{n} (one row and column per allele, "
                f"in afreq order), found shape {m.shape}"
            )
        if np.any(m < 0) or not np.allclose(m.sum(axis=1), 1.0, atol=1e-9):
            raise MutationModelError(
                "custom mutation matrix: every row must be non-negative and sum to 1"
            )
        return m.copy()
    if n == 1:
        return np.ones((1, 1))
    if model.model == "equal":
        m = np.full((n, n), rate / (n - 1))
        np.fill_diagonal(m, 1.0 - rate)
        return m
    if model.model == "proportional":
        p = np.asarray(afreq, dtype=float)
        het = float(np.sum(p * (1.0 - p)))
        bound = (1.0 - float(np.sum(p * p))) / (1.0 - float(np.min(p)))
        if rate > bound + 1e-15:
            raise MutationModelError(
                f"proportional mutation model: rate {rate:g} is above the largest valid rate "
                f"{bound:.6g} for these frequencies; lower the rate"
            )
        a = rate / het if het > 0 else 0.0
        m = np.tile(a * p, (n, 1))
        m[np.diag_indices(n)] += 1.0 - a
        return m
    values = [allele_value(a) for a in alleles]
    if any(v is None for v in values):
        bad = [a for a, v in zip(alleles, values) if v is None]
        raise MutationModelError(
            f"{model.model} mutation model needs numeric alleles; found {bad}. "
            "Use the equal or proportional model for markers with non-numeric alleles"
        )
    x = np.asarray(values, dtype=float)
    if model.model == "onestep":
        if np.any(x != np.round(x)):
            raise MutationModelError(
                "onestep mutation model needs integer alleles; found microvariants "
                f"{[a for a, v in zip(alleles, x) if v != round(v)]}. Use the stepwise model"
            )
        return _onestep(x, rate)
    return _stepwise(x, rate, model.rate2, model.range)


def _onestep(x: np.ndarray, rate: float) -> np.ndarray:
    """One-step matrix: ``rate`` split equally between the alleles one repeat away; an allele
    without such neighbours does not mutate."""
    n = len(x)
    neighbour = np.abs(x[:, None] - x[None, :]) == 1.0
    num = neighbour.sum(axis=1)
    has = num > 0
    m = np.zeros((n, n))
    m[neighbour] = (rate / np.maximum(num, 1))[:, None].repeat(n, axis=1)[neighbour]
    m[np.diag_indices(n)] = np.where(has, 1.0 - rate, 1.0)
    return m


def _stepwise(x: np.ndarray, rate: float, rate2: float, range_: float) -> np.ndarray:
    """Stepwise matrix (pedmut's ``stepwise``), built group by group without a loop over alleles.

    Alleles fall into microvariant groups by their tenths (``9.3`` and ``10.3`` together).
    Within a group allele ``i`` moves to ``j`` with probability ``rate * range^|x_i - x_j| /
    sum_k range^|x_i - x_k|`` (k over the group, k != i); to each allele of another group with
    ``rate2 / (number of alleles in other groups)``; the diagonal takes the rest.  Each row's
    normalising sum adds the same numbers in the same order as a sum over that row alone, so
    the matrix equals the row-by-row construction bit for bit.
    """
    n = len(x)
    group = np.round(10.0 * (x - np.round(x)))
    m = np.zeros((n, n))
    same_group = group[:, None] == group[None, :]
    n_other = n - same_group.sum(axis=1)
    other = ~same_group
    if other.any():
        m[other] = (rate2 / np.maximum(n_other, 1))[:, None].repeat(n, axis=1)[other]
    diag = np.ones(n)
    for g in np.unique(group, return_counts=True)[0]:  # (counts: NumPy 2.4 imports numpy.ma without)
        members = np.flatnonzero(group == g)
        k = len(members)
        if k < 2:
            continue
        xg = x[members]
        w = range_ ** np.abs(xg[:, None] - xg[None, :])
        off = ~np.eye(k, dtype=bool)
        w_off = w[off].reshape(k, k - 1)  # row i: every member but i, in allele order
        total = w_off.sum(axis=1)
        block = np.zeros((k, k))
        block[off] = (rate * w_off / total[:, None]).ravel()
        m[np.ix_(members, members)] = block
        diag[members] -= rate
    diag[n_other > 0] -= rate2
    m[np.diag_indices(n)] = diag
    return m


def lump_matrix(m: np.ndarray, keep: np.ndarray) -> np.ndarray | None:
    """Lump the alleles not in ``keep`` into one allele placed last, if ``m`` allows it.

    A matrix is lumpable for the partition {each kept allele} + {the rest} when every
    allele of "the rest" has the same total probability of moving into each block.
    Returns the ``(k+1) x (k+1)`` lumped matrix, or None if ``m`` is not lumpable.
    """
    n = m.shape[0]
    mask = np.ones(n, dtype=bool)
    mask[keep] = False
    rest = np.flatnonzero(mask)
    k = len(keep)
    if len(rest) == 0:
        return m[np.ix_(keep, keep)].copy()
    to_keep = m[:, keep]  # (n, k)
    to_rest = m[:, rest].sum(axis=1)  # (n,)
    sub = np.concatenate([to_keep[rest], to_rest[rest, None]], axis=1)
    if len(rest) > 1 and np.max(np.abs(sub - sub[0])) > 1e-12 * np.max(np.abs(sub[0])):
        return None
    out = np.empty((k + 1, k + 1))
    out[:k, :k] = to_keep[keep]
    out[:k, k] = to_rest[keep]
    out[k, :] = sub[0]
    return out
