"""The ``reunite`` command line."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from reunite import __version__
from reunite.errors import ReuniteError

app = typer.Typer(
    help="reunite: kinship statistics to bring missing and trafficked children home.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _fmt_lr(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e6:
        return f"{x:,.4g}"
    return f"{x:.4e}"


def _fmt_log(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.3f}"


@app.callback()
def _main(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    """reunite: kinship statistics to bring missing and trafficked children home."""
    if version:
        console.print(f"reunite {__version__}")
        raise typer.Exit()


@app.command()
def populations() -> None:
    """List the shipped allele-frequency tables (name, loci, sample size, source)."""
    from reunite.genetics.frequencies import list_populations

    table = Table(title="Allele-frequency tables shipped with reunite (provenance: reunite/data/SOURCES.md)")
    for col in ("population", "loci", "sample size (individuals)", "source"):
        table.add_column(col)
    for pop in list_populations():
        table.add_row(pop.name, str(len(pop.loci)), pop.sample_size, ", ".join(pop.sources))
    console.print(table)


@app.command()
def lr(
    cases_file: Path = typer.Argument(..., help="Kinship cases in the kinship case format (JSON)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    keep_going: bool = typer.Option(False, "--keep-going", help="Run the valid cases even if some are malformed."),
    normalise: bool = typer.Option(False, "--normalise", help="Renormalise frequency tables that do not sum to 1."),
    floor: float = typer.Option(0.001, "--floor", help="Frequency of alleles absent from a table of unknown size."),
) -> None:
    """Compute likelihood ratios for every case in CASES_FILE."""
    from reunite.genetics.caseio import load_cases_json, parse_case
    from reunite.genetics.kinship import kinship_lr_many

    try:
        raw = load_cases_json(cases_file)
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    parsed, errors = [], {}
    order = []
    for k, item in enumerate(raw, start=1):
        cid = str(item.get("id", f"#{k}")) if isinstance(item, dict) else f"#{k}"
        order.append(cid)
        try:
            parsed.append(parse_case(item, number=k))
        except ReuniteError as exc:
            errors[cid] = str(exc)
    results = []
    chunk = 256
    with Progress(TextColumn("computing LRs"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True,
                  disable=len(parsed) <= chunk or not err.is_terminal) as progress:
        task = progress.add_task("lr", total=len(parsed))
        for start in range(0, len(parsed), chunk):
            part = parsed[start:start + chunk]
            results += kinship_lr_many([(c.id, c.h1, c.h2, c.markers, c.theta) for c in part],
                                       floor=floor, normalise=normalise, keep_going=True)
            progress.advance(task, len(part))
    by_id = {}
    for case, res in zip(parsed, results):
        if isinstance(res, ReuniteError):
            errors[case.id] = str(res)
        else:
            by_id[case.id] = res
    if errors and not keep_going:
        for cid in order:
            if cid in errors:
                err.print(f"[red]error:[/red] {errors[cid]}")
        err.print(f"{len(errors)} of {len(order)} cases are malformed; nothing was computed. "
                  "Fix them, or pass --keep-going to compute the others.")
        raise typer.Exit(1)
    if as_json:
        out = []
        for cid in order:
            if cid in by_id:
                out.append(by_id[cid].to_json())
            else:
                out.append({"id": cid, "error": errors[cid]})
        sys.stdout.write(json.dumps({"results": out}, indent=1) + "\n")
    else:
        table = Table(title=f"Likelihood ratios: {cases_file}")
        for col in ("case", "LR", "log10 LR", "markers", "notes"):
            table.add_column(col, overflow="fold")
        for cid in order:
            if cid in by_id:
                r = by_id[cid]
                notes = "; ".join(f"{m}: {why}" for m, why in r.notes.items())
                table.add_row(cid, _fmt_lr(r.lr_total), _fmt_log(r.log10_lr_total),
                              str(len(r.lr_per_marker)), notes)
            else:
                table.add_row(cid, "-", "-", "-", f"[red]error:[/red] {errors[cid]}")
        console.print(table)
    if errors:
        for cid in order:
            if cid in errors:
                err.print(f"[red]error:[/red] {errors[cid]}")
        raise typer.Exit(1)


@app.command()
def demo(seed: int = typer.Option(2016, help="Seed of the simulation.")) -> None:
    """Compute the LRs of a few realistic simulated cases and print them."""
    from reunite.demo import run_demo

    run_demo(console, seed=seed)


def main() -> None:
    """Console-script entry point: library errors become clean messages."""
    try:
        app()
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
