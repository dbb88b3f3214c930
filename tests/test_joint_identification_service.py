"""Joint identification of a rescue operation's children (cases/joint_identification.py) on a
small simulated database: the best assignment is the simulated truth (two brothers from one
family with two missing sons, a child of a mother-only family, a child of no family), its LR
agrees with a naive oracle built on the kinship engine, the scoping, the audit entry, a
withdrawn consent leaves its reference out; the CLI's --json and the API give the same view.

Everything is simulated (never real people)."""

from __future__ import annotations

import itertools
import json
import math
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cases import joint_identification as service
from reunite.demo_workflow import write_genotypes
from reunite.errors import NotFound, PermissionDenied, ReuniteError
from reunite.genetics.kinship import kinship_lr, not_autosomal
from reunite.genetics.pedigree import Individual, make_pedigree
from reunite.simulate import simulate_genotypes
from reunite.store.db import write_transaction
from reunite.store.models_workflow import AuditEntry
from workflow_world import make_world

OP = "OP-DVI-1"
#: one simulated world: family A (father and mother typed, two missing sons), family B (mother
#: typed, one missing son), family D (parents typed, a missing daughter not rescued); X is
#: related to nobody.  Rescued: U-C1, U-C2 (A's sons), U-C3 (B's son), U-X.
PEOPLE = [
    ("A-FA", None, None, "M"), ("A-MO", None, None, "F"), ("A-C1", "A-FA", "A-MO", "M"), ("A-C2", "A-FA", "A-MO", "M"),
    ("B-FA", None, None, "M"), ("B-MO", None, None, "F"), ("B-C3", "B-FA", "B-MO", "M"),
    ("D-FA", None, None, "M"), ("D-MO", None, None, "F"), ("D-C4", "D-FA", "D-MO", "F"),
    ("X", None, None, "F"),
]
FAMILIES_CSV = """family_id,person_id,father_id,mother_id,sex,role,sample_id
FAM-A,FA,,,M,reference,S-A-FA
FAM-A,MO,,,F,reference,S-A-MO
FAM-A,C1,FA,MO,M,missing,
FAM-A,C2,FA,MO,M,missing,
FAM-B,FA,,,M,untyped,
FAM-B,MO,,,F,reference,S-B-MO
FAM-B,C3,FA,MO,M,missing,
FAM-D,FA,,,M,reference,S-D-FA
FAM-D,MO,,,F,reference,S-D-MO
FAM-D,C4,FA,MO,F,missing,
"""
CHILDREN = {"U-C1": "A-C1", "U-C2": "A-C2", "U-C3": "B-C3", "U-X": "X"}
TRUTH = {"U-C1": "FAM-A", "U-C2": "FAM-A", "U-C3": "FAM-B", "U-X": None}


def _loci(model):
    return sorted(l for l in model.loci() if not not_autosomal(l))


def build(tmp_path, *, seed: int = 11):
    """The world above in a new database, searched (candidates stored)."""
    from reunite.cases.intake import complete_pending, import_file
    from reunite.cases.operations import create_operation
    from reunite.cases.reports import create_report
    from reunite.cases.unidentified import create_unidentified

    world = make_world(f"sqlite:///{tmp_path / 'dvi.db'}")
    model = world.model
    pedigree = make_pedigree([Individual(p, f, m, s) for p, f, m, s in PEOPLE])
    sexes = {p: s for p, _, _, s in PEOPLE}
    profiles = {p: {"_sex": sexes[p]} for p in sexes}
    for marker in simulate_genotypes(pedigree, markers=[model.marker(l) for l in _loci(model)], seed=seed):
        for person, pair in marker.genotypes.items():
            profiles[person][marker.name] = tuple(pair)
    samples = {"S-A-FA": "A-FA", "S-A-MO": "A-MO", "S-B-MO": "B-MO", "S-D-FA": "D-FA", "S-D-MO": "D-MO",
               **{f"S-{u}": p for u, p in CHILDREN.items()}}
    analyst = world.actor("analyst")
    import_file(world.engine, model, "genotypes",
                write_genotypes(tmp_path / "g.csv", {s: profiles[p] for s, p in samples.items()}),
                actor=analyst, search=False)
    (tmp_path / "families.csv").write_text(FAMILIES_CSV, encoding="utf-8")
    import_file(world.engine, model, "families", tmp_path / "families.csv", actor=analyst, search=False)
    for code, user, family, missing, sex in (("R-A", "inv_butuo", "FAM-A", "C1", "M"),
                                             ("R-B", "inv_zhaojue", "FAM-B", "C3", "M"),
                                             ("R-D", "inv_butuo", "FAM-D", "C4", "F")):
        actor = world.actor(user)
        write_transaction(world.engine, lambda s, code=code, actor=actor, family=family, missing=missing, sex=sex:
                          create_report(s, actor=actor, code=code, child_sex=sex, family_code=family,
                                        missing_code=missing, child_birth_date=date(2022, 1, 1),
                                        missing_date=date(2023, 1, 1)))
    linyi = world.actor("inv_linyi")
    write_transaction(world.engine, lambda s: create_operation(
        s, actor=linyi, code=OP, name="Operation test (simulated)", operation_date=date(2024, 3, 1),
        place_code="371324"))
    welfare = world.actor("welfare_linyi")
    for code, person in CHILDREN.items():
        write_transaction(world.engine, lambda s, code=code, person=person: create_unidentified(
            s, actor=welfare, code=code, sample_code=f"S-{code}", sex=sexes[person], category="rescued_child",
            found_date=date(2024, 3, 1), found_place_code="371324", estimated_birth_date=date(2022, 3, 1),
            operation_code=OP))
    complete_pending(world.engine, model, actor=linyi)
    world.profiles = profiles
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build(tmp_path_factory.mktemp("dvi"))
    yield w
    w.engine.dispose()


def identify(world, user="reviewer1", **kw):
    actor = world.actor(user)
    return write_transaction(world.engine, lambda s: service.identify_operation(s, OP, actor=actor,
                                                                                 model=world.model, **kw))


# ---------------------------------------------------------------------------------------
# the naive oracle: each family's LR with its children placed, from the kinship engine


def naive_log10_lr(world, assignment: dict[str, tuple[str, str] | None], loci) -> float:
    """log10 LR(assignment against nobody identified) = sum over families of log10 of
    P(refs, children | children are the missing) / P(refs, missing untyped; children unrelated)."""
    families = {"FAM-A": ("A", [("FA", None, None, "M"), ("MO", None, None, "F"), ("C1", "FA", "MO", "M"),
                                ("C2", "FA", "MO", "M")], {"FA": "A-FA", "MO": "A-MO"}),
                "FAM-B": ("B", [("FA", None, None, "M"), ("MO", None, None, "F"), ("C3", "FA", "MO", "M")],
                          {"MO": "B-MO"}),
                "FAM-D": ("D", [("FA", None, None, "M"), ("MO", None, None, "F"), ("C4", "FA", "MO", "F")],
                          {"FA": "D-FA", "MO": "D-MO"})}
    total = 0.0
    for fam, (_, people, refs) in families.items():
        placed = {m: child for child, target in assignment.items() if target and target[0] == fam
                  for m in [target[1]]}
        if not placed:
            continue
        h1 = [Individual(placed.get(p, p), placed.get(f, f) if f else None, placed.get(m, m) if m else None, s)
              for p, f, m, s in people]
        h2 = [Individual(p, f, m, s) for p, f, m, s in people] + [Individual(c, None, None, "M")
                                                                  for c in placed.values()]
        typed = {**{p: world.profiles[who] for p, who in refs.items()},
                 **{c: world.profiles[CHILDREN[c]] for c in placed.values()}}
        markers = [world.model.marker(l, {p: prof[l] for p, prof in typed.items() if l in prof}) for l in loci]
        total += kinship_lr(make_pedigree(h1), make_pedigree(h2), markers).log10_lr_total
    return total


# ---------------------------------------------------------------------------------------


def test_best_assignment_is_the_simulated_truth(world):
    view = identify(world)
    assert not view["restricted"] and view["error"] is None, view.get("error")
    assert [c["code"] for c in view["children"]] == sorted(CHILDREN)
    compared = {f["code"] for f in view["families"] if f["compared"]}
    assert {"FAM-A", "FAM-B"} <= compared
    best = view["assignments"][0]
    placed = {p["child"]: p["family"] for p in best["pairs"]}
    assert placed == TRUTH
    # the two brothers are exchangeable in their family: both ways are equally good
    brothers = {(p["child"], p["missing"]) for p in best["pairs"] if p["family"] == "FAM-A"}
    assert {m for _, m in brothers} == {"C1", "C2"}
    second = view["assignments"][1]
    assert {p["child"]: p["family"] for p in second["pairs"]} == TRUTH
    assert math.isclose(best["log10_lr"], second["log10_lr"], rel_tol=1e-9)
    assert math.isclose(best["posterior"], second["posterior"], rel_tol=1e-9)
    assert sum(a["posterior"] for a in view["assignments"]) <= 1 + 1e-12
    marginals = {m["child"]: m for m in view["marginals"]}
    assert marginals["U-C3"]["best"] == {"family": "FAM-B", "missing": "C3"}
    assert marginals["U-C3"]["probability"] > 0.99
    assert {marginals[c]["best"]["family"] for c in ("U-C1", "U-C2")} == {"FAM-A"}
    assert math.isclose(marginals["U-C1"]["probability"], 0.5, rel_tol=1e-6)
    assert marginals["U-X"]["not_identified"] > 0.5


def test_joint_lr_agrees_with_the_kinship_engine(world):
    view = identify(world)
    loci = view["provenance"]["kit"]
    for a in view["assignments"][:4]:
        assignment = {p["child"]: (p["family"], p["missing"]) if p["family"] else None for p in a["pairs"]}
        expected = naive_log10_lr(world, assignment, loci)
        assert math.isclose(a["log10_lr"], expected, rel_tol=1e-9, abs_tol=1e-9), (assignment, a, expected)
    # pairwise: every cell is the LR of that child alone in that family
    for row in view["pairwise"]:
        for cell in row["cells"]:
            if cell["state"] == "compared":
                expected = naive_log10_lr(world, {row["child"]: (cell["family"], cell["missing"])}, loci)
                assert math.isclose(cell["log10_lr"], expected, rel_tol=1e-9, abs_tol=1e-9)


def test_undisputed_and_links_to_candidates(world):
    view = identify(world)
    undisputed = {(u["child"], u["family"]) for u in view["undisputed"]}
    assert undisputed <= {(c, f) for c, f in TRUTH.items() if f}
    assert not {c for c, _ in undisputed} & {"U-C1", "U-C2"}  # two brothers, two missing sons: disputed
    # the mother-only family's son: his stored candidate is linked wherever he is shown
    cell = next(c for r in view["pairwise"] if r["child"] == "U-C3" for c in r["cells"] if c["family"] == "FAM-B")
    assert cell["candidate"] and cell["candidate"]["status"] == "new"
    marginal = next(m for m in view["marginals"] if m["child"] == "U-C3")
    assert marginal["candidate"] == cell["candidate"]
    for col in view["missing"]:
        assert col["sex"] in ("M", "F")


def test_provenance_and_settings(world):
    view = identify(world, top=3, limit=10.0)
    prov = view["provenance"]
    assert prov["software"].startswith("reunite ") and prov["frequency_table"] == world.model.population
    assert prov["theta"] == 0.0 and set(prov["mutation"]) == set(prov["kit"]) and len(prov["kit"]) >= 15
    assert len(view["assignments"]) <= 3 and view["settings"]["limit"] == 10.0


def test_scope_restricts_families_and_operations(world):
    linyi = identify(world, user="inv_linyi")  # the operation is Linyi's; the families are Sichuan's
    assert not linyi["restricted"]
    assert all(f["restricted"] and f["report"] is None for f in linyi["families"])
    assert all(c["restricted"] for c in linyi["missing"])
    national = identify(world)
    assert {f["report"] for f in national["families"] if f["code"] in ("FAM-A", "FAM-B")} == {"R-A", "R-B"}
    butuo = identify(world, user="inv_butuo")  # another jurisdiction's operation: code and owner only
    assert butuo["restricted"] and "pairwise" not in butuo
    with pytest.raises(PermissionDenied):
        identify(world, user="registrar")
    with pytest.raises(NotFound):
        identify(world, families=["NO-SUCH-FAMILY"])
    with pytest.raises(ReuniteError):
        identify(world, top=0)


def test_the_read_is_audited(world):
    identify(world, user="reviewer2")
    with Session(world.engine) as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "operation.identify",
                                                   AuditEntry.actor == "reviewer2")
                          .order_by(AuditEntry.seq.desc())).scalars().first()
    assert entry is not None and entry.entity_id == OP
    details = json.loads(entry.details)
    assert set(details["children"]) == set(CHILDREN) and "FAM-A" in details["families"]


def test_a_named_family_is_compared(world):
    view = identify(world, families=["R-D"])  # by its report's code
    fam = next(f for f in view["families"] if f["code"] == "FAM-D")
    assert fam["explicit"] and fam["compared"]
    assert any(c["family"] == "FAM-D" for c in view["missing"])
    # the daughter missing from D: no rescued child is a girl of D, so the truth stays best
    assert {p["child"]: p["family"] for p in view["assignments"][0]["pairs"]} == TRUTH


def test_too_many_assignments_keeps_the_matrix(world):
    view = identify(world, limit=0.0, max_assignments=2)
    assert view["error"] and "assignment" in view["error"]
    assert view["pairwise"] and view["assignments"] == []


def test_cli_json_and_api_give_the_view(world, monkeypatch):
    from reunite.cli import app

    monkeypatch.setenv("REUNITE_DATABASE_URL", world.url)
    result = CliRunner().invoke(app, ["identify", "--operation", OP, "--as", "reviewer1", "--json", "--top", "3"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.output)
    assert {p["child"]: p["family"] for p in cli["assignments"][0]["pairs"]} == TRUTH
    table = CliRunner().invoke(app, ["identify", "--operation", OP, "--as", "reviewer1"])
    assert table.exit_code == 0, table.output
    assert "best joint assignments" in table.output and "U-C3 -> FAM-B/C3" in table.output
    bad = CliRunner().invoke(app, ["identify", "--as", "reviewer1"])
    assert bad.exit_code != 0 and isinstance(bad.exception, ReuniteError) and "--operation" in str(bad.exception)
    client = world.client("reviewer1")
    api = client.get(f"/api/v1/operations/{OP}/identification", params={"top": 3})
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["assignments"][0]["log10_lr"] == pytest.approx(cli["assignments"][0]["log10_lr"], rel=1e-12)
    assert body["pairwise"] == cli["pairwise"]
    assert world.client("registrar").get(f"/api/v1/operations/{OP}/identification").status_code == 403
    assert client.get("/api/v1/operations/NOPE/identification").status_code == 404


def test_withdrawn_consent_leaves_the_reference_out(tmp_path):
    from reunite.cases.consent import withdraw_consent

    w = build(tmp_path, seed=12)
    try:
        butuo = w.actor("inv_butuo")
        write_transaction(w.engine, lambda s: withdraw_consent(s, "R-A", actor=butuo, sample_code="S-A-FA",
                                                               reason="the father asked (simulated)"))
        view = identify(w)
        fam = next(f for f in view["families"] if f["code"] == "FAM-A")
        assert fam["references"] == 1
        loci = view["provenance"]["kit"]
        best = view["assignments"][0]
        assignment = {p["child"]: (p["family"], p["missing"]) if p["family"] else None for p in best["pairs"]}
        # the oracle without the father's profile
        w.profiles = {**w.profiles, "A-FA": {"_sex": "M"}}
        expected = naive_log10_lr(w, assignment, loci)
        assert math.isclose(best["log10_lr"], expected, rel_tol=1e-9, abs_tol=1e-9)
    finally:
        w.engine.dispose()


def test_identify_file_refuses_what_is_not_a_dvi_file(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("nothing", encoding="utf-8")
    with pytest.raises(ReuniteError, match="expected a .fam"):
        service.identify_file(path)
    with pytest.raises(ReuniteError, match="no such file"):
        service.identify_file(tmp_path / "missing.fam")


def test_assignment_count_of_the_oracle_matches(world):
    """The number of assignments searched is what a plain enumeration counts (limit 0)."""
    view = identify(world, limit=0.0)
    columns = view["missing"]
    children = {c["code"]: c["sex"] for c in view["children"]}
    options = [[None] + [k for k, col in enumerate(columns) if col["sex"] == sex or "U" in (sex, col["sex"])]
               for sex in children.values()]
    count = sum(1 for combo in itertools.product(*options)
                if len([c for c in combo if c is not None]) == len({c for c in combo if c is not None}))
    assert view["num_assignments"] == count


def test_identify_file_dvir_example2(tmp_path):
    """dvir's example2 (tests/data/familias/dvi, REFERENCE.md): best V1=M1, V2=M2, V3=M3, LR 250,
    posterior 0.718390804597702; the CLI prints the same view."""
    from pathlib import Path

    from reunite.cli import app

    path = Path(__file__).parent / "data" / "familias" / "dvi" / "example2.json"
    view = service.identify_file(path)
    best = view["assignments"][0]
    assert {p["child"]: p["missing"] for p in best["pairs"]} == {"V1": "M1", "V2": "M2", "V3": "M3"}
    assert math.isclose(best["lr"], 250, rel_tol=1e-9)
    assert math.isclose(best["posterior"], 0.718390804597702, rel_tol=1e-9)
    assert view["operation"] is None and view["provenance"]["kit"] == ["L1"]
    result = CliRunner().invoke(app, ["identify", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["assignments"][0]["posterior"] == pytest.approx(0.718390804597702, rel=1e-12)
    table = CliRunner().invoke(app, ["identify", str(path)])
    assert table.exit_code == 0 and "V1 -> F1/M1, V2 -> F1/M2, V3 -> F2/M3" in table.output


def test_identify_file_reads_a_familias_dvi_file():
    from pathlib import Path

    path = Path(__file__).parent / "data" / "familias" / "fam" / "dvi-example.fam"
    view = service.identify_file(path)
    assert view["children"] and view["families"] and view["assignments"]
    assert view["assignments"][0]["posterior"] <= 1
    with pytest.raises(ReuniteError, match="not a DVI file"):
        service.identify_file(Path(__file__).parent / "data" / "familias" / "fam" / "paternity.fam")


def test_a_family_impossible_on_its_pedigree_is_left_out_and_named(world, monkeypatch):
    """A family whose references contradict its pedigree (a typing or pedigree error; the
    engine refuses it) does not block the operation: the others are compared, it is named."""
    from reunite.genetics.dvi import ImpossibleFamily

    real = service.joint_identification

    def engine(problem, **kw):
        if any(f.name == "FAM-B" for f in problem.families):
            raise ImpossibleFamily("family 'FAM-B': impossible", family="FAM-B", markers=["TH01"])
        return real(problem, **kw)

    monkeypatch.setattr(service, "joint_identification", engine)
    monkeypatch.setattr(service, "pairwise_lr", lambda problem: engine(problem).pairwise)
    view = identify(world)
    fam = next(f for f in view["families"] if f["code"] == "FAM-B")
    assert fam["compared"] is False
    assert any(n["kind"] == "impossible_family" and n["family"] == "FAM-B" for n in view["note_items"])
    assert all(c["family"] != "FAM-B" for c in view["missing"])
    pairs = {p["child"]: p["family"] for p in view["assignments"][0]["pairs"]}
    assert pairs["U-C1"] == pairs["U-C2"] == "FAM-A" and pairs["U-C3"] is None
