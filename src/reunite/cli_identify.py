"""``reunite identify``: joint identification of the children of a rescue operation against
the families (:mod:`reunite.cases.joint_identification`), or of a laboratory's own DVI file
(``.fam`` or DVI JSON).  This module parses and prints; the service computes."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from reunite.cli_common import AS_USER, console, err, print_table

FAMILY = typer.Option(None, "--family", help="Also compare this family (a family or report code); repeatable.")
LIMIT = typer.Option(1.0, "--limit", help="Keep a pairing only when its pairwise LR is at least this (dvir's limit; "
                                          "0 keeps every pairing).")
TOP = typer.Option(10, "--top", help="List this many joint assignments, best first.")
UNDISPUTED = typer.Option(1e4, "--undisputed", help="LR threshold of an undisputed identification (dvir: 10,000).")


def identify(
    file: Path = typer.Argument(None, help="A Familias DVI file (.fam) or a DVI JSON file (instead of --operation).",
                                show_default=False),
    operation: str = typer.Option(None, "--operation", help="The rescue operation's code."),
    family: list[str] = FAMILY,
    limit: float = LIMIT,
    top: int = TOP,
    undisputed: float = UNDISPUTED,
    as_user: str = AS_USER,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the same content as the tables)."),
) -> None:
    """Joint identification of children rescued together (DVI): pairwise LRs, the best joint
    assignments with their LR and posterior, undisputed identifications, each child's most
    probable family."""
    from reunite.cases.joint_identification import identify_file, identify_operation_in
    from reunite.errors import ReuniteError

    if (file is None) == (operation is None):
        raise ReuniteError("identify: give either --operation CODE or a FILE (.fam or .json), not "
                           f"{'both' if file is not None else 'neither'}")
    if file is not None:
        if family:
            raise ReuniteError("--family: only with --operation (a file names its own families)")
        with console.status("computing the joint identification", spinner="dots") if not as_json else _Nothing():
            view = identify_file(file, limit=limit, top=top, undisputed_threshold=undisputed)
    else:
        from reunite.cli_common import acting

        engine, model, actor = acting(as_user)
        with (console.status("joint identification", spinner="dots") if not as_json else _Nothing()) as status:
            def progress(text: str) -> None:
                if status is not None:
                    status.update(text)

            view = identify_operation_in(
                engine, operation, actor=actor, model=model, families=family, limit=limit, top=top,
                undisputed_threshold=undisputed, progress=progress)
    if as_json:
        console.print_json(json.dumps(view, ensure_ascii=False, default=str))
        return
    print_view(view)


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _lr(x) -> str:
    from reunite.cli import _fmt_lr

    if isinstance(x, str):
        return {"Infinity": "Inf", "-Infinity": "-Inf"}.get(x, x)
    return "-" if x is None else _fmt_lr(x)


def _log10(x) -> str:
    if isinstance(x, str):
        return {"Infinity": "Inf", "-Infinity": "-Inf"}.get(x, x)
    return "-" if x is None else f"{x:.2f}"


def _p(x) -> str:
    if x is None or isinstance(x, str):
        return "-" if x is None else x
    return f"{x:.4f}" if x >= 1e-4 or x == 0 else f"{x:.2e}"


def _who(pair: dict) -> str:
    return "(not identified)" if pair.get("family") is None else f"{pair['family']}/{pair['missing']}"


def print_view(view: dict) -> None:
    """The view of :func:`identify_operation` / :func:`identify_file` as tables."""
    op = view.get("operation")
    if view.get("restricted"):
        console.print(f"rescue operation {escape(op['code'])} belongs to jurisdiction {escape(str(op['jurisdiction']))}: "
                      "only its code and owner are shown to you", highlight=False)
        return
    where = f"rescue operation {op['code']}" if op else f"file {view.get('file')}"
    families = [f for f in view["families"] if f.get("compared", True)]
    persons = "children" if op else "victims (unidentified persons)"
    person = "child" if op else "victim"
    console.print(f"joint identification of {where}: {len(view['children'])} {persons}, {len(families)} families, "
                  f"{len(view['missing'])} missing persons", markup=False, highlight=False)
    if view["pairwise"]:
        numbered = len(view["missing"]) > 8  # many columns: numbered, with a key below
        table = Table(title="pairwise LR (log10; 'x' excluded, '.' sex differs, * a stored candidate)"
                            + ("; columns: the missing persons numbered below" if numbered else ""))
        table.add_column(person, no_wrap=True)
        for k, col in enumerate(view["missing"], start=1):
            mark = " (restricted)" if col.get("restricted") else ""
            table.add_column(str(k) if numbered else f"{col['family']}/{col['missing']}{mark}", justify="right",
                             overflow="fold")
        for row in view["pairwise"]:
            cells = []
            for c in row["cells"]:
                text = {"sex": ".", "excluded": "x"}.get(c["state"]) or _log10(c["log10_lr"])
                cells.append(text + ("*" if c["candidate"] else ""))
            table.add_row(row["child"], *cells)
        print_table(_whole(table))
        if numbered:
            console.print("  " + "; ".join(f"{k}: {col['family']}/{col['missing']}"
                                           + (" (restricted)" if col.get("restricted") else "")
                                           for k, col in enumerate(view["missing"], start=1)),
                          markup=False, highlight=False)
    if view.get("error"):
        err.print(f"[yellow]joint search not run:[/yellow] {escape(view['error'])}", highlight=False)
    if view["assignments"]:
        table = Table(title=f"best joint assignments ({view['num_assignments']:,} searched; LR against no child "
                            "identified; posterior with a flat prior over the assignments)")
        table.add_column("rank", no_wrap=True, justify="right")
        table.add_column("assignment", min_width=20)
        for col in ("LR", "log10 LR", "posterior"):
            table.add_column(col, no_wrap=True, justify="right")
        for a in view["assignments"]:
            named = [p for p in a["pairs"] if p["family"] is not None]
            text = ", ".join(f"{p['child']} -> {_who(p)}" for p in named) or "no child identified"
            table.add_row(str(a["rank"]), text, _lr(a["lr"]), _log10(a["log10_lr"]), _p(a["posterior"]))
        print_table(_whole(table))
    if view["undisputed"]:
        table = Table(title=f"undisputed identifications (LR >= {view['settings']['undisputed_threshold']:g} and "
                            "that many times every other LR in its row and column)")
        for col in (person, "family", "missing", "LR", "log10 LR", "candidate"):  # codes and numbers whole
            table.add_column(col, no_wrap=True, justify="right" if col in ("LR", "log10 LR") else "left")
        for u in view["undisputed"]:
            table.add_row(u["child"], u["family"], u["missing"], _lr(u["lr"]), _log10(u["log10_lr"]),
                          _candidate(u["candidate"]))
        print_table(_whole(table))
    elif view["assignments"]:
        console.print("no undisputed identification", highlight=False)
    if view["marginals"]:
        table = Table(title=f"each {person}'s most probable missing person (summed over the assignments)")
        for col in (person, "most probable", "probability", "P(not identified)", "candidate"):
            table.add_column(col, no_wrap=True)
        for m in view["marginals"]:
            best = m["best"]
            if best is None or (m["not_identified"] is not None and m["probability"] is not None
                                and m["not_identified"] > m["probability"]):
                # no missing person is more probable than "not identified": say so, never a family at P 0.0000
                table.add_row(m["child"], "(not identified)", _p(m["not_identified"]), _p(m["not_identified"]),
                              _candidate(m["candidate"]))
                continue
            table.add_row(m["child"], f"{best['family']}/{best['missing']}", _p(m["probability"]),
                          _p(m["not_identified"]), _candidate(m["candidate"]))
        print_table(_whole(table))
    for note in view["notes"]:
        console.print(f"note: {note}", markup=False, highlight=False)
    prov = view["provenance"]
    console.print(f"provenance: {prov['software']}; {prov.get('genetic_model') or prov.get('frequency_table')}; "
                  f"computed at theta {prov['theta']:g}; {len(prov['kit'])} loci: {', '.join(prov['kit'])}; mutation: "
                  f"{_mutation_summary(prov['mutation'])}", markup=False, highlight=False)


def _whole(table: Table) -> Table:
    """``table`` with each no-wrap column (codes, numbers) at least as wide as its widest cell, so
    that print_table never cuts a code or a number ("R-513431-2023-0…")."""
    from rich.cells import cell_len

    for col in table.columns:
        if col.no_wrap:
            widths = [cell_len(str(c)) for c in col._cells] + [cell_len(str(col.header))]
            col.min_width = max([col.min_width or 0, *widths])
    return table


def _candidate(c) -> str:
    return f"{c['id']} ({c['status']})" if c else "-"


def _mutation_summary(mutation: dict) -> str:
    kinds = sorted(set(mutation.values()))
    if len(kinds) == 1:
        return kinds[0]
    return f"{len(kinds)} models (per locus; --json lists them)"
