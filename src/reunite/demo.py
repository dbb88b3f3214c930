"""``make demo``: LRs of a few realistic, simulated kinship cases."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from reunite.cli import _fmt_lr
from reunite.genetics import pedigree as ped
from reunite.genetics.kinship import Marker, kinship_lr, kinship_lr_many
from reunite.genetics.kits import CHN24, kit_markers
from reunite.simulate import simulate_genotypes

POPULATION = "CHN_national_GBT37223"


def demo_cases(*, seed: int) -> list[tuple[str, str, object, object, list]]:
    """(id, description, H1, H2, markers) for the demo cases, genotypes simulated."""
    markers = kit_markers(POPULATION, kit=CHN24, mutation="stepwise")
    trio = ped.trio("AF", "MO", "CH")
    mother_duo = ped.duo("MO", "CH", parent_sex="F")
    sibs = ped.full_sibs("S1", "S2")
    gp = ped.grandparents("GF", "GM", "CH", parent="FA", other_parent="MO")
    not_father = ped.make_pedigree([ped.Individual("AF", sex="M"), ped.Individual("MO", sex="F"),
                                    ped.Individual("CH", None, "MO")])
    mut_locus = "D12S391"
    cases = [
        ("trio", "alleged father, mother, child", trio, not_father,
         simulate_genotypes(trio, markers=markers, seed=seed)),
        ("mother_duo", "mother, child", mother_duo, "unrelated",
         simulate_genotypes(mother_duo, markers=markers, seed=seed + 1)),
        ("full_sibs", "full sibling, child", sibs, "unrelated",
         simulate_genotypes(sibs, markers=markers, seed=seed + 2)),
        ("grandparents", "paternal grandparents, child", gp, "unrelated",
         simulate_genotypes(gp, markers=markers, seed=seed + 3, typed=["GF", "GM", "CH"])),
        ("trio_mutation", f"trio, paternal mutation at {mut_locus}",
         trio, not_father,
         simulate_genotypes(trio, markers=markers, seed=seed + 4, force_mutation=(mut_locus, "CH"))),
    ]
    return cases


def run_demo(console: Console, *, seed: int = 2016) -> None:
    cases = demo_cases(seed=seed)
    results = kinship_lr_many([(cid, h1, h2, m, 0.0) for cid, _, h1, h2, m in cases])
    table = Table(title=f"reunite demo: simulated cases, {len(CHN24)} loci, {POPULATION}, "
                        "stepwise mutation with the shipped per-locus rates, θ = 0")
    for col in ("case", "typed (H1: related as named)", "H2", "LR", "log10 LR"):
        table.add_column(col)
    for (cid, desc, _, h2, _), r in zip(cases, results):
        vs = "not the father" if not isinstance(h2, str) else "unrelated"
        table.add_row(cid, desc, vs, _fmt_lr(r.lr_total), f"{r.log10_lr_total:.2f}")
    console.print(table)
    r = results[-1]
    locus = min(r.lr_per_marker, key=r.lr_per_marker.get)
    cid, _, h1, h2, markers = cases[-1]
    marker = next(m for m in markers if m.name == locus)
    plain = Marker(marker.name, marker.afreq, marker.genotypes, None, marker.n_individuals, marker.source)
    without = kinship_lr(h1, h2, [plain]).lr_per_marker[locus]
    g = {pid: "/".join(sorted(ab, key=float)) for pid, ab in marker.genotypes.items()}
    console.print(
        f"\nIn [bold]{cid}[/bold] at {locus} the child is {g['CH']}, the mother "
        f"{g['MO']} and the alleged father {g['AF']}. Without a mutation model "
        f"that locus gives LR {_fmt_lr(without)}; with the stepwise model it gives "
        f"LR {_fmt_lr(r.lr_per_marker[locus])}, and the total over {len(r.lr_per_marker)} loci is "
        f"{_fmt_lr(r.lr_total)} (log10 {r.log10_lr_total:.2f})."
    )
    console.print(
        "\nWhere to look next:\n"
        "  reunite populations                      the shipped frequency tables\n"
        "  reunite lr tests/data/cases.json         127 cases cross-checked against the R pedsuite\n"
        "  README.md                                the model: assumptions, formulas, θ, mutation\n"
        "  make bench                               throughput of the engine\n"
    )
