"""Joint identification of several unidentified persons against several families (DVI).

The definitions are those of the R package dvir (Vigeland & Egeland): victims (here the
unidentified, e.g. the children of one rescue operation) are singletons; each reference family
is a pedigree with typed references and one or more missing persons.  An *assignment* gives each
victim a missing person or nobody (``None``, dvir's ``"*"``), never one missing person to two
victims, and only pairings of compatible sex.

    loglik(a) = sum over families f of ln L(f with the victims a places in it)
                + sum over victims v left unassigned of ln L(v alone)
    LR(a)     = exp(loglik(a) - loglik(null)),  null = every victim unassigned
    posterior(a) = LR(a) / sum over all assignments of LR (flat prior over assignments)

Pairwise LR_ij = LR of the assignment {victim i -> missing j} alone.  Siblings among the victims
need no special case: two victims placed in one family as two missing siblings are scored
jointly by that family's likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reunite.genetics.kinship import Marker
from reunite.genetics.pedigree import Pedigree

#: The missing person of an unassigned victim (dvir writes "*").
NOT_IDENTIFIED = None


@dataclass(frozen=True)
class Victim:
    """An unidentified person: id, sex ('M', 'F' or 'U') and genotypes {marker: (a1, a2)}."""

    id: str
    sex: str
    genotypes: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class ReferenceFamily:
    """A family: its pedigree, its missing persons (ids in the pedigree) and the genotypes of
    its typed references {person: {marker: (a1, a2)}}."""

    name: str
    pedigree: Pedigree
    missing: tuple[str, ...]
    genotypes: dict[str, dict[str, tuple[str, str]]]


@dataclass
class DviProblem:
    """Victims, families and the markers (name, afreq, mutation; their ``genotypes`` unused).

    ``pairings``: optional {victim: [missing ids, or None for not identified]} restricting the
    candidates; None means every missing person of compatible sex, plus None.
    """

    victims: list[Victim]
    families: list[ReferenceFamily]
    markers: list[Marker]
    pairings: dict[str, list[str | None]] | None = None
    name: str = "dvi"


@dataclass
class PairwiseLR:
    """LR_ij of victim i placed on missing person j (rows: victims, cols: missing persons).

    ``lr[i, j]`` is NaN where the pair is not a candidate (sex), 0 for an exclusion;
    ``reasons[(victim, missing)]`` says why for every non-finite or zero entry.
    """

    victims: list[str]
    missing: list[str]
    lr: np.ndarray
    log10_lr: np.ndarray
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass
class Assignment:
    """One joint assignment: victim -> missing person (None = not identified)."""

    pairs: dict[str, str | None]
    loglik: float
    log10_lr: float  # against the null assignment
    lr: float  # against the null assignment (may overflow to inf; log10_lr stays exact)
    posterior: float  # flat prior over all assignments searched


@dataclass
class Undisputed:
    """An identification that needs no joint search: pairwise LR >= threshold and at least
    threshold times every other LR in its row and column (dvir's rule)."""

    victim: str
    missing: str
    lr: float


@dataclass
class JointResult:
    """The result of :func:`joint_identification`; ``assignments`` best first (top rows)."""

    assignments: list[Assignment]
    n_assignments: int
    loglik_null: float
    log_sum_lr: float  # ln of the sum over all assignments of LR against null
    marginals: dict[str, dict[str | None, float]]  # P(victim -> missing) summed over assignments
    undisputed: list[Undisputed]
    pairwise: PairwiseLR
    notes: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)


def pairwise_lr(problem: DviProblem) -> PairwiseLR:
    """The pairwise LR matrix (see :class:`PairwiseLR`)."""
    raise NotImplementedError


def joint_identification(problem: DviProblem, *, limit: float | None = None,
                         undisputed_threshold: float | None = 1e4, top: int = 20,
                         max_assignments: int = 5_000_000) -> JointResult:
    """Every assignment's joint LR and posterior, best first.

    ``limit``: drop pairings whose pairwise LR is below it (dvir's ``pairwiseLR(limit=)``);
    ``undisputed_threshold``: report (not assume) the undisputed identifications; None: none.
    Raises ReuniteError naming the count when more than ``max_assignments`` would be searched.
    """
    raise NotImplementedError
