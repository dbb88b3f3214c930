"""``reunite stats``: what a database holds, the searches still owed, the candidates to look
at before any LR (identity flags, superseded), near-duplicate profiles and profile quality.
The numbers come from the store's services; this module only prints them."""

from __future__ import annotations

import typer
from rich.table import Table

from reunite.cli_common import AS_USER

#: ``reunite stats`` lists at most this many near-duplicate pairs (all are counted).
MAX_LISTED_NEAR_DUPLICATES = 50


def _print_near_duplicates(session, model) -> None:
    """The near-duplicate profiles of ``stats``: identical, identical at every common locus,
    one locus apart (:mod:`reunite.search.identity`), counted by kind, the first listed."""
    from collections import Counter

    from reunite.cli import console
    from reunite.search.identity import KINDS, describe_holder
    from reunite.search.service import identity_lookup

    lookup = identity_lookup(session, model, unassigned=True)
    pairs = lookup.pairs()
    counts = Counter(m.kind for _, _, m in pairs)
    console.print(f"near-duplicate profiles (at least {lookup.min_common_loci} common loci, withdrawn samples left "
                  f"out): {len(pairs):,} pair{'' if len(pairs) == 1 else 's'}: " + ", ".join(f"{counts[k]:,} {k}" for k in KINDS))
    if not pairs:
        return
    table = Table(title="near-duplicate profiles: a mix-up, a contamination or a duplicate registration?")
    for col in ("kind", "profile", "other profile", "common loci", "locus"):
        table.add_column(col, overflow="fold")
    for i, j, m in pairs[:MAX_LISTED_NEAR_DUPLICATES]:
        table.add_row(m.kind, describe_holder(lookup.holders[i]), describe_holder(lookup.holders[j]),
                      str(m.common_loci), m.locus or "")
    console.print(table)
    if len(pairs) > MAX_LISTED_NEAR_DUPLICATES:
        console.print(f"... {len(pairs) - MAX_LISTED_NEAR_DUPLICATES:,} more pairs")


def stats() -> None:
    """Counts, searches still pending, flagged candidates, loci coverage, near-duplicate profiles and
    profile quality of the database."""
    from reunite.cli import _open_store, console
    from reunite.store.summary import database_summary

    _, session, model = _open_store(read_only=True)
    with session:
        console.print(f"genetic model: {model.describe()}")
        d = database_summary(session)
        table = Table(title="reunite database")
        table.add_column("what", overflow="fold")
        table.add_column("count", justify="right", overflow="fold")
        table.add_row("profiles (samples)", f"{sum(d['samples'].values()):,}")
        for st, n in sorted(d["samples"].items()):
            table.add_row(f"  {st}", f"{n:,}")
        table.add_row("families", f"{sum(d['families'].values()):,}")
        for t, n in sorted(d["families"].items()):
            table.add_row(f"  {t}", f"{n:,}")
        table.add_row("unidentified persons", f"{sum(d['unidentified'].values()):,}")
        for c, n in sorted(d["unidentified"].items()):
            table.add_row(f"  {c}", f"{n:,}")
        table.add_row("match candidates", f"{sum(d['candidates'].values()):,}")
        for st, n in sorted(d["candidates"].items()):
            table.add_row(f"  {st}", f"{n:,}")
        table.add_row("  with identity flags (mix-up, duplicate: look before the LR)",
                      f"{d['candidates_flagged']['identity']:,}")
        table.add_row("  superseded by a correction", f"{d['candidates_flagged']['superseded']:,}")
        console.print(table)
        if d["pending_searches"]:
            what = ", ".join(f"{n:,} {'families' if k == 'family' else 'unidentified persons'}"
                             for k, n in sorted(d["pending_searches"].items()))
            console.print(f"[yellow]pending searches:[/yellow] {what} (an import or correction whose search "
                          "did not finish); run 'reunite search --pending'", highlight=False)
        if d["num_active"]:
            cov = Table(title="loci coverage (share of active profiles typed)")
            cov.add_column("locus", overflow="fold")
            cov.add_column("typed", justify="right", overflow="fold")
            for locus, n in sorted(d["coverage"].items()):
                cov.add_row(locus, f"{n / d['num_active']:.1%}")
            console.print(cov)
        _print_near_duplicates(session, model)
        _print_quality(session, model)


def _print_quality(session, model) -> None:
    """The end of 'reunite stats': the quality of the active profiles."""
    from reunite.cli import console
    from reunite.store.quality import database_quality

    q = database_quality(session, model)
    if not q["profiles"]:
        return
    table = Table(title="profile quality (active samples)")
    table.add_column("what", overflow="fold")
    table.add_column("count", justify="right", overflow="fold")
    loci = q["loci_typed"]
    table.add_row("loci typed per profile (min / median / max)", f"{loci['min']} / {loci['median']:g} / {loci['max']}")
    table.add_row(f"profiles with fewer than {q['min_common_loci']} loci (never compared)", f"{len(q['too_few_loci']):,}")
    table.add_row("profiles with alleles absent from the frequency table", f"{len(q['with_absent_alleles']):,}")
    table.add_row("profiles homozygous at far more loci than expected", f"{len(q['high_homozygosity']):,}")
    table.add_row("homozygous loci (observed / expected share)",
                  f"{q['homozygous_share']:.1%} / {q['expected_homozygous_share']:.1%}")
    for value, n in q["amelogenin"].items():
        table.add_row(f"Amelogenin {value}", f"{n:,}")
    table.add_row("profiles with Y-STRs (kept, not searched yet)", f"{q['y_profiles']:,}")
    console.print(table)
    for what, key in (("fewer loci than the minimum", "too_few_loci"), ("alleles absent from the table",
                      "with_absent_alleles"), ("high homozygosity", "high_homozygosity")):
        if q[key]:
            shown = ", ".join(q[key][:20]) + (f" ... and {len(q[key]) - 20:,} more" if len(q[key]) > 20 else "")
            console.print(f"{what}: {shown}", markup=False, highlight=False, soft_wrap=True)


def dashboard(
    as_user: str = AS_USER,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of lines."),
) -> None:
    """What needs your attention (the web's dashboard): open reports, new candidates above the
    threshold, reviews waiting, confirmations pending, follow-up visits due and overdue."""
    import json

    from reunite.cases.notifications import DUE_WITHIN_DAYS
    from reunite.cases.statistics import dashboard as dashboard_service
    from reunite.cli import console
    from reunite.cli_common import acting, read

    engine, _, actor = acting(as_user)
    board = read(engine, lambda s: dashboard_service(s, actor=actor))
    counts = {"open missing-child reports": board.open_reports,
              "new candidates above the threshold": board.new_candidates,
              "reviews waiting": board.reviews_waiting, "confirmations pending": board.confirmations_pending,
              f"follow-up visits due within {DUE_WITHIN_DAYS} days": board.follow_ups_due, "follow-up visits overdue": board.follow_ups_overdue}
    if as_json:
        print(json.dumps(dict(zip(("open_reports", "new_candidates", "reviews_waiting", "confirmations_pending",
                                   "follow_ups_due", "follow_ups_overdue"), counts.values())), indent=1))
        return
    shown = {k: v for k, v in counts.items() if v is not None}  # None: the user's roles do not read them
    if not shown:
        console.print(f"{actor.username}: nothing on the dashboard for your roles", highlight=False)
        return
    for what, n in shown.items():
        console.print(f"{what}: {n:,}", highlight=False)
