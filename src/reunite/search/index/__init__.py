"""A compact family index for exact one-to-many and many-to-many search at θ = 0.

For a family with missing person M and an unidentified person U typed x/y at a locus,

    LR_locus = P(M = x/y | references) / P(U = x/y),   P(U = x/y) = 2 p_x p_y (p_x² if x = y).

Only the references that are *requisite* for M (Bayes ball on the pedigree: d-connected to M
given the other typed people) change P(M | references); the others are left out, which is
exact at θ = 0 when every mutation matrix entry is positive (then P(references) > 0).

*Sides.*  When M's parents P and Q are in the pedigree, M has no requisite descendant, and,
in the pedigree of the requisite people and their ancestors without M, P and Q are not
connected, the two sides are independent:

    P(M paternal = a, maternal = b | refs) = s_P(a) s_Q(b),
    LR_locus = (s_P(x) s_Q(y) + s_P(y) s_Q(x)) / (2 p_x p_y)    (also right for x = y),

where s_P(a) = P(M's paternal allele = a | references on P's side) (after mutation) is a
vector over the locus' alleles, computed once by the kinship engine (:func:`joint_tables`)
per distinct (side, requisite genotypes) and shared by every family with the same side.
A typed parent's side, say, has as many distinct vectors as genotypes.

*Dense.*  Otherwise (siblings without typed parents, M with requisite children, M a
founder, ...) the index keeps the LR of every genotype of U, once per distinct (pedigree,
requisite genotypes), from the engine's joint table T:
LR(x/y) = (T[x, y] + T[y, x]) / (ΣT 2 p_x p_y).

Each (family, missing person) row stores two small integers per locus.  A query gathers
s(x), s(y) of every side vector (and LR(x/y) of every dense table) once per locus; the scan
over all rows is a compiled loop (Numba).  Every value is the engine's, combined by the
formulas above, so the scores are the exact LRs (to rounding, ~1e-15 relative per locus).

The package: :mod:`.plan` (requisite references, sides), :mod:`.closed_forms` (side vectors
and sibling tables by formula), :mod:`.table` (the index, its stored arrays, save/load),
:mod:`.files` (atomic writes, checksums, damaged files), :mod:`.kernels` (the scan and the
selection, Numba with NumPy versions), :mod:`.fast` (at θ = 0 the scan and the selection in one
pass, one key per (row, locus) pair, exact pruning by per-locus bounds; the top rows' details
from their keys; the same numbers bit for bit).  Every name is re-exported here.
"""

from reunite.search.index.closed_forms import _closed_form_siblings, _closed_form_sides, _uncle_side
from reunite.search.index.files import (
    TEMP_MARK,
    DamagedFileError,
    _process_started,
    arrays_checksum,
    read_checked_npz,
    remove_stale_temporaries,
    write_npz_atomically,
)
from reunite.search.index.kernels import (
    LOG10_2,
    NO_DATE,
    _age_py,
    _common_py,
    _no_dates,
    _scan_py,
    _select,
    _select_py,
    numba,
    scan,
)
from reunite.search.index.plan import Part, Plan, _ancestors, _canonical, make_plan, requisite_typed
from reunite.search.index.table import (
    LN10,
    MIN_ROWS_PER_THREAD,
    NARROW_KEYS,
    SEX_CODE,
    FamilyIndex,
    LocusTables,
    _missing_entry,
    _split_item,
    _tuples,
    family_rows,
    member_rows,
)

__all__ = [
    "LN10", "LOG10_2", "MIN_ROWS_PER_THREAD", "NARROW_KEYS", "NO_DATE", "SEX_CODE", "TEMP_MARK",
    "DamagedFileError", "FamilyIndex", "LocusTables", "Part", "Plan",
    "arrays_checksum", "family_rows", "make_plan", "member_rows", "numba", "read_checked_npz",
    "remove_stale_temporaries", "requisite_typed", "scan", "write_npz_atomically",
    "_age_py", "_ancestors", "_canonical", "_closed_form_siblings", "_closed_form_sides", "_common_py",
    "_missing_entry", "_no_dates", "_process_started", "_scan_py", "_select", "_select_py", "_split_item",
    "_tuples", "_uncle_side",
]
