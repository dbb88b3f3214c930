"""The count of joint assignments stops at 2**53 (where the search is refused anyway): a
22-child operation compared with 50 families at limit 0 (the API's bounds) was counted over
every missing person, for more than a minute, only to be refused.  Simulated problems."""

import numpy as np
import pytest

from reunite.cases.joint_identification import _error_item
from reunite.errors import ReuniteError
from reunite.genetics.dvi import COUNT_CEILING, DviProblem, ReferenceFamily, Victim, count_assignments, \
    joint_identification
from reunite.genetics.kinship import Marker
from reunite.genetics.pedigree import make_pedigree
from test_dvi import _family, _gene_drop


def _problem(num_victims: int, num_families: int, *, seed: int = 1) -> DviProblem:
    """One nearly uninformative marker: almost every pairing is possible."""
    rng = np.random.default_rng(seed)
    marker = Marker("L1", {"10": 0.5, "11": 0.5}, {}, None)
    families = []
    for k in range(num_families):
        people, typed, missing = _family(0, k, rng)
        ped = make_pedigree(people)
        g = _gene_drop(ped, marker.afreq, rng)
        families.append(ReferenceFamily(f"F{k}", ped, tuple(missing), {p: {"L1": g[p]} for p in typed}))
    victims = [Victim(f"V{i}", "U", {"L1": tuple(str(a) for a in rng.choice(["10", "11"], size=2))})
               for i in range(num_victims)]
    return DviProblem(victims, families, [marker], name="many")


def test_a_count_beyond_2_53_stops_there_and_is_refused_naming_it():
    problem = _problem(22, 50)
    assert count_assignments(problem, limit=0) == COUNT_CEILING
    with pytest.raises(ReuniteError, match=f"more than {COUNT_CEILING} assignments") as info:
        joint_identification(problem, limit=0, max_assignments=1_000_000)
    assert _error_item(str(info.value)) == {"kind": "too_many", "num": COUNT_CEILING}


def test_counts_below_the_ceiling_are_exact():
    problem = _problem(6, 4)  # every victim may be any family's missing child, or no one's
    # partial injections of 6 victims into 4 missing persons: sum_j C(4, j) 6!/(6-j)!
    from math import comb, perm

    assert count_assignments(problem, limit=None) == sum(comb(4, j) * perm(6, j) for j in range(5))
