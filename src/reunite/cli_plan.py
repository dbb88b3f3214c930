"""``reunite plan``: what a family's references can prove (``--family``), and what a threshold
means for the whole database (``--database``).  The numbers come from
:mod:`reunite.cases.planning`; this module only parses and prints."""

from __future__ import annotations

import json
import math

import typer
from rich.markup import escape
from rich.table import Table

from reunite.cli_common import AS_USER
from reunite.errors import ReuniteError

THRESHOLDS_HELP = ("LR thresholds, comma-separated (e.g. 1e2,1e4,1e6; default 10^0 to 10^12, one per power "
                   "of ten).")


def _parse_thresholds(text: str | None) -> list[float] | None:
    if text is None:
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not (value > 0 and math.isfinite(value)):
            raise typer.BadParameter(f"expected LR thresholds > 0 separated by commas (e.g. 1e2,1e4), found "
                                     f"{part!r}", param_hint="--thresholds")
        out.append(value)
    return out


def _p(x) -> str:
    if not isinstance(x, (int, float)):
        return str(x)
    if x == 0:
        return "0"
    if x >= 0.001:
        return f"{x:.4f}"
    return f"{x:.3e}"


def _log(x) -> str:
    return f"{x:.2f}" if isinstance(x, (int, float)) else str(x)


def _progress(console, total_label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn(total_label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=True)
    state = {"task": None}

    def update(done: int, total: int) -> None:
        if state["task"] is None:
            state["task"] = progress.add_task(total_label, total=total)
        progress.update(state["task"], completed=done)

    return progress, update


def _print_family(out: dict) -> None:
    from reunite.cli_common import console, print_table

    t = out["threshold"]
    console.print(f"family {escape(out['family'])}" + (f" (report {escape(out['report'])})" if out["report"] else "")
                  + f": missing person {escape(out['missing'])}; references: "
                  + ", ".join(f"{escape(r['person'])} ({r['relation']}, {r['loci']} loci)" for r in out["references"]),
                  highlight=False)
    table = Table(title=f"what the references can prove (threshold LR {t:g})")
    table.add_column("what", overflow="fold")
    table.add_column("true child", justify="right", overflow="fold")
    table.add_column("unrelated child", justify="right", overflow="fold")
    table.add_row("mean log10 LR (exact)", _log(out["mean_log10_lr_h1"]), _log(out["mean_log10_lr_h2"]))
    table.add_row(f"P(LR >= {t:g})", f"{_p(out['p_h1'])} ± {_p(out['se_h1'])}",
                  f"{_p(out['p_h2'])} ± {_p(out['se_h2'])}")
    table.add_row("probability of exclusion without mutation (exact)", "", _p(out["exclusion_power"]))
    for q in ("0.05", "0.5", "0.95"):
        table.add_row(f"log10 LR, {float(q):.0%} quantile", _log(out["quantiles_log10_lr_h1"][q]),
                      _log(out["quantiles_log10_lr_h2"][q]))
    print_table(table)
    if out["relatives"]:
        rel = Table(title="who else could give a sample (ranked by the gain in mean log10 LR)")
        for col in ("rank", "person", "relation", "mean log10 LR", "gain", f"P(LR >= {t:g})", "gain"):
            rel.add_column(col, justify="right" if col not in ("person", "relation") else "left", overflow="fold")
        for k, g in enumerate(out["relatives"], start=1):
            person = "(new)" if g["hypothetical"] else g["person"]
            rel.add_row(str(k), escape(person), g["relation"], _log(g["mean_log10_lr_h1"]),
                        _gain(g["gain_mean_log10_lr"]), _p(g["p_h1"]), f"{g['gain_p_h1']:+.4f}")
        print_table(rel)
    for note in out["notes"]:
        console.print(f"note: {escape(note)}", highlight=False)
    prov = out["provenance"]
    console.print(f"model: {escape(prov['genetic_model'])}; {len(prov['kit'])} loci; seed {prov['seed']}; "
                  f"{prov['num_simulations']:,} simulations", highlight=False)


def _gain(value: float) -> str:
    """A gain in mean log10 LR, signed; a gain that rounds to zero is "+0.00", never "+-0.00"."""
    if not math.isfinite(value):
        return _log(value)
    return f"{0.0 if abs(value) < 0.005 else value:+.2f}"


def _print_database(out: dict) -> None:
    from reunite.cli_common import console, print_table

    def count(n: int, one: str, many: str) -> str:
        return f"{n:,} {one if n == 1 else many}"

    console.print(f"{count(out['num_families'], 'missing person', 'missing persons')} in families with references "
                  f"({out['mix']} mix), {count(out['num_unidentified'], 'unidentified person', 'unidentified persons')}"
                  f", {count(out['num_pairs'], 'compared pair', 'compared pairs')}", highlight=False)
    table = Table(title="expected false candidates and true children found, by threshold")
    for col in ("LR threshold", "expected false candidates", "± s.e.", "share of true children found"):
        table.add_column(col, justify="right", overflow="fold")
    for t, f, se, s in zip(out["thresholds"], out["expected_false_candidates"],
                           out["se_expected_false_candidates"], out["share_true_found"]):
        table.add_row(f"{t:g}", _p(f) if f < 1 else f"{f:,.2f}", _p(se), f"{s:.1%}" if isinstance(s, float) else str(s))
    print_table(table)
    types = Table(title="P(LR >= t) by family type: true child / unrelated child")
    types.add_column("family type", no_wrap=True,  # a name, never folded ("both_parent / s")
                     min_width=max([11] + [len(row["name"]) for row in out["family_types"]]))
    types.add_column("families", justify="right")
    types.add_column("pairs", justify="right")
    shown = [j for j, t in enumerate(out["thresholds"]) if math.log10(t) in (2, 4, 6, 8)] or \
        list(range(min(3, len(out["thresholds"]))))
    for j in shown:
        types.add_column(f"t = {out['thresholds'][j]:g}", justify="right", overflow="fold")
    for row in out["family_types"]:
        types.add_row(escape(row["name"]), f"{row['num_families']:,}", f"{row['num_pairs']:,}",
                      *(f"{_p(row['p_h1'][j])} / {_p(row['p_h2'][j])}" for j in shown))
    print_table(types)
    for note in out["notes"]:
        console.print(f"note: {escape(note)}", highlight=False)
    prov = out["provenance"]
    console.print(f"model: {escape(prov['genetic_model'])}; kit of {len(prov['kit'])} loci; seed {prov['seed']}; "
                  f"{prov['simulated_families_per_type']} simulated families and "
                  f"{prov['num_simulations_per_type']:,} simulations per type", highlight=False)


def plan(
    family: str = typer.Option(None, "--family", help="A report's code or a family's code: plan for that family."),
    database: bool = typer.Option(False, "--database", help="Plan for the whole database (its family mix and size)."),
    threshold: float = typer.Option(10_000.0, "--threshold", help="The LR threshold of --family."),
    thresholds: str = typer.Option(None, "--thresholds", help=THRESHOLDS_HELP),
    seed: int = typer.Option(1, "--seed", help="Seed of the simulations (the same seed gives the same numbers)."),
    simulations: int = typer.Option(None, "--simulations",
                                    help="Simulated LR totals (--family: default 100,000; --database: per family "
                                         "type, default 20,000)."),
    missing: str = typer.Option(None, "--missing", help="The missing person (when the family has several)."),
    no_relatives: bool = typer.Option(False, "--no-relatives", help="Do not rank the untyped relatives."),
    relative_genotypes: int = typer.Option(0, "--relative-genotypes",
                                           help="Rank relatives over K of their genotypes drawn per marker "
                                                "(quicker; default 0: every genotype, exact)."),
    mix: str = typer.Option("database", "--mix", help="--database: 'database' (its families) or 'simulated' "
                                                      "(the simulator's family types)."),
    families_per_type: int = typer.Option(20, "--families-per-type", help="--database: simulated families per type."),
    max_types: int = typer.Option(12, "--max-types", min=0,
                                  help="--database: simulate the N most common family shapes; rarer ones are "
                                       "counted at their average rate (0: every shape)."),
    unidentified: int = typer.Option(None, "--unidentified",
                                     help="--database: plan for this many unidentified persons (growth)."),
    chart: str = typer.Option(None, "--chart", help="--database: write the chart (SVG) to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    as_user: str = AS_USER,
) -> None:
    """Planning and validation: for a family, the LR expected for its true child against an
    unrelated child, the probability of exclusion, P(LR >= threshold) and which untyped
    relatives would add most; for the database, the expected false candidates and the share
    of true children found against the threshold."""
    from reunite.cases import planning as service
    from reunite.cli_common import acting, err

    if bool(family) == bool(database):
        err.print("[red]error:[/red] give --family or --database (one of them)")
        raise typer.Exit(2)
    ts = _parse_thresholds(thresholds)
    if simulations is not None and simulations < 1:
        err.print(f"[red]error:[/red] --simulations: expected a positive number of simulations, found {simulations}")
        raise typer.Exit(2)
    if chart:
        _check_chart_path(chart)  # before the simulations, not after them
    engine, model, actor = acting(as_user)
    show = not as_json
    if family:
        progress, update = _progress(err, "ranking relatives")
        with progress if show else _Null():
            out = service.plan_family_in(
                engine, family, actor=actor, threshold=threshold, seed=seed,
                num_simulations=simulations or service.DEFAULT_SIMULATIONS, relatives=not no_relatives,
                missing=missing, model=model, progress=update if show else None,
                relative_genotypes=relative_genotypes or None)
        if as_json:
            print(json.dumps(out, indent=1))
        else:
            _print_family(out)
        return
    from reunite.cli_common import read

    progress, update = _progress(err, "simulating family types")
    kwargs = {} if ts is None else {"thresholds": ts}
    with progress if show else _Null():
        out = read(engine, lambda s: service.plan_database(
            s, actor=actor, seed=seed, num_simulations=simulations or 20_000, families_per_type=families_per_type,
            mix=mix, num_unidentified=unidentified, model=model, progress=update if show else None,
            max_types=max_types or None, **kwargs))
    if chart:
        from pathlib import Path

        from reunite.reports.planning_chart import planning_svg

        svg = planning_svg(out, title="Expected false candidates and true children found",
                           false_label="expected false candidates (log scale)",
                           found_label="share of true children found", x_label="LR threshold (log scale)")
        try:
            Path(chart).write_text(svg, encoding="utf-8")
        except OSError as exc:
            raise ReuniteError(f"--chart {chart}: cannot write the chart ({exc.strerror}); give a writable file "
                               "path ending in .svg") from None
    if as_json:
        print(json.dumps(out, indent=1))
    else:
        _print_database(out)
        if chart:
            from reunite.cli_common import console

            console.print(f"chart written to {escape(chart)}", highlight=False)


def _check_chart_path(chart: str) -> None:
    """--chart names a file that can be written: its folder exists and it is not a folder."""
    from pathlib import Path

    path = Path(chart)
    if path.is_dir():
        raise ReuniteError(f"--chart {chart}: is a folder; give a file path such as {path / 'plan.svg'}")
    if not path.parent.is_dir():
        raise ReuniteError(f"--chart {chart}: the folder {path.parent} does not exist; create it or give "
                           "another path")


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
