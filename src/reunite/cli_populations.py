"""``reunite populations`` (the frequency tables: shipped and imported) and ``reunite kits``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from reunite.cli_common import console, err, print_table
from reunite.errors import ReuniteError

populations_app = typer.Typer(help="Allele-frequency tables: list (no subcommand), import, show, remove.",
                              invoke_without_command=True)
kits_app = typer.Typer(help="Typing kits and their loci: list (no subcommand), show.", invoke_without_command=True)


@populations_app.callback(invoke_without_command=True)
def populations(ctx: typer.Context) -> None:
    """List the allele-frequency tables: shipped with reunite and imported by the laboratory."""
    if ctx.invoked_subcommand is not None:
        return
    from reunite.genetics.frequencies import list_populations
    from reunite.genetics.table_registry import scan_imported, tables_dir

    table = Table(title="Allele-frequency tables (shipped: provenance in reunite/data/SOURCES.md; imported: "
                        "'reunite populations show NAME')")
    imported, problems = scan_imported()
    # a name is typed into other commands: never folded ("CHN_Tu_Qinghai_Zhu" / "2008")
    table.add_column("population", no_wrap=True,
                     min_width=max(len(p.name) for p in [*list_populations(), *imported]))
    for col in ("kind", "loci", "sample size (individuals)", "source"):
        table.add_column(col, overflow="fold")
    for pop in list_populations():
        table.add_row(pop.name, "shipped", str(len(pop.loci)), pop.sample_size, ", ".join(pop.sources))
    for pop in imported:
        meta = pop.metadata
        source = (meta.get("source") or meta.get("source_file", {}).get("name") or "")
        table.add_row(escape(pop.name), "imported", str(len(pop.loci)), pop.sample_size,
                      escape(f"{source}; sha256 {pop.sha256[:12]}; {meta.get('imported_at', '')} by "
                             f"{meta.get('imported_by', '')}"))
    print_table(table)
    for problem in problems:
        err.print(f"[red]refused:[/red] {escape(problem)}", highlight=False)
    if not imported and not problems:
        console.print(f"no imported tables in {tables_dir()} ('reunite populations import FILE --name NAME' adds one)",
                      highlight=False)


@populations_app.command("import")
def import_table(
    file: Path = typer.Argument(..., help="A long or wide CSV, or a Familias .fam file (its frequency database)."),
    name: str = typer.Option(None, "--name", help="The table's name (letters, digits, _ . -); required for a CSV, "
                             "default for a .fam: the file's database name or the file name."),
    sample_size: int = typer.Option(None, "--sample-size", help="Individuals typed, for loci whose file gives no "
                                    "N (the 5/2N rule for unseen alleles)."),
    source: str = typer.Option(None, "--source", help="Where the table comes from (publication, DOI, laboratory)."),
    reason: str = typer.Option("", "--reason", help="Why it is imported or replaced (recorded)."),
    replace: bool = typer.Option(False, "--replace", help="Replace a different table already imported under NAME "
                                 "(the old one is kept in the history folder)."),
    encoding: str = typer.Option(None, "--encoding", help="The CSV's encoding (default: UTF-8 with or without "
                                 "BOM, else GB18030)."),
    only: str = typer.Option(None, "--only", help="A long CSV with several populations: the one to import."),
) -> None:
    """Import a laboratory's frequency table, validated as the shipped tables are."""
    from reunite.genetics import table_import, table_registry

    if file.is_dir():
        raise ReuniteError(f"{file}: is a folder; give the table's file (a .csv or a Familias .fam)")
    if not file.is_file():
        raise ReuniteError(f"{file}: no such file")
    if file.suffix.lower() == ".fam":
        read = table_import.read_table_fam(file, sample_size=sample_size)
        if name is None:
            db_name = read.familias.get("database_name")
            # Familias writes "unknown" (or "Untitled database") for a database never named: the file's
            # name then says more, and two such files no longer collide under one name
            named = db_name and db_name.strip().lower() not in ("unknown", "untitled database")
            name = db_name if named and table_registry.NAME_PATTERN.fullmatch(db_name) else _name_from(file.stem)
    else:
        if name is None:
            raise ReuniteError(f"--name: give the table a name, e.g. --name {_name_from(file.stem)}")
        read = table_import.read_table_csv(file, encoding=encoding, only=only, sample_size=sample_size)
    record, what = table_registry.save_table(name, read, source=source, source_file=str(file), reason=reason,
                                             replace=replace)
    if what == "unchanged":
        console.print(f"table {escape(name)} is already imported with this content (sha256 {record['sha256']}); "
                      "nothing changed", highlight=False)
        return
    for note in read.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    layout = {"long": "long CSV", "wide": "wide CSV", "fam": "Familias .fam"}[read.layout]
    console.print(f"{what} table {escape(name)}: {record['num_loci']} loci, {record['num_alleles']} alleles, sample "
                  f"size {record['sample_size'] or 'not stated'}; read as {layout}"
                  + (f", encoding {read.encoding}" if read.layout != "fam" else "")
                  + f"; sha256 {record['sha256']}", highlight=False)
    if what == "replaced":
        console.print(f"the previous table (sha256 {record['replaces']['sha256']}) is kept at "
                      f"{escape(record['replaces']['archived_as'])}; databases created with it keep their own copy "
                      "and refuse to open while this name holds a different table", highlight=False)
    console.print(f"stored at {table_registry.tables_dir() / (name + '.json')}", highlight=False)


def _name_from(stem: str) -> str:
    import re

    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem).strip("_.-") or "lab_table"
    return cleaned[:64]


@populations_app.command("show")
def show(name: str = typer.Argument(..., help="The table's name ('reunite populations' lists them).")) -> None:
    """Show a table: its loci, alleles, sample sizes, source and checksum; who imported it and when."""
    from reunite.genetics.frequencies import get_population

    pop = get_population(name)
    meta = pop.metadata
    lines = [f"table {escape(pop.name)} ({'shipped with reunite' if pop.origin == 'shipped' else pop.origin})"]
    if pop.origin == "shipped":
        lines.append(f"source: {', '.join(pop.sources)} (reunite/data/SOURCES.md)")
    else:
        src = meta.get("source_file", {})
        lines += [f"sha256: {pop.sha256}",
                  f"source: {escape(meta.get('source') or 'not stated')}",
                  f"source file: {escape(str(src.get('name')))} (sha256 {src.get('sha256')}, {src.get('layout')}, "
                  f"encoding {src.get('encoding')})",
                  f"imported: {meta.get('imported_at')} by {escape(str(meta.get('imported_by')))}"
                  + (f"; reason: {escape(meta['reason'])}" if meta.get("reason") else ""),
                  f"software: {meta.get('software')}"]
        if meta.get("replaces"):
            lines.append(f"replaces: sha256 {meta['replaces']['sha256']} (kept at "
                         f"{escape(str(meta['replaces']['archived_as']))})")
        for note in meta.get("notes", []):
            lines.append(f"note: {escape(note)}")
        models = meta.get("mutation_models") or {}
        if models:
            lines.append(f"mutation models recorded from the file (not used: a database's model is chosen at "
                         f"'reunite db init'): {len(models)} markers")
            for locus, m in sorted(models.items()):
                lines.append(f"  {locus}: female {_model_text(m['female'])}; male {_model_text(m['male'])}")
        if meta.get("familias"):
            fam = meta["familias"]
            lines.append(f"Familias database {escape(str(fam.get('database_name')))}: theta {fam.get('theta')}")
    console.print("\n".join(lines), highlight=False)
    table = Table(title=f"{pop.name}: {len(pop.loci)} loci, sample size {pop.sample_size}")
    for col in ("locus", "alleles", "sum of frequencies", "sample size", "alleles (frequency)"):
        table.add_column(col, overflow="fold")
    for locus, t in sorted(pop.loci.items()):
        shown = ", ".join(f"{a} ({f:.4g})" for a, f in t.afreq.items())
        table.add_row(locus, str(len(t.afreq)), f"{sum(t.afreq.values()):.6f}",
                      str(t.n_individuals) if t.n_individuals else "not stated", shown)
    print_table(table)


def _model_text(m: dict) -> str:
    text = f"{m['model']} rate {m['rate']:g}"
    if m.get("model") == "stepwise":
        text += f", rate2 {m.get('rate2', 0):g}, range {m.get('range', 0):g}"
    return text


@populations_app.command("remove")
def remove(
    name: str = typer.Argument(..., help="The imported table's name."),
    reason: str = typer.Option("", "--reason", help="Why it is removed (recorded in the history log)."),
) -> None:
    """Remove an imported table (moved to the history folder; databases keep their own copy)."""
    from reunite.genetics.table_registry import remove_table

    target = remove_table(name, reason=reason)
    err.print(f"[yellow]warning:[/yellow] databases created with {escape(name)} keep the copy they recorded at "
              "'reunite db init' and go on using it; new commands ('lr', 'db init', 'simulate') no longer find "
              "it", highlight=False)
    console.print(f"removed table {escape(name)}; the file is kept at {escape(str(target))}", highlight=False)


@kits_app.callback(invoke_without_command=True)
def kits(ctx: typer.Context) -> None:
    """List the typing kits: their autosomal STR loci and where each list comes from."""
    if ctx.invoked_subcommand is not None:
        return
    from reunite.genetics.kits import KIT_DEFINITIONS

    table = Table(title="Typing kits ('reunite kits show NAME' for the loci and the source)")
    table.add_column("kit", no_wrap=True, min_width=max(len(k) for k in KIT_DEFINITIONS))  # typed: never folded
    for col in ("autosomal loci", "other markers (not used for kinship)", "maker", "locus list"):
        table.add_column(col, overflow="fold")
    for kit in KIT_DEFINITIONS.values():
        table.add_row(kit.name, str(len(kit.loci)), ", ".join(kit.other_markers) or "-", kit.maker,
                      "confirmed" if kit.confirmed else "not confirmed (see show)")
    print_table(table)


@kits_app.command("show")
def kit_show(name: str = typer.Argument(..., help="The kit ('reunite kits' lists them).")) -> None:
    """Show a kit: its loci, its other markers, the source of the list and the tables that cover it."""
    from reunite.genetics.frequencies import list_populations
    from reunite.genetics.kits import covering_tables, get_kit
    from reunite.genetics.table_registry import list_imported

    kit = get_kit(name)
    lines = [f"kit {kit.name} ({kit.maker}): {len(kit.loci)} autosomal STR loci",
             "  " + ", ".join(kit.loci),
             "other markers (typed by the kit, not used for autosomal kinship): "
             + (", ".join(kit.other_markers) or "none"),
             f"source: {kit.source}",
             f"locus list: {'confirmed against the source' if kit.confirmed else 'NOT confirmed'}"]
    if kit.note:
        lines.append(f"note: {kit.note}")
    lines.append("shipped tables with every locus: " + (", ".join(covering_tables(kit, list_populations())) or "none"))
    imported = covering_tables(kit, list_imported())
    if imported:
        lines.append("imported tables with every locus: " + ", ".join(imported))
    console.print("\n".join(escape(line) for line in lines), highlight=False)
