"""The demo's case workflow (``reunite demo``, part three): on a small database it leaves users
of every role, reports, a rescue operation, candidates and one confirmed match with an
outcome, an intact audit log; it refuses outside development mode and on a database that
already has users.  Everything is simulated (never real people)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from reunite.cli import app
from reunite.demo_workflow import CONFIRMED_CHILD, NUM_INFANTS, OPERATION, REPORTS, USERS, run_workflow
from reunite.errors import ReuniteError
from reunite.settings import load_settings
from reunite.store.db import make_engine, upgrade, write_transaction
from reunite.store.models import MatchCandidate, PersonDetail, Setting, Unidentified
from reunite.store.models_workflow import (
    ROLES,
    CandidateReview,
    ConfirmationTest,
    FollowUp,
    MissingReport,
    Notification,
    Outcome,
    RegistrationCheck,
    RescueOperation,
    User,
    UserRole,
)
from reunite.store.profiles import GeneticModel

MODEL = GeneticModel("CHN_national_GBT37223")
PRODUCTION = dict(env="production", secret_key="s" * 40, audit_key="a" * 40)


def _database(path, *, background: bool = True):
    """A new database with the genetic model and (``background``) a small simulated database."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    write_transaction(engine, lambda s: s.add(Setting(key="genetic_model", value=json.dumps(MODEL.to_json()))))
    if background:
        from reunite.simulate import simulate_database, write_database
        from reunite.store.importers import import_all

        paths = write_database(simulate_database(12, 6, seed=3), path.parent / "sim")
        write_transaction(engine, lambda s: import_all(s, paths, model=MODEL))
    return engine


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo_workflow")
    engine = _database(tmp / "demo.db")
    result = run_workflow(engine, MODEL, data_dir=tmp / "workflow", seed=2016)
    yield engine, result, tmp
    engine.dispose()


def test_users_of_every_role_with_random_passwords(demo):
    from reunite.security.passwords import verify_password

    engine, result, _ = demo
    with Session(engine) as s:
        roles = set(s.execute(select(UserRole.role)).scalars())
        hashes = dict(s.execute(select(User.username, User.password_hash)).all())
    assert roles == set(ROLES)
    assert [a.username for a in result.accounts] == [u[0] for u in USERS]
    passwords = [a.password for a in result.accounts]
    assert len(set(passwords)) == len(passwords) and all(len(p) == 16 for p in passwords)
    for a in result.accounts:
        assert verify_password(hashes[a.username], a.password)
        assert a.username not in a.password.lower()


def test_reports_operation_and_children(demo):
    engine, result, tmp = demo
    with Session(engine) as s:
        reports = dict(s.execute(select(MissingReport.code, MissingReport.status)).all())
        op = s.execute(select(RescueOperation).where(RescueOperation.code == OPERATION["code"])).scalar_one()
        infants = s.execute(select(func.count()).select_from(Unidentified)
                            .where(Unidentified.operation_id == op.id)).scalar_one()
        categories = set(s.execute(select(Unidentified.category).where(Unidentified.jurisdiction_id.is_not(None)))
                         .scalars())
        names = list(s.execute(select(PersonDetail.name).where(PersonDetail.subject_kind == "report_child"))
                     .scalars())
        checks = dict(s.execute(select(RegistrationCheck.code, RegistrationCheck.status)).all())
    assert set(reports) == {r.code for r in REPORTS} == set(result.reports)
    assert reports[REPORTS[0].code] == "identified"
    assert infants == NUM_INFANTS
    assert categories == {"rescued_child", "begging_child", "unclear_origin", "registration_check"}
    assert names and all(n.endswith("(simulated)") for n in names)
    assert sorted(checks.values()) == ["consistent", "flagged"]
    assert (tmp / "workflow" / "references.csv").is_file()


def test_candidates_review_and_outcome(demo):
    engine, result, _ = demo
    with Session(engine) as s:
        found = {(c["child"], c["report"]) for c in result.candidates}
        confirmed = s.get(CandidateReview, result.confirmed_candidate)
        statuses = dict(s.execute(select(MatchCandidate.id, MatchCandidate.status)).all())
        child = s.execute(select(Unidentified).where(Unidentified.code == CONFIRMED_CHILD)).scalar_one()
        outcome = s.get(Outcome, result.outcome_id)
        follow_ups = s.execute(select(func.count()).select_from(FollowUp)
                               .where(FollowUp.outcome_id == outcome.id)).scalar_one()
        tests = list(s.execute(select(ConfirmationTest.log10_lr)
                               .where(ConfirmationTest.candidate_id == result.confirmed_candidate)).scalars())
        inbox = list(s.execute(select(Notification.kind).join(User, User.id == Notification.user_id)
                               .where(User.username == "inv_butuo")).scalars())
    # the true children were found: infants, the begging child and the flagged registration's child
    for r in REPORTS:
        if r.found_as and r.relations[0] != "paternal_grandfather":  # grandparents may stay below 10^4
            assert (r.found_as, r.code) in found, r.code
    assert confirmed.status == "confirmed" and statuses[result.confirmed_candidate] == "confirmed"
    assert confirmed.confirmation_requested_by == "reviewer1" and confirmed.confirmed_by == "reviewer2"
    assert statuses[result.under_review_candidate] == "under_review"
    assert tests and tests[0] >= 4
    assert child.status == "identified"
    assert outcome.kind == "returned_home" and follow_ups == 3
    assert "candidate" in inbox and "transition" in inbox


def test_the_audit_log_holds_the_story_and_is_intact(demo):
    from reunite.audit.service import verify_chain
    from reunite.settings import get_settings
    from reunite.store.models_workflow import AuditEntry

    engine, _, _ = demo
    with Session(engine) as s:
        actions = {(a, b) for a, b in s.execute(select(AuditEntry.actor, AuditEntry.action)).all()}
        auditor = s.execute(select(User).where(User.username == "auditor")).scalar_one()
        from reunite.security.tokens import actor_of

        result = verify_chain(s, actor=actor_of(s, auditor), key=get_settings().audit_key)
    assert result.ok, result.describe()
    for step in [("analyst", "import.genotypes"), ("inv_butuo", "report.create"), ("inv_linyi", "operation.create"),
                 ("inv_linyi", "unidentified.create"), ("registrar", "registration.check"),
                 ("inv_butuo", "candidate.assign"), ("reviewer1", "candidate.start_review"),
                 ("reviewer1", "candidate.request_confirmation"), ("analyst", "candidate.confirmation_test"),
                 ("reviewer2", "candidate.confirm"), ("welfare_linyi", "outcome.create")]:
        assert step in actions, step


def test_refused_outside_development_and_on_a_database_with_users(tmp_path, demo):
    engine = _database(tmp_path / "prod.db", background=False)
    with pytest.raises(ReuniteError, match="development"):
        run_workflow(engine, MODEL, data_dir=tmp_path / "w", settings=load_settings(**PRODUCTION))
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == 0
    engine.dispose()
    used, _, _ = demo
    with pytest.raises(ReuniteError, match="already has users"):
        run_workflow(used, MODEL, data_dir=tmp_path / "w2")


def _demo_cli(tmp_path, env: dict):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["demo", "--families", "15", "--unidentified", "6", "--out", str(out)],
                                env={"COLUMNS": "200", **env})
    assert result.exit_code == 0, result.output
    return out, result.output


def test_reunite_demo_prints_the_accounts_once_and_how_to_serve(tmp_path):
    from reunite.security.passwords import verify_password

    out, text = _demo_cli(tmp_path, {"REUNITE_ENV": "development"})
    assert "Demo accounts" in text and "reunite.db" in text and " serve" in text
    assert "http://127.0.0.1:8000/api/v1/docs" in text and "/api/v1/auth/token" in text
    engine = make_engine(f"sqlite:///{out / 'reunite.db'}")
    with Session(engine) as s:
        hashes = dict(s.execute(select(User.username, User.password_hash)).all())
    engine.dispose()
    shown = {}
    for username, *_ in USERS:
        m = re.search(rf"^  {re.escape(username)} +(\S+)  ", text, re.M)
        assert m, username
        assert verify_password(hashes[username], m.group(1))
        shown[username] = m.group(1)
    assert text.count(shown["auditor"]) == 1  # shown once (inv_butuo's also in the curl example)
    assert f'"password": "{shown["inv_butuo"]}"' in text
    written = [p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*")
               if p.is_file() and p.suffix in (".csv", ".json", ".txt")]
    assert not any(password in w for password in shown.values() for w in written)


def test_reunite_demo_outside_development_creates_no_users(tmp_path):
    out, text = _demo_cli(tmp_path, {f"REUNITE_{k.upper()}": v for k, v in PRODUCTION.items()})
    assert "case workflow demo skipped" in text and "Demo accounts" not in text
    engine = make_engine(f"sqlite:///{out / 'reunite.db'}")
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == 0
    engine.dispose()


def test_the_rescue_operation_is_identified_jointly(demo):
    """The operation's children still unidentified, identified jointly (cases/joint_identification):
    the twins of one family are both placed in it, undisputed; the confirmed child is left out."""
    _, result, _ = demo
    summary = result.identification
    assert summary and summary["error"] is None and summary["children"] == NUM_INFANTS - 1
    twins = next(r for r in REPORTS if r.sibling_found_as)
    undisputed = {(c, f, m) for c, f, m, _ in summary["undisputed"]}
    assert {(twins.found_as, twins.code, "M"), (twins.sibling_found_as, twins.code, "S1")} <= undisputed
    best = {(c, f, m) for c, f, m, _ in summary["best"]["pairs"]}
    for r in REPORTS:
        if r.found_as and r.found_as.startswith("LY24-C") and r.found_as != CONFIRMED_CHILD:
            assert (r.found_as, r.code, "M") in best, r.code
    assert CONFIRMED_CHILD not in {c for c, *_ in best}
