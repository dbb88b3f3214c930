"""``reunite lr``: likelihood ratios of kinship cases (the JSON case format) or of every
hypothesis of a Familias ``.fam`` file, with what a report quotes: per-marker LRs, the loci
that need a mutation under H1, the posterior for a stated prior and a verbal equivalent."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from reunite.cli_common import print_table
from reunite.errors import ReuniteError
from reunite.genetics.frequencies import DEFAULT_FLOOR

#: how a Familias file starts (its first line), when its name does not end in .fam
FAMILIAS_MARK = b'"Output from Familias'


def _cli():
    from reunite import cli

    return cli


def lr(
    cases_file: Path = typer.Argument(..., help="Kinship cases in the kinship case format (JSON), or a "
                                                 "Familias .fam file (every hypothesis against the last)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    keep_going: bool = typer.Option(False, "--keep-going", help="Run the valid cases even if some are malformed."),
    lenient: bool = typer.Option(False, "--lenient",
                                 help="Unknown keys in the case file are warnings, not errors."),
    normalise: bool = typer.Option(False, "--normalise", help="Renormalise frequency tables that do not sum to 1."),
    floor: float = typer.Option(DEFAULT_FLOOR, "--floor", help="Frequency of alleles absent from a table of unknown size."),
    prior: float = typer.Option(None, "--prior", help="Prior probability of H1 (0 < P < 1): shows the posterior "
                                                      "LR·P / (LR·P + 1 − P); 0.5 gives the classic probability of "
                                                      "paternity W. Default: no posterior."),
    verbal_scale: str = typer.Option(None, "--verbal-scale", metavar="NAME|FILE",
                                     help="Verbal scale: enfsi2015 (default), afsp2009, nordgaard2012, or a CSV/JSON "
                                          "file of lower bounds and words. Default from REUNITE_VERBAL_SCALE."),
    reference: str = typer.Option(None, "--reference", metavar="NAME",
                                  help="Familias files: the hypothesis the others are compared with (default: the last)."),
    summary: bool = typer.Option(False, "--summary", help="Only the summary table (no per-marker tables)."),
) -> None:
    """Compute likelihood ratios for every case in CASES_FILE (or every hypothesis of a .fam file)."""
    cli = _cli()
    err = cli.err
    from reunite.genetics.posterior import check_prior

    try:
        if prior is not None:
            prior = check_prior(prior, where="--prior")
        scale = _scale(verbal_scale)
    except (ValueError, ReuniteError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    if _is_familias(cases_file):
        for given, option in ((keep_going, "--keep-going"), (lenient, "--lenient")):
            if given:
                err.print(f"[red]error:[/red] {option}: only for JSON case files; a Familias file is one case "
                          "(its hypotheses), read strictly")
                raise typer.Exit(2)
        _fam(cases_file, as_json=as_json, prior=prior, scale=scale, reference=reference, floor=floor,
             normalise=normalise, summary=summary)
        return
    if reference is not None:
        err.print(f"[red]error:[/red] --reference {escape(reference)}: only for Familias .fam files (a JSON "
                  "case file states H1 and H2 in each case)")
        raise typer.Exit(2)
    _cases(cases_file, as_json=as_json, keep_going=keep_going, lenient=lenient, normalise=normalise,
           floor=floor, prior=prior, scale=scale, summary=summary)


def _scale(name_or_path: str | None):
    """The verbal scale: the option, else REUNITE_VERBAL_SCALE, else the default."""
    from reunite.genetics.verbal import get_scale

    if name_or_path is None:
        from pydantic import ValidationError

        from reunite.settings import Settings

        try:
            name_or_path = Settings().verbal_scale
        except ValidationError as exc:
            raise ReuniteError(f"bad setting: {exc.errors()[0]['msg']}") from None
        try:
            return get_scale(name_or_path)
        except ReuniteError as exc:
            raise ReuniteError(f"REUNITE_VERBAL_SCALE: {exc}") from None
    return get_scale(name_or_path)


def _is_familias(path: Path) -> bool:
    if path.suffix.lower() == ".fam":
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(len(FAMILIAS_MARK) + 3).lstrip(b"\xef\xbb\xbf").startswith(FAMILIAS_MARK)
    except OSError:
        return False


# --- the kinship case format ------------------------------------------------------------------

def _cases(cases_file: Path, *, as_json, keep_going, lenient, normalise, floor, prior, scale, summary) -> None:
    from reunite.genetics.caseio import load_case_document, read_cases
    from reunite.genetics.kinship import check_case, kinship_lr_many
    from reunite.genetics.lr_report import loci_needing_mutation_many, make_report

    cli = _cli()
    err = cli.err
    try:
        doc = load_case_document(cases_file)
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    try:
        case_file = read_cases(doc, source=str(cases_file), lenient=lenient)
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    entries = case_file.entries
    for warning in case_file.warnings + [w for e in entries for w in e.warnings]:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")

    def report_errors() -> None:
        for e in entries:
            if e.error is not None:
                err.print(f"[red]error:[/red] {escape(str(e.error))}")

    def refuse() -> None:
        report_errors()
        bad = sum(e.error is not None for e in entries)
        err.print(f"{bad} of {len(entries)} cases are malformed; no results were written. "
                  "Fix them, or pass --keep-going to compute the others.")
        raise typer.Exit(1)

    if any(e.error is not None for e in entries) and not keep_going:  # every bad case, nothing computed
        for e in entries:
            if e.case is not None:
                try:
                    check_case((e.case.id, e.case.h1, e.case.h2, e.case.markers, e.case.theta),
                               floor=floor, normalise=normalise)
                except ReuniteError as exc:
                    e.error = exc if e.error is None else ReuniteError(f"{e.error}; and {exc}")
        refuse()
    valid = [e for e in entries if e.case is not None and e.error is None]
    reports: dict[int, object] = {}
    chunk = 256
    with Progress(TextColumn("computing LRs"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True,
                  disable=len(valid) <= chunk or not err.is_terminal) as progress:
        task = progress.add_task("lr", total=len(valid))
        for start in range(0, len(valid), chunk):
            part = valid[start:start + chunk]
            cases = [(e.case.id, e.case.h1, e.case.h2, e.case.markers, e.case.theta) for e in part]
            computed = kinship_lr_many(cases, floor=floor, normalise=normalise, keep_going=True)
            needing = loci_needing_mutation_many(cases, computed, floor=floor, normalise=normalise)
            for e, res, loci in zip(part, computed, needing):
                if isinstance(res, ReuniteError):
                    e.error = res
                else:
                    reports[e.number] = make_report(res, loci_needing_mutation=loci, scale=scale, prior=prior)
            progress.advance(task, len(part))
    if any(e.error is not None for e in entries) and not keep_going:
        refuse()
    if as_json:
        out = []
        for e in entries:
            item = reports[e.number].to_json() if e.number in reports else {"id": e.id, "error": str(e.error)}
            item["warnings"] = e.warnings
            out.append(item)
        sys.stdout.write(json.dumps({"results": out, "warnings": case_file.warnings}, indent=1) + "\n")
    else:
        rows = [(e.id, reports.get(e.number), e.error) for e in entries]
        _print_tables(f"Likelihood ratios: {escape(str(cases_file))}", rows, scale=scale, prior=prior,
                      summary=summary, h1="H1")
    if any(e.error is not None for e in entries):
        report_errors()
        raise typer.Exit(1)


# --- tables -----------------------------------------------------------------------------------

def _posterior_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if value == 0.0:
        return "0"
    if value == 1.0:
        return "1 (to double precision)"
    if 0.0 < value < 1e-4 or 1 - value < 1e-6:
        if value > 0.5:  # never a bare "1" for a posterior below 1 (ten nines shown, the rest cut)
            return f"{value:.10g}" if f"{value:.10g}" != "1" else "> 0.9999999999"
        return f"{value:.4e}"
    return f"{value:.6f}"


def _print_tables(title: str, rows, *, scale, prior, summary: bool, h1: str, reference: str | None = None,
                  fam: bool = False) -> None:
    """The summary table (one row per case or hypothesis), then one per-marker table per result."""
    cli = _cli()
    console = cli.console
    table = Table(title=title)
    # the names and numbers are never broken across lines (a report quotes them); where the table
    # does not fit the terminal, _print_summary prints one block per case instead
    columns = ["case", "LR", "log10 LR", "markers"] if not fam else ["hypothesis", "LR", "log10 LR", "ln L",
                                                                     "posterior (equal priors)"]
    if prior is not None:
        columns.append(f"posterior (prior {prior:g})")
    for col in columns:
        table.add_column(col, no_wrap=True, justify="left" if col in ("case", "hypothesis") else "right")
    columns += [f"verbal ({scale.title})", "mutation needed at", "notes"]
    table.add_column(columns[-3], min_width=12, ratio=3)
    table.add_column(columns[-2], min_width=8, ratio=1)
    table.add_column(columns[-1], ratio=2)
    records = []
    for name, report, error in rows:
        if report is None:
            cells = [escape(name), *["-"] * (len(columns) - 2), f"[red]error:[/red] {escape(str(error))}"]
            table.add_row(*cells)
            records.append(cells)
            continue
        r = report.result
        cells = [escape(name), cli._fmt_lr(r.lr_total), cli._fmt_log(r.log10_lr_total)]
        if fam:
            ll = report.extra["loglik"]
            cells += [ll if isinstance(ll, str) else f"{ll:.6f}",
                      _json_text(report.extra["posterior_flat_prior"])]
        else:
            cells.append(str(len(r.lr_per_marker)))
        if prior is not None:
            cells.append(_posterior_text(report.posterior))
        words = report.verbal.words + (f" ({report.verbal.note})" if report.verbal.note else "")
        cells.append(escape(words))
        cells.append(escape(", ".join(report.loci_needing_mutation)) or "none")
        notes = [report.extra["reason"]] if report.extra.get("reason") else []
        notes += [f"{m}: {why}" for m, why in r.notes.items()]
        cells.append(escape("; ".join(notes)))
        table.add_row(*cells)
        records.append(cells)
    _print_summary(table, columns, records, title=title)
    if not summary:
        for name, report, _ in rows:
            if report is not None and not (fam and name == reference):  # the reference against itself
                print_table(_marker_table(name, report, h1=name if fam else h1))
    lines = [f"Verbal scale: {scale.title}: {scale.source}."]
    if fam:
        lines.append(f"LR = L(hypothesis) / L({reference}); posterior (equal priors) = L(H) / the sum of L over "
                     "the hypotheses (as Familias shows it); ln L = natural log of the likelihood L(H).")
    if prior is not None:
        lines.append(f"Posterior = LR·P / (LR·P + 1 − P) with the prior P = {prior:g} stated by the user"
                     + (" (the classic probability of paternity W)" if prior == 0.5 else "") + ".")
    lines.append("Mutation needed at: the loci impossible under " + ("the hypothesis" if fam else "H1")
                 + " once the mutation model is switched off (without a model: the exclusions).")
    lines += _provenance_lines([(name, report) for name, report, _ in rows if report is not None])
    for line in lines:
        console.print(escape(line), highlight=False)


def _provenance_lines(reports) -> list[str]:
    """One line per distinct provenance (software, frequency tables, theta, kit, mutation
    models), naming the cases it covers where there are several: every LR shown carries it."""
    groups: dict[str, list[str]] = {}
    for name, report in reports:
        p = report.result.provenance
        models = sorted({str(v) for v in p.get("mutation_models", {}).values()})
        if not models or models == ["none"]:
            mutation = "none"
        elif len(models) == 1:
            mutation = models[0] + " (every marker)"
        else:
            mutation = "; ".join(f"{m}: {d}" for m, d in p.get("mutation_models", {}).items())
        kit = p.get("kit", [])
        line = (f"{p.get('software', '')}; frequency tables: {', '.join(p.get('frequency_tables', [])) or '-'}; "
                f"theta {p.get('theta', 0.0):g}; kit ({len(kit)} markers): {', '.join(kit)}; "
                f"mutation models: {mutation}")
        if p.get("theta_in_file_not_applied"):
            line += f"; theta {p['theta_in_file_not_applied']:g} recorded in the file, not applied"
        groups.setdefault(line, []).append(name)
    if len(groups) == 1:
        return [f"Provenance: {line}." for line in groups]
    return [f"Provenance of {', '.join(names)}: {line}." for line, names in groups.items()]


def _print_summary(table: Table, columns: list[str], records: list[list[str]], *, title: str) -> None:
    """The summary table where it fits the terminal; else one block per case, one line per column
    (never a number broken across lines nor a table wider than the terminal)."""
    from rich.measure import Measurement

    console = _cli().console
    if Measurement.get(console, console.options.update(max_width=100_000), table).minimum <= console.width:
        console.print(table)
        return
    console.print(title, highlight=False)
    for cells in records:
        console.print(cells[0], highlight=False)
        for col, cell in zip(columns[1:], cells[1:]):
            if cell:
                console.print(f"  {col}: {cell}", highlight=False)


def _json_text(value) -> str:
    return value if isinstance(value, str) else _posterior_text(value)


def _marker_table(name: str, report, *, h1: str) -> Table:
    cli = _cli()
    r = report.result
    table = Table(title=f"{escape(name)}: per marker")
    table.add_column("marker", no_wrap=True)
    table.add_column("LR", no_wrap=True, justify="right")
    table.add_column("log10 LR", no_wrap=True, justify="right")
    table.add_column("note", min_width=12)
    needing = set(report.loci_needing_mutation)
    for marker, value in r.lr_per_marker.items():
        log10 = math.log10(value) if 0 < value < math.inf else (
            -math.inf if value == 0 else math.inf if value == math.inf else math.nan)
        notes = []
        if marker in needing:
            with_model = r.provenance.get("mutation_models", {}).get(marker, "none") != "none"
            notes.append(f"needs a mutation under {h1}" + (" (explained by the mutation model)"
                                                           if with_model and value > 0 else ""))
        if marker in r.notes:
            notes.append(r.notes[marker])
        frequency_note = r.provenance.get("frequency_notes", {}).get(marker)
        if frequency_note:  # a renormalised table or an allele given a minimum frequency
            notes.append(frequency_note)
        table.add_row(escape(marker), cli._fmt_lr(value), cli._fmt_log(log10), escape("; ".join(notes)))
    return table


# --- Familias files ---------------------------------------------------------------------------

def _has_dvi_section(path: Path) -> bool:
    """Whether a Familias file has a line that is exactly ``[DVI]`` (what makes it a DVI file)."""
    try:
        with open(path, "rb") as fh:
            return any(line.strip() == b"[DVI]" for line in fh)
    except OSError:
        return False


def _fam(path: Path, *, as_json, prior, scale, reference, floor, normalise, summary) -> None:
    from reunite.genetics.familias import read_fam
    from reunite.genetics.lr_report import fam_lrs

    cli = _cli()
    err = cli.err
    if _has_dvi_section(path):
        err.print(f"[red]error:[/red] {escape(str(path))}: a Familias DVI file (it has a [DVI] section: "
                  "unidentified persons and reference families), not a kinship case; identify its persons "
                  f"jointly with 'reunite identify {escape(str(path))}'")
        raise typer.Exit(2)
    try:
        fam = read_fam(path)
    except NotImplementedError:
        err.print(f"[red]error:[/red] {escape(str(path))}: reading Familias files is not available in this "
                  "version of reunite")
        raise typer.Exit(2) from None
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]error:[/red] {escape(str(path))}: cannot read the file ({escape(exc.strerror or str(exc))})")
        raise typer.Exit(2) from None
    for warning in getattr(fam, "warnings", []):
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    try:
        out = fam_lrs(fam, reference=reference, scale=scale, prior=prior, floor=floor, normalise=normalise)
    except ReuniteError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2 if fam.is_dvi or fam.database_only or reference is not None else 1) from None
    if as_json:
        sys.stdout.write(json.dumps(out.to_json(), indent=1) + "\n")
        return
    rows = [(r.result.id, r, None) for r in out.reports]
    num_markers = len(out.reports[0].result.lr_per_marker) if out.reports else 0
    _print_tables(f"Likelihood ratios against {escape(out.reference)}: {escape(str(path))} "
                  f"({num_markers} markers)", rows, scale=scale,
                  prior=prior, summary=summary, h1="H", reference=out.reference, fam=True)
