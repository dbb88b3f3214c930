"""``reunite candidates ...``: list, show, and the review steps (assign, review, request
confirmation, attach a confirmation sample, confirm, reject), acting as ``--as USER``."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from reunite.cli_common import AS_USER, acting, console, print_table, read, write

candidates_app = typer.Typer(help="Candidates: list, show, assign, review, request confirmation, confirm, reject.",
                             invoke_without_command=True)

LIST_COLUMNS = ("id", "status", "unidentified", "family", "missing", "report", "log10_lr", "posterior", "prior",
                "confirmation_log10_lr", "assignee", "flags", "below_threshold", "loci_compared",
                "inconsistent_loci")


def _fmt(x, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _posterior(x) -> str:
    """A posterior probability as a plain decimal: up to 0.999999 with six digits, above it as
    many nines as it has (0.999999999 is at least 1 - 1e-9; never rounded up to 1)."""
    import math

    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return _fmt(x)
    if x < 0.999999:
        return f"{x:.6f}"
    if x >= 1:
        return "> 0.999999999999999"  # 1 within the precision of the computation
    nines = min(15, math.floor(-math.log10(1 - x)))
    return "0." + "9" * nines


def _prior(p) -> str:
    """A prior as ``1/n`` when it is one in n, else as a number."""
    if not isinstance(p, (int, float)) or p <= 0:
        return _fmt(p)
    n = 1 / p
    return f"1/{round(n)}" if abs(n - round(n)) < 1e-6 * n else f"{p:.3g}"


#: labels of the personal fields a candidate's sides show
_LABELS = {"child": {"name": "given name", "contact": "contact", "placement_kind": "placement",
                     "placement_name": "placed with"},
           "family": {"circumstances": "circumstances", "missing_place_detail": "missing place (detail)"}}


def _personal_lines(side: str, personal: dict | None) -> list[tuple[str, str]]:
    """Labelled lines ("child's name: ...") for a side's personal data; empty ones left out."""
    if not personal:
        return []
    out: list[tuple[str, str]] = []

    def person(prefix: str, d) -> None:
        if isinstance(d, dict):
            for key, label in (("name", "name"), ("contact", "contact")):
                if d.get(key):
                    out.append((f"{prefix}{label}", str(d[key])))

    if side == "child":
        for key, label in _LABELS["child"].items():
            if personal.get(key):
                out.append((label, str(personal[key])))
        return out
    person("child's ", personal.get("child"))
    contact = personal.get("contact")
    if isinstance(contact, dict):
        if contact.get("name"):
            out.append(("reported by", str(contact["name"])))
        if contact.get("contact"):
            out.append(("contact", str(contact["contact"])))
    for key, label in _LABELS["family"].items():
        if personal.get(key):
            out.append((label, str(personal[key])))
    for code, d in sorted((personal.get("members") or {}).items()):
        person(f"{code}'s ", d)
    return out


def _day(value: str | None, option: str):
    from reunite.cli_cases import _date

    return _date(value, option)


@candidates_app.callback()
def candidates(ctx: typer.Context,
               status: str = typer.Option(None, "--status", help="new, assigned, under_review, "
                                          "confirmation_requested, confirmed, rejected or set_aside."),
               assignee: str = typer.Option(None, "--assignee", help="Assigned to this user."),
               min_log10_lr: float = typer.Option(None, "--min-log10-lr", help="At least this log10 LR."),
               unidentified: str = typer.Option(None, "--unidentified", help="This unidentified person's code."),
               family: str = typer.Option(None, "--family", help="This family's code."),
               report: str = typer.Option(None, "--report", help="This missing-child report's code."),
               jurisdiction: str = typer.Option(None, "--jurisdiction", help="Either side in this jurisdiction."),
               flagged: bool = typer.Option(None, "--flagged/--not-flagged", help="With (without) identity flags."),
               below_threshold: bool = typer.Option(None, "--below-threshold/--above-threshold",
                                                    help="Reviewed candidates flagged below the review threshold."),
               max_log10_lr: float = typer.Option(None, "--max-log10-lr", help="At most this log10 LR."),
               family_type: str = typer.Option(None, "--family-type", help="The family's type, e.g. both_parents."),
               created_from: str = typer.Option(None, "--created-from",
                                                help="Found by a search on or after this day (YYYY-MM-DD)."),
               created_to: str = typer.Option(None, "--created-to",
                                              help="Found by a search on or before this day (YYYY-MM-DD)."),
               sort: str = typer.Option("lr", "--sort", help="lr (highest first) or id."),
               limit: int = typer.Option(50, "--limit", help="At most this many (1 to 500)."),
               cursor: str = typer.Option(None, "--cursor", help="The next page (printed under the table)."),
               csv_out: Path = typer.Option(None, "--csv", help="Write every matching candidate to this CSV file."),
               as_user: str = AS_USER) -> None:
    """List candidates (codes only), highest LR first; subcommands act on one."""
    if ctx.invoked_subcommand is not None:
        return
    from reunite.cases.candidates import list_candidates

    if csv_out is not None and (csv_out.is_dir() or not csv_out.parent.is_dir()):
        from reunite.errors import ReuniteError

        raise ReuniteError(f"--csv {csv_out}: " + ("is a folder; give a file name" if csv_out.is_dir() else
                                                  f"the folder {csv_out.parent} does not exist"))
    engine, _, actor = acting(as_user)
    filters = dict(status=status, assignee=assignee, min_log10_lr=min_log10_lr, unidentified=unidentified,
                   family=family, report=report, jurisdiction=jurisdiction, flagged=flagged,
                   below_threshold=below_threshold, sort=sort, max_log10_lr=max_log10_lr, family_type=family_type,
                   created_from=_day(created_from, "--created-from"), created_to=_day(created_to, "--created-to"))
    if csv_out is not None:
        def every(s):
            rows, page_cursor = [], None
            while True:
                page = list_candidates(s, actor=actor, cursor=page_cursor, limit=500, **filters)
                rows += page.items
                if not page.next_cursor:
                    return rows
                page_cursor = page.next_cursor

        rows = read(engine, every)
        with csv_out.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(LIST_COLUMNS)
            for r in rows:
                w.writerow([";".join(r[c]) if isinstance(r[c], list) else ("" if r[c] is None else r[c])
                            for c in LIST_COLUMNS])
        console.print(f"{len(rows):,} candidate(s) -> {escape(str(csv_out))}")
        return
    page = read(engine, lambda s: list_candidates(s, actor=actor, cursor=cursor, limit=limit, **filters))
    from reunite.cli_cases import add_columns

    headers = ("id", "status", "child", "family/missing", "report", "log10 LR", "posterior (prior)",
               "confirmation", "assignee", "flags")
    rows = [[str(r["id"]), r["status"], escape(r["unidentified"]), escape(f"{r['family']}/{r['missing']}"),
             escape(r["report"] or "-"), _fmt(r["log10_lr"]),
             f"{_posterior(r['posterior'])} (prior {_prior(r['prior'])})", _fmt(r["confirmation_log10_lr"]),
             escape(r["assignee"] or "-"),
             (f"{r['flags']}" if r["flags"] else "") + (" below threshold" if r["below_threshold"] else "")]
            for r in page.items]
    table = Table(title="candidates")
    add_columns(table, headers, rows, codes=headers[:-1])
    for row in rows:
        table.add_row(*row)
    print_table(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@candidates_app.command("show")
def show(candidate_id: int = typer.Argument(..., help="The candidate's id."), as_user: str = AS_USER) -> None:
    """One candidate: per-locus table, flags, posterior, sex and age, confirmation tests, history."""
    from reunite.cases.candidates import candidate_detail

    engine, _, actor = acting(as_user)
    d = write(engine, lambda s: candidate_detail(s, candidate_id, actor=actor))
    child, fam = d["child"], d["family"]
    console.print(f"[bold]candidate {d['id']}[/bold]: {escape(child['code'])} as "
                  f"{escape(fam['code'])}/{escape(fam['missing'])}  status [bold]{d['status']}[/bold] "
                  f"(version {d['version']}; assignee {escape(d['assignee'] or '-')})", highlight=False)
    console.print(f"LR {_fmt(d['lr'], 4) if not isinstance(d['lr'], float) else format(d['lr'], '.4g')}, "
                  f"log10 LR {_fmt(d['log10_lr'])} over {d['loci_compared']} loci; posterior "
                  f"{_posterior(d['posterior'])} (prior {_prior(d['prior'])}: {escape(d['prior_source'])})",
                  highlight=False)
    for side, x in (("child", child), ("family", fam)):
        owner = f"{x['jurisdiction']} {x['jurisdiction_name']}" + (f", {x['agency']}" if x["agency"] else "")
        extra = f" report {x['report']} ({x['report_status']})" if side == "family" and x["report"] else ""
        console.print(f"{side}: {escape(owner)}{escape(extra)}", highlight=False)
        for label, value in _personal_lines(side, x["personal"]):
            console.print(f"  {escape(label)}: {escape(value)}", highlight=False)
    c = d["compatibility"]
    console.print(f"sex: child {c['sex']['child']}, missing {c['sex']['missing']} -> "
                  f"{'compatible' if c['sex']['compatible'] else 'INCOMPATIBLE'}; age: estimated birth "
                  f"{c['age']['child_estimated_birth'] or '?'}, birth {c['age']['missing_birth'] or '?'}, missing "
                  f"{c['age']['missing_date'] or '?'} -> "
                  + ("compatible" if c["age"]["compatible"] else "INCOMPATIBLE: " + "; ".join(c["age"]["reasons"])),
                  highlight=False)
    if d["flags"]:
        from reunite.search.identity import flag_text

        console.print("[red]identity flags:[/red] " + escape("; ".join(
            flag_text(f) if isinstance(f, dict) and "relation" in f else str(f) for f in d["flags"])))
    table = Table(title="per locus")
    refs = [r["person"] for r in d["references"] if r["status"] == "active"]
    samples = {r["person"]: r["sample"] for r in d["references"]}
    table.add_column("locus", no_wrap=True, min_width=max([5] + [len(r["locus"]) for r in d["loci"]]))
    table.add_column(f"child ({escape(child['sample'] or '')})", no_wrap=True)
    for p in refs:
        table.add_column(f"{escape(p)} ({escape(samples[p])})", no_wrap=True)
    table.add_column("LR", no_wrap=True, justify="right")
    table.add_column("mutation?", no_wrap=True)
    for row in d["loci"]:
        lr = row["lr"]
        table.add_row(row["locus"], row["child"] or "-", *[row["references"].get(p) or "-" for p in refs],
                      f"{lr:.4g}" if isinstance(lr, float) else str(lr if lr is not None else "-"),
                      "needs mutation" if row["needs_mutation"] else "")
    print_table(table)
    for t in d["confirmation_tests"]:
        verdict = "supports" if t["supports"] else "EXCLUDES" if t["excludes"] else "inconclusive"
        agree = "" if t["child_samples_agree"] is None else (
            "; the child's samples agree" if t["child_samples_agree"]
            else f"; the child's samples DISAGREE at {', '.join(t['disagreeing_loci'])}")
        console.print(f"confirmation test {t['id']}: {escape(t['target'])} sample {escape(t['sample'] or '')}: "
                      f"log10 LR {_fmt(t['log10_lr'])} (original {_fmt(t['original_log10_lr'])}); posterior "
                      f"{_posterior(t['posterior'])}; {verdict}{escape(agree)}", highlight=False)
    from reunite.cli_cases import when

    console.print("[bold]history[/bold] (UTC)")
    for e in d["history"]:
        console.print(f"  {when(e['at'])}  {escape(e['actor'])}  {e['event']}: {e['from_status'] or '-'} -> "
                      f"{e['to_status']}" + (f"  {escape(e['comment'])}" if e["comment"] else ""), highlight=False)


def _done(state: dict) -> None:
    console.print(f"candidate {state['id']}: {state['status']} (version {state['version']}; assignee "
                  f"{escape(state['assignee'] or '-')}); next: {', '.join(state['allowed_steps']) or 'none'}",
                  highlight=False)


def _step(as_user, candidate_id: int, work) -> None:
    from reunite.cases import review

    engine, _, actor = acting(as_user)

    def run(s):
        work(s, actor)
        return review.state(s, candidate_id)

    _done(write(engine, run))


@candidates_app.command("assign")
def assign(candidate_id: int = typer.Argument(...), to: str = typer.Option(..., "--to", help="A reviewer."),
           comment: str = typer.Option(None, "--comment"), as_user: str = AS_USER) -> None:
    """Assign a candidate to a reviewer (who is notified)."""
    from reunite.cases.review import assign as run

    _step(as_user, candidate_id, lambda s, a: run(s, candidate_id, actor=a, to=to, comment=comment))


@candidates_app.command("review")
def start_review(candidate_id: int = typer.Argument(...), comment: str = typer.Option(None, "--comment"),
                 as_user: str = AS_USER) -> None:
    """Start reviewing a candidate assigned to you."""
    from reunite.cases.review import start_review as run

    _step(as_user, candidate_id, lambda s, a: run(s, candidate_id, actor=a, comment=comment))


@candidates_app.command("request-confirmation")
def request_confirmation(candidate_id: int = typer.Argument(...), comment: str = typer.Option(..., "--comment"),
                         as_user: str = AS_USER) -> None:
    """Ask a second reviewer to confirm the candidate you reviewed."""
    from reunite.cases.review import request_confirmation as run

    _step(as_user, candidate_id, lambda s, a: run(s, candidate_id, actor=a, comment=comment))


@candidates_app.command("confirm-sample")
def confirm_sample(candidate_id: int = typer.Argument(...),
                   sample: str = typer.Option(..., "--sample", help="An imported sample that belongs to nobody."),
                   target: str = typer.Option(..., "--target", help="'child' or a person code of the pedigree."),
                   as_user: str = AS_USER) -> None:
    """Attach a confirmation sample and compute the LR again with it."""
    from reunite.cases.confirmation import add_confirmation_sample, confirmation_dict

    engine, model, actor = acting(as_user)

    def run(s):
        test = add_confirmation_sample(s, candidate_id, actor=actor, sample_code=sample, target=target, model=model)
        return confirmation_dict(test, sample_code=sample.strip())

    t = write(engine, run)
    verdict = "supports the match" if t["supports"] else "EXCLUDES the match" if t["excludes"] else "inconclusive"
    console.print(f"confirmation test {t['id']} ({escape(t['target'])}, sample {escape(t['sample'])}): log10 LR "
                  f"{_fmt(t['log10_lr'])} (original {_fmt(t['original_log10_lr'])}); {verdict}", highlight=False)
    if t["child_samples_agree"] is False:
        console.print(f"[red]the child's two samples disagree at {', '.join(t['disagreeing_loci'])}[/red]")


@candidates_app.command("confirm")
def confirm(candidate_id: int = typer.Argument(...), comment: str = typer.Option(None, "--comment"),
            as_user: str = AS_USER) -> None:
    """Confirm a candidate (not the reviewer who requested confirmation)."""
    from reunite.cases.review import confirm as run

    _step(as_user, candidate_id, lambda s, a: run(s, candidate_id, actor=a, comment=comment))


@candidates_app.command("reject")
def reject(candidate_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
           as_user: str = AS_USER) -> None:
    """Reject a candidate, with the reason."""
    from reunite.cases.review import reject as run

    _step(as_user, candidate_id, lambda s, a: run(s, candidate_id, actor=a, reason=reason))


@candidates_app.command("set-aside")
def set_aside(candidate_id: int = typer.Argument(...),
              reason: str = typer.Option(..., "--reason", help="Why (a duplicate, a sample of someone else ...)."),
              as_user: str = AS_USER) -> None:
    """Set an open candidate aside (a reviewer), with the reason."""
    from reunite.cases.review import set_aside_by_reviewer as run

    _step(as_user, candidate_id, lambda s, a: run(s, candidate_id, actor=a, reason=reason))
