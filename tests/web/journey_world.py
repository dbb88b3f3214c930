"""The data the browser journeys start from: a fresh world (:func:`workflow_world.make_world`:
jurisdictions, agencies, one user per role) and the laboratory's files, written to a folder,
that the users upload through the pages.

Every profile is simulated (gene-dropped through the pedigree of
:data:`reunite.demo_workflow.PEDIGREE` with a seed), never real people's data:

- ``references.csv``: the father's and mother's reference samples of a child missing from
  Butuo (report :data:`REPORT`);
- ``rescued-genotypes.csv``: the profiles of three children rescued in Linyi, one of them the
  missing child (:data:`CHILD`), the others unrelated;
- ``rescued-children.csv``: the unidentified-persons file naming those children and their
  samples (sex, category, dates, place found);
- ``confirmation.csv``: a second, independent sample of the child (:data:`CONFIRMATION`).

    jw = make_journey_world(tmp_path)
    jw.world          # the World (jw.world.app() serves it)
    jw.files["references"]  # Path of a file to upload
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from reunite.demo_workflow import simulate_family, simulate_unrelated, write_genotypes
from workflow_world import PASSWORD, World, make_world

REPORT = "R-513429-2023-101"
FATHER, MOTHER = f"{REPORT}-FA", f"{REPORT}-MO"
CHILD = "LY24-C07"
CHILD_SAMPLE = f"SD-{CHILD}"
CONFIRMATION = f"SD-{CHILD}-B"
OTHERS = (("LY24-C01", "F"), ("LY24-C02", "M"))
LAB_SICHUAN, LAB_SHANDONG = "LAB-510000", "LAB-370000"
CHILD_NAME = "吉克浩然 Jike Haoran (simulated)"
BIRTH, MISSING, FOUND = date(2023, 3, 2), date(2023, 9, 14), date(2024, 3, 12)

#: the report as the investigator types it into the registration form
REPORT_FORM = {
    "code": REPORT, "child_name": CHILD_NAME, "child_sex": "M", "child_birth_date": BIRTH.isoformat(),
    "missing_date": MISSING.isoformat(), "missing_place_code": "513429",
    "circumstances": "Simulated: taken from the family's courtyard while the mother fetched water",
    "contact_name": "the mother (simulated)", "contact": "Butuo county, Tuojue township (simulated)",
    "references": [("father", FATHER, "M", "consent form 2023-101-1 (simulated)"),
                   ("mother", MOTHER, "F", "consent form 2023-101-2 (simulated)")],
}


@dataclass
class JourneyWorld:
    world: World
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    profiles: dict[str, dict] = field(default_factory=dict)  # sample code -> {locus: (a, b), "_sex": sex}
    password: str = PASSWORD

    @property
    def loci(self) -> list[str]:
        """The autosomal loci of the child's profile (rows of the candidate's per-locus table)."""
        return sorted(k for k in self.profiles[CHILD_SAMPLE] if k != "_sex")


def write_unidentified(path: Path, rows: list[dict]) -> Path:
    """An unidentified-persons file (``person_id,sample_id,sex,category,...``) as the importer reads it."""
    columns = ("person_id", "sample_id", "sex", "category", "estimated_birth_date", "found_date", "found_place")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for row in rows:
            w.writerow({c: row.get(c, "") for c in columns})
    return path


def make_journey_world(folder: Path, *, seed: int = 41) -> JourneyWorld:
    """A fresh SQLite world in ``folder`` and the simulated laboratory files beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    world = make_world(f"sqlite:///{folder / 'journey.db'}")
    family = simulate_family(child_sex="M", seed=seed)
    others = simulate_unrelated(list(OTHERS), seed=seed + 1)
    profiles = {FATHER: family["FA"], MOTHER: family["MO"], CHILD_SAMPLE: family["M"], CONFIRMATION: family["M"],
                **{f"SD-{code}": others[code] for code, _ in OTHERS}}
    lab = folder / "lab"
    files = {
        "references": write_genotypes(lab / "references.csv", {c: profiles[c] for c in (FATHER, MOTHER)}),
        "rescued_genotypes": write_genotypes(lab / "rescued-genotypes.csv", {
            c: profiles[c] for c in (*(f"SD-{code}" for code, _ in OTHERS), CHILD_SAMPLE)}),
        "rescued_children": write_unidentified(lab / "rescued-children.csv", [
            {"person_id": code, "sample_id": f"SD-{code}", "sex": sex, "category": "rescued_child",
             "estimated_birth_date": date(2023, 3, 1).isoformat(), "found_date": FOUND.isoformat(),
             "found_place": "Lanling county, Linyi (simulated)"}
            for code, sex in (*OTHERS, (CHILD, "M"))]),
        "confirmation": write_genotypes(lab / "confirmation.csv", {CONFIRMATION: profiles[CONFIRMATION]}),
    }
    return JourneyWorld(world=world, folder=folder, files=files, profiles=profiles)


@dataclass
class DemoWorld:
    """The demo's simulated story (:func:`reunite.demo_workflow.run_workflow`) in a database of its own."""

    url: str
    engine: object
    settings: object
    model: object
    result: object  # a WorkflowResult: accounts (with passwords), reports, operation, children, candidates

    def upload_as_lab(self, samples: dict[str, dict], path: Path, *, lab: str = LAB_SICHUAN) -> None:
        """The analyst imports ``samples`` (``{code: profile}``) through the service, as the CLI does."""
        from reunite.cases.intake import import_file
        from reunite.demo_workflow import _actor

        import_file(self.engine, self.model, "genotypes", write_genotypes(path, samples),
                    actor=_actor(self.engine, "analyst"), lab=lab)

    def password(self, username: str) -> str:
        return next(a.password for a in self.result.accounts if a.username == username)

    def app(self):
        from reunite.api.app import create_app

        return create_app(settings=self.settings, engine=self.engine)


def make_demo_world(folder: Path, *, seed: int = 2016, families: int = 0, unidentified: int = 0) -> DemoWorld:
    """The demo's users, reports, rescue operation, candidates (one confirmed with a return home,
    one under review), registration checks and audit log, as ``make demo`` makes them; with
    ``families``, first a simulated national database of that many families and ``unidentified``
    children, imported and searched (``make demo``'s first part, smaller)."""
    import io
    import json

    from rich.console import Console

    from reunite.demo import run_database_demo
    from reunite.demo_workflow import POPULATION, run_workflow
    from reunite.settings import load_settings
    from reunite.store.db import make_engine, upgrade, write_transaction
    from reunite.store.models import Setting
    from reunite.store.profiles import GeneticModel

    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'reunite.db'}"
    model = GeneticModel(POPULATION)
    if families:
        run_database_demo(Console(file=io.StringIO()), seed=seed, out_dir=folder, num_families=families,
                          num_unidentified=unidentified)
    engine = make_engine(url)
    upgrade(engine)
    if not families:
        write_transaction(engine, lambda s: s.add(Setting(key="genetic_model",
                                                          value=json.dumps(model.to_json()))))
    settings = load_settings(env="development", database_url=url)
    result = run_workflow(engine, model, data_dir=folder / "workflow", seed=seed, settings=settings)
    return DemoWorld(url=url, engine=engine, settings=settings, model=model, result=result)
