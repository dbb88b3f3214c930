"""The numbers that leave reunite through the kinship PDF, the candidate page and the charts
agree with an independent recomputation (the kinship engine on the drawn pedigrees, the
posterior formula, the engine's frequency rule), and formatting never changes a value.

Simulated data only (never real people)."""

from __future__ import annotations

import html
import json
import math
import re

import pytest
from sqlalchemy import select, update

from reunite import i18n
from reunite.cases import review, statistics
from reunite.cases.candidates import VERBAL_SCALE, verbal_lr
from reunite.cases.confirmation import add_confirmation_sample
from reunite.cases.registration import verbal as registration_verbal
from reunite.genetics.frequencies import DEFAULT_FLOOR, get_population
from reunite.genetics.kinship import Marker, _prepare_marker, kinship_lr
from reunite.genetics.pedigree import Individual
from reunite.reports.pdf_common import posterior_text, prior_text
from reunite.reports.pdf_kinship import _frequencies, kinship_facts
from reunite.store.models import MatchCandidate
from review_fixtures import build, second_child_sample, to_confirmation_requested
from web_client import web_login

REL = 1e-9


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory):
    """A world with its first true match confirmed (a second child sample, two reviewers)."""
    rw = build(tmp_path_factory.mktemp("numbers"))
    u, f, _, cid = rw.true_pairs()[0]
    to_confirmation_requested(rw, cid)
    second_child_sample(rw, u, "SCHILD2")
    rw.write(lambda s: add_confirmation_sample(s, cid, actor=rw.actor("analyst"), sample_code="SCHILD2",
                                               target="child", model=rw.model))
    rw.write(lambda s: review.confirm(s, cid, actor=rw.actor("reviewer2"), settings=rw.world.settings))
    facts = rw.write(lambda s: kinship_facts(s, cid, actor=rw.actor("inv_butuo"), settings=rw.world.settings))
    yield rw, cid, facts
    rw.engine.dispose()


def _stored(rw, cid) -> MatchCandidate:
    return rw.read(lambda s: s.get(MatchCandidate, cid))


def test_pdf_lr_equals_the_engine_on_the_drawn_pedigrees(confirmed):
    """H1/H2 as drawn (pedigree_people) and the provenance's table and θ, recomputed with
    kinship_lr: every per-locus LR and the total equal the stored ones to 1e-9."""
    rw, cid, facts = confirmed
    cand = _stored(rw, cid)
    stored = json.loads(cand.lr_per_locus)
    prov = json.loads(cand.provenance)
    people = facts["people"]
    missing = [p for p in people["family"] if p.missing]
    assert len(missing) == 1 and missing[0].id == facts["family"]["missing"]
    child_id = facts["child"]["code"]
    h1 = [Individual(child_id if p.missing else p.id, child_id if p.father == missing[0].id else p.father,
                     child_id if p.mother == missing[0].id else p.mother, p.sex) for p in people["family"]]
    apart = [p for p in people["alternative"] if p.father is None and p.mother is None and p.typed
             and p.id not in {q.id for q in people["family"]}]
    assert len(apart) == 1  # the child, unrelated to the family under H2
    h2 = [Individual(p.id, p.father, p.mother, p.sex) for p in people["alternative"] if p is not apart[0]]
    h2.append(Individual(child_id, None, None, apart[0].sex))
    # the typed persons drawn are exactly those the LR was computed on: the child and the active references
    typed_refs = {p.id for p in people["family"] if p.typed and not p.missing}
    assert typed_refs == set(facts["reference_codes"])
    assert {p.id for p in people["alternative"] if p.typed} == typed_refs | {apart[0].id}
    model = rw.model
    pop = get_population(prov["frequency_table"])
    markers = []
    for row in facts["loci"]:
        genos = {child_id: tuple(row["child"].split("/"))}
        genos.update({ref: tuple(g.split("/")) for ref, g in row["references"].items() if g})
        table = pop.locus(row["locus"])
        markers.append(Marker(row["locus"], table.afreq, genos, model.locus_mutation(row["locus"]),
                              table.n_individuals))
    result = kinship_lr(h1, h2, markers, theta=prov["theta"])
    assert set(result.lr_per_marker) == set(stored) == {r["locus"] for r in facts["loci"]}
    for locus, value in result.lr_per_marker.items():
        assert math.isclose(value, stored[locus], rel_tol=REL), locus
        shown = next(r["lr"] for r in facts["loci"] if r["locus"] == locus)
        assert shown == stored[locus]  # the PDF's per-locus LR is the stored one, unrounded
    assert math.isclose(math.prod(stored.values()), cand.lr, rel_tol=REL)
    assert math.isclose(result.lr_total, facts["lr"], rel_tol=REL) and facts["lr"] == cand.lr
    assert math.isclose(result.log10_lr_total, facts["log10_lr"], rel_tol=REL)


def test_posterior_is_the_formula_with_the_stated_prior(confirmed):
    rw, cid, facts = confirmed
    lr, p = facts["lr"], facts["prior"]
    assert 0 < p < 1 and prior_text(p) != "-"
    want = lr * p / (lr * p + 1 - p)
    assert math.isclose(facts["posterior"], want, rel_tol=REL)
    for t in facts["confirmation_tests"]:
        assert math.isclose(t["posterior"], t["lr"] * p / (t["lr"] * p + 1 - p), rel_tol=REL)
    # an LR just short of certainty: never printed as 1 (nor 100 %), a tiny one never as 0
    for x in (1 - 1e-12, 0.9999999, 0.5, 1e-9, 3.2e-5):  # printed never above the value, never 0 or 1
        text = posterior_text(x)
        assert 0 < float(text) < 1 and float(text) <= x and math.isclose(float(text), x, rel_tol=5e-3), (x, text)


def test_printed_frequencies_are_the_engines(confirmed):
    """The frequencies printed are those the engine used: the table rescaled to 1, then the
    rare-allele rule (5/2N or the floor) and renormalisation, to 1e-12."""
    rw, cid, facts = confirmed
    prov = json.loads(_stored(rw, cid).provenance)
    population = prov["frequency_table"]
    pop = get_population(population)

    def engine_freqs(locus, genos):
        table = pop.locus(locus)
        prep = _prepare_marker(Marker(locus, table.afreq, genos, None, table.n_individuals), theta=0.0,
                               floor=DEFAULT_FLOOR, normalise=False, where="test")
        return dict(zip(prep.alleles, (float(x) for x in prep.data.afreq)))

    for row in facts["loci"]:
        genos = {"U": tuple(row["child"].split("/"))}
        genos.update({k: tuple(g.split("/")) for k, g in row["references"].items() if g})
        want = engine_freqs(row["locus"], genos)
        for allele, p, rule in row["frequencies"]:
            assert math.isclose(p, want[allele], rel_tol=1e-12), (row["locus"], allele)
            assert rule == (allele not in pop.locus(row["locus"]).afreq)
    # a table not summing to exactly 1 (CSF1PO: 1.0002) with an allele it lacks
    locus = "CSF1PO"
    assert abs(sum(pop.locus(locus).afreq.values()) - 1) > 1e-6
    shown = _frequencies(population, locus, ["10", "99"], ["10", "99", "12"])
    want = engine_freqs(locus, {"U": ("10", "99"), "R": ("12", "12")})
    assert [a for a, _, _ in shown] == ["10", "99"] and shown[1][2] and not shown[0][2]
    for allele, p, _ in shown:
        assert math.isclose(p, want[allele], rel_tol=1e-12), allele


def test_assumptions_are_the_candidates_provenance(confirmed):
    """θ, table and mutation rates printed are those recorded with the candidate, even when
    the current settings differ."""
    rw, cid, facts = confirmed
    prov = json.loads(_stored(rw, cid).provenance)
    assert facts["model"]["population"] == prov["frequency_table"]
    assert facts["model"]["theta"] == prov["theta"]
    for row in facts["model"]["mutation_rates"]:
        text = prov["mutation"][row["locus"]]
        assert f"female stepwise(rate={row['female']:g}" in text and f"male stepwise(rate={row['male']:g}" in text
    # the recorded rate of one locus changed: the report prints the recorded one
    prov["mutation"]["CSF1PO"] = prov["mutation"]["CSF1PO"].replace("female stepwise(rate=0.0003",
                                                                    "female stepwise(rate=0.0123")
    rw.write(lambda s: s.execute(update(MatchCandidate).where(MatchCandidate.id == cid)
                                 .values(provenance=json.dumps(prov))))
    again = rw.write(lambda s: kinship_facts(s, cid, actor=rw.actor("inv_butuo"), settings=rw.world.settings))
    row = next(r for r in again["model"]["mutation_rates"] if r["locus"] == "CSF1PO")
    assert row["female"] == 0.0123 and row["source"] == "as recorded when the LR was computed"
    assert again["model"]["mutation"] == "stepwise" and again["model"]["kit"]


def test_the_candidate_page_shows_the_same_numbers(confirmed):
    rw, cid, facts = confirmed
    for lang in ("en", "zh_CN"):
        client = web_login(rw.world, "inv_butuo", lang=lang)
        page = client.get(f"/candidates/{cid}")
        assert page.status_code == 200, page.text[:500]
        text = re.sub(r"\s+", " ", page.text)
        with i18n.use_language(lang):
            assert i18n.format_lr(facts["lr"]) in text
            for row in facts["loci"]:
                assert i18n.format_lr(row["lr"]) in text
            assert i18n.gettext(verbal_lr(facts["lr"])) in text
        assert prior_text(facts["prior"]) in text  # 1/N, never a prior rounded to "0"
        assert html.escape(posterior_text(facts["posterior"])) in text and "100.00%" not in text


def test_verbal_scale_is_enfsi_2015_with_its_bounds():
    """ENFSI 2015: 1 / 2-10 weak / 10-100 moderate / 100-1,000 moderately strong /
    1,000-10,000 strong / 10,000-10^6 very strong / 10^6 and above extremely strong; a bound
    belongs to the higher step, on the candidates' and the registration check's scales."""
    h2, either = "supports the alternative: unrelated (H2)", "no support for either proposition (LR = 1)"
    steps = {"weak": 10.0, "moderate": 100.0, "moderately strong": 1e3, "strong": 1e4, "very strong": 1e6}
    cases = {0.0: h2, 0.999: h2, 1.0: either, 1.0000001: "weak", 9.999: "weak", 10.0: "moderate",
             99.99: "moderate", 100.0: "moderately strong", 999.9: "moderately strong", 1000.0: "strong",
             9999.9: "strong", 1e4: "very strong", 999_999.0: "very strong", 1e6: "extremely strong",
             1.23456e9: "extremely strong", math.inf: "extremely strong"}
    reg = {h2: "supports non-parentage", either: either, "weak": "weak/limited support for parentage"}
    for lr, words in cases.items():
        want = words if words in (h2, either) else f"{words} support for the relationship (H1)"
        assert verbal_lr(lr) == want, lr
        reg_want = reg.get(words, f"{words} support for parentage")
        assert registration_verbal(lr) == reg_want, lr
    assert [b for b, _ in VERBAL_SCALE][2:-1] == list(steps.values())
    assert verbal_lr(math.nan) == "inconclusive (no LR)" and verbal_lr(None) == "inconclusive (no LR)"


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_lr_formatting_keeps_the_value(lang):
    with i18n.use_language(lang):
        assert i18n.format_lr(1.23456e9) == "1.23E9"
        assert i18n.format_lr(0.00123456) == "0.001235"
        assert i18n.format_lr(0.0) == "0" and i18n.format_lr(math.nan) == "NaN"
        assert i18n.format_lr(math.inf) == "∞" and i18n.format_lr(-math.inf) == "−∞"
        for x in (1e-3, 0.0123456, 0.5, 1.0, 2.2355143994872306, 389.5920650061695, 9876.54321, 1.5e4,
                  6.052588374884733e22, 3.3e-7):
            text = i18n.format_lr(x).replace(",", "")
            m = re.fullmatch(r"([0-9.]+)(?:E(-?[0-9]+))?", text)
            assert m, text
            back = float(m.group(1)) * 10 ** int(m.group(2) or 0)
            digits = len(m.group(1).replace(".", "").lstrip("0"))
            assert digits >= 3 or back == x, (x, text)
            assert math.isclose(back, x, rel_tol=5e-3), (x, text)


def test_lr_histogram_counts_every_candidate_once(confirmed):
    """Inf, -Inf (LR 0) and NaN candidates are counted apart, none dropped."""
    rw, cid, facts = confirmed
    ids = rw.read(lambda s: s.execute(select(MatchCandidate.id).order_by(MatchCandidate.id)).scalars().all())
    assert len(ids) >= 4
    special = {ids[-1]: math.inf, ids[-2]: -math.inf}  # NaN cannot be stored (NOT NULL on SQLite)
    for k, v in special.items():
        rw.write(lambda s, k=k, v=v: s.execute(update(MatchCandidate).where(MatchCandidate.id == k)
                                               .values(log10_lr=v, lr=10 ** v if math.isfinite(v) else v)))
    actor = rw.actor("analyst")
    dist = rw.read(lambda s: statistics.lr_distribution(s, actor=actor, settings=rw.world.settings))
    assert dist["total"] == len(ids)
    assert dist["infinite"] >= 1 and dist["zero"] >= 1
    assert sum(b["count"] for b in dist["bins"]) + dist["infinite"] + dist["zero"] + dist["undefined"] == len(ids)
