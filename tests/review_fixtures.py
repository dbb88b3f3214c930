"""A small world for the review tests: the workflow world (jurisdictions, users), a simulated
database imported and searched, reports linking some families, and helpers to import extra
samples and walk a candidate through its review."""

from __future__ import annotations

import csv

import pytest
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select, update

from reunite.search.service import run_search
from reunite.simulate import simulate_database, write_database
from reunite.store.db import write_transaction
from reunite.store.genotype_import import import_genotypes
from reunite.store.importers import import_all
from reunite.store.models import Family, FamilyMember, MatchCandidate, PersonDetail, Sample, Unidentified
from reunite.store.models_workflow import Jurisdiction, MissingReport
from reunite.store.profiles import unpack_profile
from workflow_world import make_world


@dataclass
class ReviewWorld:
    world: object
    db: dict
    tmp: Path

    @property
    def engine(self):
        return self.world.engine

    @property
    def model(self):
        return self.world.model

    def actor(self, name):
        return self.world.actor(name)

    def write(self, work):
        return write_transaction(self.engine, work)

    def read(self, work):
        from sqlalchemy.orm import Session

        with Session(self.engine) as s:
            return work(s)

    def candidate(self, unidentified: str, family: str) -> int:
        def work(s):
            return s.execute(select(MatchCandidate.id)
                             .join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
                             .join(Family, Family.id == MatchCandidate.family_id)
                             .where(Unidentified.code == unidentified, Family.code == family)).scalar_one()
        return self.read(work)

    def true_pairs(self):
        """(unidentified code, family code, missing code, candidate id) of the true matches found."""
        out = []
        for u, f, m in self.db["truth"]:
            try:
                out.append((u, f, m, self.candidate(u, f)))
            except Exception:  # noqa: BLE001 - not found by the search
                continue
        return out

    def import_samples(self, profiles: dict[str, dict[str, tuple[str, str]]], name: str = "extra") -> None:
        path = self.tmp / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(("sample_id", "locus", "allele1", "allele2"))
            for code, prof in profiles.items():
                for locus, (a, b) in sorted(prof.items()):
                    w.writerow((code, locus, a, b))
        self.write(lambda s: import_genotypes(s, path, model=self.model))

    def profile_of(self, unidentified: str) -> dict:
        return self.read(lambda s: unpack_profile(s.execute(
            select(Sample.profile).join(Unidentified, Unidentified.sample_id == Sample.id)
            .where(Unidentified.code == unidentified)).scalar_one()))

    def family_profiles(self, family: str) -> dict[str, dict]:
        return self.read(lambda s: {p: unpack_profile(prof) for p, prof in s.execute(
            select(FamilyMember.person_code, Sample.profile).join(Sample, Sample.id == FamilyMember.sample_id)
            .join(Family, Family.id == FamilyMember.family_id).where(Family.code == family))})


def build(tmp_path, url: str | None = None, *, num_families: int = 16, num_unidentified: int = 10,
          seed: int = 11) -> ReviewWorld:
    """The world at ``url`` (default: a SQLite file in ``tmp_path``), a simulated database
    imported and searched (every pair with LR >= 1 stored), and a report (Butuo, investigator
    inv_butuo, names in person_details) on every family; unidentified persons in Linyi."""
    url = url or f"sqlite:///{tmp_path / 'review.db'}"
    world = make_world(url)
    db = simulate_database(num_families, num_unidentified, seed=seed, share_found=0.8)
    paths = write_database(db, tmp_path / "sim")
    write_transaction(world.engine, lambda s: import_all(s, paths, model=world.model))
    write_transaction(world.engine, lambda s: run_search(s, world.model, min_lr=0.0, top_k=None, use_index=False))

    def reports(s):
        butuo = s.execute(select(Jurisdiction.id).where(Jurisdiction.code == "513429")).scalar_one()
        linyi = s.execute(select(Jurisdiction.id).where(Jurisdiction.code == "371300")).scalar_one()
        for k, (fid, code) in enumerate(s.execute(select(Family.id, Family.code).order_by(Family.id)).all()):
            report = MissingReport(code=f"R-{code}", family_id=fid, missing_code=f"{code}-M", child_sex="U",
                                   missing_date=date(2020, 1, 1), jurisdiction_id=butuo,
                                   investigator_id=world.user_ids["inv_butuo"], circumstances="lost at the market",
                                   created_by="inv_butuo")
            s.add(report)
            s.flush()
            s.add(PersonDetail(subject_kind="report_child", subject_id=report.id, name=f"王小{k}"))
            s.add(PersonDetail(subject_kind="report_contact", subject_id=report.id, name="王父",
                               contact="+86 138 0000 0000"))
        s.execute(update(Unidentified).values(jurisdiction_id=linyi))
        for uid, code in s.execute(select(Unidentified.id, Unidentified.code)).all():
            s.add(PersonDetail(subject_kind="unidentified", subject_id=uid, name=f"child {code}"))

    write_transaction(world.engine, reports)
    return ReviewWorld(world, db, tmp_path)


def to_confirmation_requested(rw: ReviewWorld, cid: int, *, reviewer: str = "reviewer1") -> None:
    from reunite.cases import review

    rw.write(lambda s: review.assign(s, cid, actor=rw.actor("inv_butuo"), to=reviewer))
    rw.write(lambda s: review.start_review(s, cid, actor=rw.actor(reviewer)))
    rw.write(lambda s: review.request_confirmation(s, cid, actor=rw.actor(reviewer), comment="strong"))


def second_child_sample(rw: ReviewWorld, unidentified: str, code: str, *, change: str | None = None) -> None:
    """Import a copy of the child's profile as ``code`` (``change``: a locus typed differently)."""
    prof = dict(rw.profile_of(unidentified))
    if change:
        a, b = prof[change]
        prof[change] = (a, str(int(float(b)) + 3)) if b.replace(".", "").isdigit() else (a, a)
    rw.import_samples({code: prof}, name=code)


def copy_world(template: Path, db: dict, tmp_path: Path) -> ReviewWorld:
    """A copy of a world :func:`build` made in ``template`` (SQLite), for a test to change."""
    from sqlalchemy.orm import Session

    from reunite.settings import load_settings
    from reunite.store.db import make_engine
    from reunite.store.models_workflow import User
    from workflow_world import MODEL, World
    from pg_backend import copy_database

    copy_database(template / "review.db", tmp_path / "review.db")  # PostgreSQL: from a template database
    url = f"sqlite:///{tmp_path / 'review.db'}"
    world = World(url=url, engine=make_engine(url), model=MODEL,
                  settings=load_settings(env="development", database_url=url))
    with Session(world.engine) as s:
        world.user_ids = dict(s.execute(select(User.username, User.id)).all())
    return ReviewWorld(world, db, tmp_path)


def world_fixtures(name: str):
    """The ``template`` (one built world per test module, SQLite) and ``rw`` (a copy of it
    for each test that changes it) fixtures; a test module writes
    ``template, rw = world_fixtures("name")``."""

    @pytest.fixture(scope="module")
    def template(tmp_path_factory):
        tmp = tmp_path_factory.mktemp(name)
        world = build(tmp)
        world.engine.dispose()
        return tmp, world.db

    @pytest.fixture
    def rw(template, tmp_path):
        return copy_world(*template, tmp_path)

    return template, rw
