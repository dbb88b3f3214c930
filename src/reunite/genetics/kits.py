"""Typing kits (sets of loci) and markers built from a population table.

Each kit lists its autosomal STR loci (used for kinship) and its other markers (Amelogenin,
Y-STRs, the Y indel: typed by the kit, listed, never used for autosomal kinship), with the
source of the list.  Sources (also in ``reunite/data/SOURCES.md``, "Typing kits"):

=================  ====  =============================================================================
kit                loci  source of the locus list
=================  ====  =============================================================================
CHN24              24    reunite's own panel (below), not a commercial kit
GoldenEye20A       19    Beijing PeopleSpot; validation in Int J Legal Med (2013),
                         doi:10.1007/s00414-013-0842-7: 13 CODIS + Penta E, Penta D, D2S1338,
                         D19S433, D12S391, D6S1043, and Amelogenin (confirmed from that abstract)
HuaxiaPlatinum     23    Thermo Fisher (Huaxia Platinum PCR Amplification Kit, for Chinese
                         laboratories); validation: Sheng et al., Forensic Sci Res 3 (2018),
                         doi:10.1080/20961790.2018.1428782 (the abstract seen names no loci):
                         NOT CONFIRMED against a document here, see the note
VeriFilerPlus      23    Thermo Fisher (VeriFiler Plus): the 20 expanded CODIS loci + D6S1043,
                         Penta D, Penta E, with DYS391, Y indel and Amelogenin; cited as a
                         CODIS/ESS kit in the SureID 23comp evaluation; the full list NOT
                         CONFIRMED against the user guide here
PowerPlex21        20    Promega; Ensenberger et al., FSI Genet 9 (2014) 169-178 (NIST abstract:
                         the full list of loci, confirmed)
GlobalFiler        21    Thermo Fisher GlobalFiler user guide (24 markers); the 21 autosomal loci
                         as in norSTR ``markerSets$globalfiler`` and the SureID PanGlobal paper
                         (Sci Rep 2017, doi:10.1038/s41598-017-04548-1) (confirmed)
IdentifilerPlus    15    Thermo Fisher; the Identifiler loci (Collins et al., J Forensic Sci 49
                         (2004) 1265-77: 13 CODIS + D2S1338, D19S433, Amelogenin); Identifiler
                         Plus keeps the loci with new buffer and cycling (confirmed for Identifiler)
GBT37223_core      19    GB/T 37223-2018 (parentage testing): NOT CONFIRMED; the text of the
                         standard was not available.  The 19 loci of GoldenEye 20A (13 CODIS + the
                         6 Chinese-kit loci), the set Chinese kits built for the standard share
=================  ====  =============================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from reunite.errors import ReuniteError
from reunite.genetics.frequencies import get_population
from reunite.genetics.kinship import Marker, Mutation
from reunite.genetics.mutation import MutationModel
from reunite.genetics.rates import locus_rates

#: A 24-locus panel of the loci shared by common Chinese forensic kits: the 20 expanded
#: CODIS core loci plus PENTA_D, PENTA_E, D6S1043 and D22GATA198B05 (all in the GB/T 37223
#: table; SE33 is left out because that table lacks its allele 30.2).
CHN24 = (
    "D3S1358", "VWA", "D16S539", "CSF1PO", "TPOX", "D8S1179", "D21S11", "D18S51",
    "PENTA_E", "D2S441", "D19S433", "TH01", "FGA", "D22S1045", "D5S818", "D13S317",
    "D7S820", "D6S1043", "D10S1248", "D1S1656", "D12S391", "D2S1338", "PENTA_D",
    "D22GATA198B05",
)

CODIS13 = ("CSF1PO", "D3S1358", "D5S818", "D7S820", "D8S1179", "D13S317", "D16S539", "D18S51",
           "D21S11", "FGA", "TH01", "TPOX", "VWA")
CODIS20 = CODIS13 + ("D1S1656", "D2S441", "D2S1338", "D10S1248", "D12S391", "D19S433", "D22S1045")


@dataclass(frozen=True)
class Kit:
    """A typing kit: its autosomal STR loci (``loci``, used for kinship), its other markers
    (``other_markers``: Amelogenin, Y-STRs, the Y indel; never used for autosomal kinship),
    the maker, where the list comes from and whether it was confirmed against that source."""

    name: str
    loci: tuple[str, ...]
    other_markers: tuple[str, ...]
    maker: str
    source: str
    confirmed: bool
    note: str = ""


KIT_DEFINITIONS: dict[str, Kit] = {k.name: k for k in (
    Kit("CHN24", CHN24, (), "reunite",
        "reunite's panel: the 20 expanded CODIS core loci plus Penta D, Penta E, D6S1043 and D22GATA198B05, "
        "all in the GB/T 37223 frequency table", True),
    Kit("GoldenEye20A", CODIS13 + ("PENTA_E", "PENTA_D", "D2S1338", "D19S433", "D12S391", "D6S1043"),
        ("AMELOGENIN",), "Beijing PeopleSpot",
        "Int J Legal Med (2013), doi:10.1007/s00414-013-0842-7 (abstract: 13 CODIS core loci and Penta E, "
        "Penta D, D2S1338, D19S433, D12S391, D6S1043, plus Amelogenin)", True),
    Kit("HuaxiaPlatinum", CODIS20 + ("D6S1043", "PENTA_D", "PENTA_E"), ("AMELOGENIN",), "Thermo Fisher Scientific",
        "Sheng X et al., Forensic Sci Res 3 (2018), doi:10.1080/20961790.2018.1428782 (validation of the "
        "Huaxia Platinum kit, 23 autosomal STRs)", False,
        "the abstract found gives 23 autosomal STRs but not their names; the list (the expanded CODIS 20 + "
        "D6S1043, Penta D, Penta E) is the manufacturer's description as recalled, not checked against a "
        "document here: check it against the kit's user guide before use"),
    Kit("VeriFilerPlus", CODIS20 + ("D6S1043", "PENTA_D", "PENTA_E"), ("AMELOGENIN", "DYS391", "YINDEL"),
        "Thermo Fisher Scientific",
        "VeriFiler Plus PCR Amplification Kit (Applied Biosystems): 23 autosomal STRs, DYS391, Y indel, "
        "Amelogenin; named among the CODIS/ESS kits in the SureID 23comp evaluation", False,
        "the user guide was not available here; the 23 autosomal loci are the manufacturer's description as "
        "recalled: check against the user guide before use"),
    Kit("PowerPlex21", CODIS13 + ("D1S1656", "D2S1338", "D6S1043", "D12S391", "D19S433", "PENTA_D", "PENTA_E"),
        ("AMELOGENIN",), "Promega",
        "Ensenberger MG et al., Developmental validation of the PowerPlex 21 System, FSI Genet 9 (2014) "
        "169-178 (NIST publication page lists every locus)", True),
    Kit("GlobalFiler", CODIS20 + ("SE33",), ("AMELOGENIN", "DYS391", "YINDEL"), "Thermo Fisher Scientific",
        "GlobalFiler PCR Amplification Kit user guide (Pub. 4477604; 24 markers); the 21 autosomal loci as "
        "in norSTR markerSets$globalfiler", True),
    Kit("IdentifilerPlus", CODIS13 + ("D2S1338", "D19S433"), ("AMELOGENIN",), "Thermo Fisher Scientific",
        "Collins PJ et al., J Forensic Sci 49 (2004) 1265-77 (Identifiler: 13 CODIS + D2S1338, D19S433, "
        "Amelogenin); Identifiler Plus types the same loci", True),
    Kit("GBT37223_core", CODIS13 + ("PENTA_E", "PENTA_D", "D2S1338", "D19S433", "D12S391", "D6S1043"), (),
        "GB/T 37223-2018 (China)",
        "GB/T 37223-2018, Specification of parentage testing (SAMR/SAC 2018-12-28)", False,
        "the standard's text was not available here: the 19 loci are the set Chinese parentage kits "
        "share (GoldenEye 20A's), not checked against the standard; its Appendix D frequency table "
        "(CHN_national_GBT37223) covers them"),
)}

#: Kit name -> its autosomal loci (the first is the default panel, CHN24).
KITS = {name: kit.loci for name, kit in KIT_DEFINITIONS.items()}


def get_kit(name: str) -> Kit:
    """The kit ``name`` (case and ``-``/``_``/spaces ignored: ``"GoldenEye 20A"`` works).

    Raises
    ------
    ReuniteError
        an unknown kit (the message lists them).
    """
    if name in KIT_DEFINITIONS:
        return KIT_DEFINITIONS[name]
    key = "".join(ch for ch in name.lower() if ch.isalnum())
    for kit in KIT_DEFINITIONS.values():
        if "".join(ch for ch in kit.name.lower() if ch.isalnum()) == key:
            return kit
    raise ReuniteError(f"--kit {name}: unknown kit; expected one of {', '.join(KIT_DEFINITIONS)} "
                       "('reunite kits' lists them)")


def missing_loci(kit: Kit, population) -> list[str]:
    """The kit's autosomal loci the population table lacks (in kit order)."""
    return [locus for locus in kit.loci if locus not in population.loci]


def covering_tables(kit: Kit, populations) -> list[str]:
    """Names of the tables among ``populations`` that have every autosomal locus of ``kit``."""
    return [p.name for p in populations if not missing_loci(kit, p)]

#: Defaults of the stepwise model when the per-locus table gives only the total rate.
DEFAULT_RATE2 = 1e-6
DEFAULT_RANGE = 0.1


def default_mutation(locus: str, *, model: str = "stepwise") -> Mutation:
    """Per-sex mutation model of ``locus`` with the shipped default rates."""
    r = locus_rates(locus)
    if model == "stepwise":
        return Mutation(MutationModel("stepwise", rate=r.female, rate2=DEFAULT_RATE2, range=DEFAULT_RANGE),
                        MutationModel("stepwise", rate=r.male, rate2=DEFAULT_RATE2, range=DEFAULT_RANGE))
    return Mutation(MutationModel(model, rate=r.female), MutationModel(model, rate=r.male))


def kit_markers(population: str = "CHN_national_GBT37223", *, kit=CHN24,
                mutation: str | None = "stepwise") -> list[Marker]:
    """Untyped markers (no genotypes) for the autosomal loci of ``kit`` (a name, a
    :class:`Kit` or a sequence of loci) from a population table.

    Raises
    ------
    ReuniteError
        an unknown kit, or a table that lacks some of the kit's loci (the message names them
        and the shipped tables that cover the kit).
    """
    pop = get_population(population)
    if isinstance(kit, str):
        kit = get_kit(kit)
    if isinstance(kit, Kit):
        lacking = missing_loci(kit, pop)
        if lacking:
            from reunite.genetics.frequencies import list_populations

            covering = covering_tables(kit, list_populations())
            raise ReuniteError(
                f"--population {population}: the table lacks {len(lacking)} of the {len(kit.loci)} loci of kit "
                f"{kit.name}: {', '.join(lacking)}; shipped tables that cover the kit: "
                f"{', '.join(covering) if covering else 'none'}")
        kit = kit.loci
    out = []
    for locus in kit:
        table = pop.locus(locus)
        out.append(Marker(table.locus, dict(table.afreq), {},
                          None if mutation is None else default_mutation(table.locus, model=mutation),
                          table.n_individuals, population))
    return out
