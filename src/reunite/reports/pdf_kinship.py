"""The kinship report of a confirmed candidate, as a court or a family receives it.

Contents: the propositions (H1: the child is the missing child of the family; H2: the child
is unrelated to the family), both pedigrees, the per-locus table (the child's and each
reference's alleles, the frequencies of the child's alleles used, the per-locus LR), the
total LR with its verbal equivalent, the posterior with the stated prior, the assumptions
(frequency table and its source, θ, mutation model and per-locus rates, rare-allele rule,
software version), the confirmation sample and the review (who, when).

:func:`kinship_facts` gathers everything from the services (in a write transaction: reading
names is audited); :func:`render_kinship` lays it out (no database).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from functools import lru_cache
from importlib.resources import files

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite import __version__, i18n
from reunite.errors import Conflict
from reunite.i18n import N_
from reunite.i18n import gettext as _
from reunite.reports.pdf_common import (
    ReportPDF,
    as_float,
    log10_text,
    lr_text,
    posterior_text,
    prior_text,
)
from reunite.security.actor import Actor
from reunite.settings import get_settings

#: the verbal scale's reference (the candidate page's scale, :data:`reunite.cases.candidates.VERBAL_SCALE`)
VERBAL_SOURCE = N_("after the ENFSI Guideline for Evaluative Reporting in Forensic Science (2015)")

#: the review steps as shown in the report
EVENT_LABELS = {"assign": N_("assigned"), "start_review": N_("review started"),
                "request_confirmation": N_("confirmation requested"),
                "confirmation_test": N_("confirmation sample attached"), "confirm": N_("confirmed"),
                "reject": N_("rejected"), "set_aside": N_("set aside")}


def verbal(lr) -> str:
    """The verbal equivalent of ``lr`` in the current language (the candidate page's words)."""
    from reunite.cases.candidates import verbal_lr

    return _(verbal_lr(as_float(lr)))


def _prior_basis(f: dict) -> str:
    """The prior's basis in the report's language (the service's sentence when set by the server)."""
    n = f.get("compatible_families")
    if isinstance(n, int):
        return _("1 / %(denominator)s: %(families)s families compatible with the child in sex and dates") % {
            "denominator": f"{max(n, 2):,}", "families": f"{n:,}"}
    return f["prior_source"]


@lru_cache(maxsize=32)
def source_title(source_id: str) -> str:
    """The title of a frequency source in ``reunite/data/SOURCES.md`` (the id if none)."""
    text = (files("reunite") / "data" / "SOURCES.md").read_text(encoding="utf-8")
    m = re.search(rf"^### {re.escape(source_id)}: (.+)$", text, flags=re.MULTILINE)
    return f"{source_id}: {m.group(1).strip()}" if m else source_id


def _frequencies(population: str, locus: str, alleles: list[str], observed: list[str]) -> list[tuple[str, float, bool]]:
    """The frequencies used for ``alleles`` (the table's, with the rare-allele rule for the
    observed alleles it lacks, renormalised as the engine does): (allele, p, from the rule)."""
    from reunite.genetics.frequencies import get_population, prepare_afreq

    try:
        table = get_population(population).locus(locus)
    except Exception:  # noqa: BLE001 - a locus without a table: no frequency to print
        return [(a, math.nan, False) for a in alleles]
    # as the engine does (reunite.genetics.kinship._prepare_marker): the table rescaled to sum
    # to 1 first, then the observed alleles it lacks added and the whole renormalised
    names, freqs, _notes = prepare_afreq(table.afreq, n_individuals=table.n_individuals)
    missing = [a for a in dict.fromkeys(observed) if a not in set(names)]
    if missing:
        names, freqs, _notes = prepare_afreq(dict(zip(names, freqs)), observed=missing,
                                             n_individuals=table.n_individuals, normalise=True)
    value = dict(zip(names, (float(f) for f in freqs)))
    return [(a, value.get(a, math.nan), a not in table.afreq) for a in dict.fromkeys(alleles)]


_RECORDED = re.compile(r"^female (\w+)\(rate=([0-9.eE+-]+)[^)]*\); male (\w+)\(rate=([0-9.eE+-]+)[^)]*\)$")


def _mutation_rows(model, loci: list[str], recorded: dict | None = None) -> list[dict]:
    """Per locus: the maternal and paternal rates the LR was computed with (the candidate's
    provenance, ``recorded``; the current model only where the provenance has none)."""
    from reunite.genetics.rates import locus_rates

    out = []
    for locus in loci:
        text = (recorded or {}).get(locus)
        if text is not None:
            m = _RECORDED.match(text)
            if text == "none":
                continue
            if m:
                try:
                    now = model.locus_mutation(locus)
                except Exception:  # noqa: BLE001
                    now = None
                same = now is not None and now.describe() == text
                source = (locus_rates(locus).source if model.mutation_rate is None else "--mutation-rate") \
                    if same else _("as recorded when the LR was computed")
                out.append({"locus": locus, "female": float(m.group(2)), "male": float(m.group(4)),
                            "source": source})
                continue
        if recorded:
            continue  # recorded in a form not read here: no current rate printed in its place
    for locus in (loci if not recorded else []):
        try:
            mutation = model.locus_mutation(locus)
        except Exception:  # noqa: BLE001
            mutation = None
        if mutation is None:
            continue
        source = locus_rates(locus).source if model.mutation_rate is None else "--mutation-rate"
        out.append({"locus": locus, "female": mutation.female.rate, "male": mutation.male.rate, "source": source})
    return out


def _display_names(session: Session, usernames) -> dict[str, str]:
    from reunite.store.models_workflow import User

    names = set(u for u in usernames if u)
    if not names:
        return {}
    return {u: d or u for u, d in session.execute(select(User.username, User.display_name)
                                                  .where(User.username.in_(names))).all()}


def kinship_facts(session: Session, candidate_id: int, *, actor: Actor, settings=None) -> dict:
    """Everything the kinship report of candidate ``candidate_id`` says (``document:issue``,
    ``candidate:read``, a side of the candidate in the actor's jurisdiction); run it in a
    write transaction (reading names is audited by :func:`candidate_detail`).

    Raises
    ------
    Conflict
        the candidate is not confirmed.
    """
    from reunite.cases.candidates import candidate_detail
    from reunite.cases.review import candidate_or_404, check_scope, sides
    from reunite.genetics.frequencies import get_population
    from reunite.store.db import read_settings
    from reunite.store.profiles import GeneticModel

    actor.require("document:issue")
    actor.require("candidate:read")
    settings = settings or get_settings()
    cand = candidate_or_404(session, candidate_id)
    check_scope(actor, sides(session, cand))
    if cand.status != "confirmed":
        raise Conflict(f"candidate_id: candidate {cand.id} is {cand.status!r}; a kinship report is issued only for "
                       "a confirmed candidate (confirmation sample attached, confirmed by a second reviewer)")
    detail = candidate_detail(session, cand.id, actor=actor, settings=settings)
    model = GeneticModel.from_json(read_settings(session)["genetic_model"])
    prov = detail["provenance"]
    population = prov.get("frequency_table") or model.population
    pop = get_population(population)
    people = _pedigrees(session, cand.id, actor)
    references = [r for r in detail["references"] if r["status"] == "active"]
    ref_codes = [r["person"] for r in references]
    rows = []
    for row in detail["loci"]:
        if row["lr"] is None:
            continue  # typed in the child only: not compared
        child_alleles = row["child"].split("/") if row["child"] else []
        observed = child_alleles + [a for g in row["references"].values() if g for a in g.split("/")]
        rows.append({**row, "frequencies": _frequencies(population, row["locus"], child_alleles, observed)})
    tests = [t for t in detail["confirmation_tests"] if t["supports"] and not t["void"]]
    events = detail["history"]
    names = _display_names(session, [e["actor"] for e in events] + [detail["confirmed_by"]]
                           + [t["created_by"] for t in tests])
    return {
        "candidate": cand.id, "status": detail["status"], "lr": detail["lr"], "log10_lr": detail["log10_lr"],
        "loci_compared": detail["loci_compared"], "posterior": detail["posterior"], "prior": detail["prior"],
        "prior_source": detail["prior_source"], "compatible_families": detail.get("compatible_families"), "child": detail["child"], "family": detail["family"],
        "references": references, "reference_codes": ref_codes, "loci": rows,
        "inconsistent_loci": detail["inconsistent_loci"], "flags": detail["flags"],
        "compatibility": detail["compatibility"], "confirmation_tests": tests, "history": events,
        "confirmed_by": detail["confirmed_by"], "names": names, "people": people,
        "model": {"population": population, "sources": [source_title(s) for s in pop.sources],
                  "sample_size": pop.sample_size, "theta": prov.get("theta", model.theta),
                  "description": prov.get("genetic_model") or model.describe(),
                  "mutation": _recorded_mutation(prov.get("mutation")) or model.mutation,
                  "rare_allele_rule": prov.get("rare_allele_rule"), "software": prov.get("software"),
                  "kit": ", ".join(prov.get("kit") or []),
                  "mutation_rates": _mutation_rows(model, [r["locus"] for r in rows], prov.get("mutation"))},
        "software": f"reunite {__version__}",
    }


def _recorded_mutation(recorded: dict | None) -> str | None:
    """The mutation model(s) of the candidate's provenance (``stepwise``, ``none`` ...)."""
    if not recorded:
        return None
    names = set()
    for text in recorded.values():
        found = re.findall(r"(\w+)\(rate=", text or "")
        names.update(found or [text or "none"])
    return ", ".join(sorted(names))


def _pedigrees(session: Session, candidate_id: int, actor: Actor) -> dict | None:
    """The people of both pedigrees (``{"family": [...], "alternative": [...]}``), or None
    where the service is not available."""
    try:
        from reunite.cases.candidates import pedigree_people
    except ImportError:  # pragma: no cover - the drawing service arrives with issue 9
        return None
    return pedigree_people(session, candidate_id, actor=actor)


# ---------------------------------------------------------------------------------------
# layout


def _name(personal: dict | None, key: str = "name") -> str | None:
    if not isinstance(personal, dict):
        return None
    value = personal.get(key)
    return value if isinstance(value, str) and value else None


def _when(text: str | None, *, with_time: bool = False) -> str:
    if not text:
        return ""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text
    return i18n.format_datetime(value, format="medium") if with_time else i18n.format_date(value, format="long")


def _freq_text(freqs: list[tuple[str, float, bool]]) -> str:
    parts = []
    for allele, p, rule in freqs:
        if math.isnan(p):
            parts.append(f"{allele}: -")
        else:
            parts.append(f"{allele}: {p:.4g}" + ("*" if rule else ""))  # 4 significant digits
    return "\n".join(parts)


def render_kinship(facts: dict, *, number: int | None, issued_at: datetime, language: str) -> bytes:
    """The kinship report's PDF in ``language`` (``number``: the report number printed)."""
    with i18n.use_language(language):
        pdf = ReportPDF(title=_("Kinship report"), number=number, issued_at=issued_at, language=language)
        _body(pdf, facts)
        return pdf.to_bytes()


def _body(pdf: ReportPDF, f: dict) -> None:
    child, family = f["child"], f["family"]
    fam_personal = family.get("personal") or {}
    missing_name = _name(fam_personal.get("child"))
    child_name = _name(child.get("personal"))
    pdf.title_block(_("DNA kinship analysis of an unidentified child and a family searching for a missing child"))
    pdf.facts([
        (_("Report number"), str(pdf.number) if pdf.number is not None else _("(not issued)")),
        (_("Date of issue"), i18n.format_date(pdf.issued_at, format="long")),
        (_("Candidate"), str(f["candidate"])),
        (_("Missing-child report"), family.get("report") or "-"),
        (_("Family"), family["code"]),
        (_("Missing child of the family"), family["missing"] + (f" ({missing_name})" if missing_name else "")),
        (_("Unidentified child"), child["code"] + (f" ({child_name})" if child_name else "")),
        (_("Child's sample"), child.get("sample") or "-"),
        (_("Rescue operation"), child.get("operation") or ""),
        (_("Reported by"), _name(fam_personal.get("contact"))),
    ])

    pdf.heading(_("Propositions"))
    pdf.paragraph(_("H1: the child %(child)s is the missing child %(missing)s of family %(family)s.") % dict(
                    child=child["code"], missing=family["missing"], family=family["code"]))
    pdf.paragraph(_("H2: the child %(child)s is unrelated to family %(family)s.") % dict(child=child["code"],
                    family=family["code"]))
    pdf.paragraph(_("The likelihood ratio (LR) is the probability of the DNA profiles if H1 is true divided by "
                    "their probability if H2 is true."), size=9, color=70)

    pdf.heading(_("Result"))
    pdf.facts([
        (_("Total likelihood ratio (LR)"), lr_text(f["lr"])),
        (_("log10 LR"), log10_text(f["log10_lr"])),
        (_("Loci compared"), str(f["loci_compared"])),
        (_("Verbal equivalent"), verbal(f["lr"])),
        (_("Prior probability of H1"), prior_text(f["prior"])),
        (_("Basis of the prior"), _prior_basis(f)),
        (_("Posterior probability of H1"), posterior_text(f["posterior"])),
    ], label_width=0.36)
    pdf.paragraph(_("Verbal scale: %(source)s.") % dict(source=_(VERBAL_SOURCE)), size=8.5, color=90)

    people = f.get("people")
    if people:
        from reunite.reports.pedigree import pedigree_svg

        pdf.heading(_("Pedigrees"))
        pdf.svg(pedigree_svg(people["family"], title=_("H1: the family, with the child as the missing person")),
                caption=_("H1: the family, with the child as the missing person"), max_height=85)
        pdf.svg(pedigree_svg(people["alternative"], title=_("H2: the child unrelated to the family")),
                caption=_("H2: the child unrelated to the family"), max_height=85)

    pdf.heading(_("Per-locus results"))
    refs = f["reference_codes"]
    headings = [_("Locus"), _("Child")] + refs + [_("Frequencies of the child's alleles"), _("LR")]
    n = len(refs)
    ref_w = min(0.13, 0.42 / max(n, 1))
    widths = [0.14, 0.12] + [ref_w] * n + [0.22, 0.14]
    rows = []
    for r in f["loci"]:
        lr = lr_text(r["lr"]) + (" †" if r["needs_mutation"] else "")
        rows.append([r["locus"], r["child"] or "-"] + [r["references"].get(p) or "-" for p in refs]
                    + [_freq_text(r["frequencies"]), lr])
    pdf.grid(headings, rows, widths=widths, size=8)
    notes = [_("Total LR: the product of the per-locus LRs: %(lr)s (log10 LR %(log10)s).") % dict(
               lr=lr_text(f["lr"]), log10=log10_text(f["log10_lr"]))]
    if any(fr[2] for r in f["loci"] for fr in r["frequencies"]):
        notes.append(_("* allele absent from the frequency table: the minimum frequency of the rare-allele rule."))
    if f["inconsistent_loci"]:
        notes.append(_("† the profiles at this locus need a mutation under H1 (%(loci)s); the mutation model "
                       "is part of the LR.") % dict(loci=", ".join(f["inconsistent_loci"])))
    pdf.paragraph("\n".join(notes), size=8.5, color=70)

    pdf.heading(_("Assumptions"))
    m = f["model"]
    pdf.facts([
        (_("Allele-frequency table"), m["population"]),
        (_("Source of the table"), "; ".join(m["sources"]) + " (reunite/data/SOURCES.md)"),
        (_("Individuals typed per locus"), _("not stated") if m["sample_size"] == "not stated" else m["sample_size"]),
        (_("θ (coancestry, FST)"), f"θ = {as_float(m['theta']):g}"),
        (_("Mutation model"), m["mutation"]),
        (_("Genetic model"), m["description"]),
        (_("Rare-allele rule"), m["rare_allele_rule"]),
        (_("Loci of the computation"), m.get("kit")),
        (_("Software"), f["software"] + (f" ({_('LR computed by %(software)s') % dict(software=m['software'])})"
                                         if m.get("software") and m["software"] != f["software"] else "")),
    ], label_width=0.32)
    if m["mutation_rates"]:
        pdf.paragraph(_("Mutation rates per meiosis used for each locus:"), size=9)
        pdf.grid([_("Locus"), _("Maternal"), _("Paternal"), _("Source of the rate")],
                 [[x["locus"], f"{x['female']:g}", f"{x['male']:g}", x["source"]] for x in m["mutation_rates"]],
                 widths=[0.2, 0.15, 0.15, 0.5], size=7.5)

    pdf.heading(_("Confirmation sample"))
    if f["confirmation_tests"]:
        pdf.grid([_("Sample"), _("Sample of"), _("LR"), _("log10 LR"), _("Done by"), _("Date")],
                 [[t["sample"] or "-", _("child") if t["target"] == "child" else (t["target"] or "-"), lr_text(t["lr"]),
                   log10_text(t["log10_lr"]), f["names"].get(t["created_by"], t["created_by"] or "-"),
                   _when(t["created_at"])] for t in f["confirmation_tests"]],
                 widths=[0.2, 0.14, 0.14, 0.14, 0.2, 0.18], size=8.5)
    else:
        pdf.paragraph(_("No supporting confirmation test is recorded."))

    pdf.heading(_("Review of the match"))
    pdf.grid([_("Date"), _("Review step"), _("Done by"), _("Reviewer's comment")],
             [[_when(e["at"], with_time=True),
               _(EVENT_LABELS[e["event"]]) if e["event"] in EVENT_LABELS else (e["event"] or e["to_status"]),
               f["names"].get(e["actor"], e["actor"]) + (f" ({e['actor']})" if f["names"].get(e["actor"]) not in
                                                         (None, e["actor"]) else ""),
               e.get("comment") or ""] for e in f["history"]],
             widths=[0.24, 0.22, 0.24, 0.30], size=8.5)
    confirmer = f["confirmed_by"]
    if confirmer:
        pdf.paragraph(_("Confirmed by %(name)s (four eyes: a second reviewer, not the one who requested the "
                        "confirmation).") % dict(name=f["names"].get(confirmer, confirmer)), size=9)

    pdf.heading(_("Registration of this report"))
    pdf.paragraph(_("This report is registered under number %(number)s: the SHA-256 of this file, who issued "
                    "it and when are recorded in the audit log of reunite. Whether a copy is unaltered can be "
                    "checked with the command below or on the page Documents, Verify a PDF.") % dict(
                    number=pdf.number if pdf.number is not None else "-"), size=9)
    pdf.paragraph(_("verify with: %(command)s") % {"command": "reunite report verify FILE.pdf"}, size=9)

