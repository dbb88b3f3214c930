"""Typing kits: their definitions, 'reunite kits', and 'simulate --kit' with every shipped table."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reunite.cli import app
from reunite.errors import ReuniteError
from reunite.genetics import table_registry
from reunite.genetics.frequencies import list_populations
from reunite.genetics.kits import KIT_DEFINITIONS, KITS, covering_tables, get_kit, kit_markers, missing_loci
from reunite.genetics.loci import AMELOGENIN, marker_kind, normalise_locus
from reunite.simulate import simulate_database

runner = CliRunner()
SHIPPED = list_populations()


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REUNITE_DATA_DIR", str(tmp_path / "reunite-data"))
    table_registry.clear_caches()
    yield
    table_registry.clear_caches()


def test_the_kits_asked_for_are_defined_with_a_source():
    assert set(KIT_DEFINITIONS) == {"CHN24", "GoldenEye20A", "HuaxiaPlatinum", "VeriFilerPlus", "PowerPlex21",
                                    "GlobalFiler", "IdentifilerPlus", "GBT37223_core"}
    assert next(iter(KITS)) == "CHN24"  # the default panel comes first (the model page lists its rates)
    sizes = {name: len(kit.loci) for name, kit in KIT_DEFINITIONS.items()}
    assert sizes == {"CHN24": 24, "GoldenEye20A": 19, "HuaxiaPlatinum": 23, "VeriFilerPlus": 23, "PowerPlex21": 20,
                     "GlobalFiler": 21, "IdentifilerPlus": 15, "GBT37223_core": 19}
    for kit in KIT_DEFINITIONS.values():
        assert kit.source and kit.maker
        assert kit.confirmed or kit.note, f"{kit.name}: an unconfirmed list says why"
        assert len(set(kit.loci)) == len(kit.loci)
        for locus in kit.loci:  # autosomal STRs, canonical names
            assert normalise_locus(locus) == locus and marker_kind(locus) == "str"
        for marker in kit.other_markers:  # Amelogenin, Y: listed, not used for kinship
            assert normalise_locus(marker) == marker and (marker == AMELOGENIN or marker_kind(marker) == "y")
            assert marker not in kit.loci
        assert KITS[kit.name] == kit.loci
    # kits that share a design share loci: Identifiler's 15 are in every larger Thermo/Promega kit
    ident = set(KIT_DEFINITIONS["IdentifilerPlus"].loci)
    for name in ("GlobalFiler", "VeriFilerPlus", "HuaxiaPlatinum", "PowerPlex21", "GoldenEye20A"):
        assert ident <= set(KIT_DEFINITIONS[name].loci), name
    assert "SE33" in KIT_DEFINITIONS["GlobalFiler"].loci and "PENTA_D" not in KIT_DEFINITIONS["GlobalFiler"].loci


def test_kit_names_are_forgiving():
    assert get_kit("GoldenEye 20A").name == "GoldenEye20A"
    assert get_kit("powerplex-21").name == "PowerPlex21"
    with pytest.raises(ReuniteError, match="unknown kit.*CHN24"):
        get_kit("Fusion 6C")


@pytest.mark.parametrize("kit_name", list(KIT_DEFINITIONS))
@pytest.mark.parametrize("population", [p.name for p in SHIPPED])
def test_every_shipped_table_with_every_kit(population, kit_name):
    """A table that covers the kit simulates its loci; one that does not is refused, naming
    exactly the kit's loci it lacks and the shipped tables that cover the kit."""
    kit = KIT_DEFINITIONS[kit_name]
    pop = next(p for p in SHIPPED if p.name == population)
    lacking = [locus for locus in kit.loci if locus not in pop.loci]
    if not lacking:
        db = simulate_database(3, 2, seed=7, population=population, kit=kit)
        assert {row[1] for row in db["genotypes"]} <= set(kit.loci)
        assert len(db["families"]) >= 9 and len(db["unidentified"]) == 2
        alleles = {locus: set(pop.loci[locus].afreq) for locus in kit.loci}
        for _, locus, a, b in db["genotypes"]:
            assert a in alleles[locus] and b in alleles[locus]
        return
    assert missing_loci(kit, pop) == lacking
    with pytest.raises(ReuniteError) as info:
        simulate_database(3, 2, seed=7, population=population, kit=kit)
    message = str(info.value)
    assert f"lacks {len(lacking)} of the {len(kit.loci)} loci of kit {kit.name}: {', '.join(lacking)};" in message
    covering = covering_tables(kit, SHIPPED)
    assert f"shipped tables that cover the kit: {', '.join(covering) or 'none'}" in message


def test_the_coverage_of_a_few_known_combinations():
    assert "CHN_national_GBT37223" in covering_tables(KIT_DEFINITIONS["CHN24"], SHIPPED)
    assert covering_tables(KIT_DEFINITIONS["CHN24"], SHIPPED) == ["CHN_national_GBT37223"]
    uk = next(p for p in SHIPPED if p.name == "GBR_Chinese_EA5")
    assert "PENTA_D" in missing_loci(KIT_DEFINITIONS["PowerPlex21"], uk)
    tu = next(p for p in SHIPPED if p.name == "CHN_Tu_Qinghai_Zhu2008")
    assert missing_loci(KIT_DEFINITIONS["IdentifilerPlus"], tu) == []


def test_simulation_is_the_same_for_a_kit_name_or_its_definition():
    a = simulate_database(5, 3, seed=11, population="CHN_Han_HGDP", kit="GoldenEye 20A")
    b = simulate_database(5, 3, seed=11, population="CHN_Han_HGDP", kit=KIT_DEFINITIONS["GoldenEye20A"])
    assert a == b
    default = simulate_database(5, 3, seed=11)
    assert {row[1] for row in default["genotypes"]} <= set(KITS["CHN24"])
    assert default["notes"] == []
    se33 = simulate_database(3, 2, seed=1, kit="GlobalFiler")  # GB/T SE33 lacks allele 30.2: said, not hidden
    assert se33["notes"] == ["CHN_national_GBT37223 SE33: frequencies sum to 0.954; renormalised for the simulation"]
    markers = kit_markers("CHN_national_GBT37223", kit="CHN24")
    assert [m.name for m in markers] == list(KITS["CHN24"])


def test_cli_kits_and_simulate(tmp_path):
    listed = runner.invoke(app, ["kits"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    for name in KIT_DEFINITIONS:
        assert name in listed.output
    shown = runner.invoke(app, ["kits", "show", "VeriFiler Plus"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "DYS391" in shown.output and "not used for autosomal kinship" in shown.output
    assert "NOT confirmed" in shown.output
    out = tmp_path / "sim"
    done = runner.invoke(app, ["simulate", "--families", "4", "--unidentified", "2", "--seed", "3", "--out", str(out),
                               "--kit", "IdentifilerPlus", "--population", "CHN_Tu_Qinghai_Zhu2008"])
    assert done.exit_code == 0, (done.output, done.exception)
    assert "kit IdentifilerPlus (15 autosomal loci), table CHN_Tu_Qinghai_Zhu2008" in done.output
    loci = {line.split(",")[1] for line in (out / "genotypes.csv").read_text().splitlines()[1:]}
    assert loci <= set(KITS["IdentifilerPlus"])
    refused = runner.invoke(app, ["simulate", "--families", "4", "--unidentified", "2", "--seed", "3", "--out",
                                  str(tmp_path / "sim2"), "--kit", "PowerPlex21", "--population", "GBR_Chinese_EA5"])
    assert refused.exit_code != 0 and isinstance(refused.exception, ReuniteError)
    assert "lacks" in str(refused.exception) and "PENTA_D" in str(refused.exception)
    unknown = runner.invoke(app, ["simulate", "--seed", "1", "--out", str(tmp_path / "s3"), "--kit", "NoSuchKit"])
    assert isinstance(unknown.exception, ReuniteError) and "unknown kit" in str(unknown.exception)


def test_simulate_with_an_imported_table(tmp_path):
    """An imported table that covers the kit simulates; one that lacks loci says which."""
    from reunite.genetics.frequencies import get_population
    from reunite.genetics.table_import import read_table_csv

    source = get_population("CHN_Tu_Qinghai_Zhu2008")
    lines = ["locus,allele,frequency"] + [f"{t.locus},{a},{f}" for t in source.loci.values()
                                          for a, f in t.afreq.items()]
    path = Path(tmp_path / "tu.csv")
    path.write_text("\n".join(lines) + "\n")
    table_registry.save_table("Lab_Tu", read_table_csv(path))
    db = simulate_database(3, 2, seed=5, population="Lab_Tu", kit="IdentifilerPlus")
    assert {row[1] for row in db["genotypes"]} <= set(KITS["IdentifilerPlus"])
    with pytest.raises(ReuniteError, match=r"--population Lab_Tu: the table lacks 4 of the 19 loci of kit "
                                           r"GoldenEye20A: PENTA_E, PENTA_D, D12S391, D6S1043"):
        simulate_database(3, 2, seed=5, population="Lab_Tu", kit="GoldenEye20A")
