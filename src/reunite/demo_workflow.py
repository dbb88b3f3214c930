"""The demo's case workflow: simulated users, reports, a rescue operation, searches, a review
that ends in a confirmed match, and the child's return home.

Everything here is simulated (never real people): genotypes are gene-dropped through each
family's pedigree (:func:`reunite.simulate.simulate_genotypes`), names are drawn from a short
list of common family and given names and marked as simulated, telephone numbers are not
numbers anyone has.  Places are real GB/T 2260 codes (``data/places.csv``).  Every step goes
through the same services the CLI and the API call, as the user whose job it is, so the audit
log holds the whole story.

The story: infants and toddlers went missing in Butuo and Zhaojue counties (Liangshan,
Sichuan) and their families gave DNA (one family lost twins, a boy and a girl, on one day);
a rescue operation in Linyi (Shandong) found 15 infants with traffickers' couriers (the
twins among them, other infants of no family in the database); the police of Linyi also
registered two begging children and a child of unclear origin; a late birth-registration
check in Lanling was flagged.  The searches find the candidates, one is reviewed, confirmed
with a second sample of the child (four eyes) and the child goes home, with follow-up
visits; the operation's other children are then identified jointly against the families
(:mod:`reunite.cases.joint_identification`).

Users get random passwords, returned once to be printed: only in development mode
(``REUNITE_ENV=development``, the default).
"""

from __future__ import annotations

import csv
import secrets
import string
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from reunite.errors import ReuniteError

POPULATION = "CHN_national_GBT37223"

#: jurisdictions the demo uses (GB/T 2260 codes of data/places.csv), parents first
PLACE_CODES = ("510000", "513400", "513429", "513431", "513436", "370000", "371300", "371302", "371324")

AGENCIES = (  # code, name, name_zh, jurisdiction, kind
    ("PSB-513429", "Butuo County Public Security Bureau", "布拖县公安局", "513429", "police"),
    ("PSB-513431", "Zhaojue County Public Security Bureau", "昭觉县公安局", "513431", "police"),
    ("PSB-371300", "Linyi Municipal Public Security Bureau", "临沂市公安局", "371300", "police"),
    ("LAB-510000", "Sichuan Provincial Forensic DNA Laboratory", "四川省公安厅物证鉴定中心", "510000", "lab"),
    ("LAB-370000", "Shandong Provincial Forensic DNA Laboratory", "山东省公安厅物证鉴定中心", "370000", "lab"),
    ("WEL-371300", "Linyi Children's Welfare Institute", "临沂市儿童福利院", "371300", "welfare"),
    ("REG-371324", "Lanling County Household Registration Office", "兰陵县户政办公室", "371324", "registration"),
)

#: username, roles, jurisdiction, agency, what they do
USERS = (
    ("analyst", ("analyst",), "CN", "LAB-510000", "imports DNA profiles, runs searches, attaches samples"),
    ("inv_butuo", ("investigator",), "513429", "PSB-513429",
     "Butuo county police (Liangshan, Sichuan): missing-child reports"),
    ("inv_zhaojue", ("investigator",), "513431", "PSB-513431",
     "Zhaojue county police (Liangshan, Sichuan): missing-child reports"),
    ("inv_linyi", ("investigator",), "371300", "PSB-371300",
     "Linyi police (Shandong): the rescue operation, rescued children"),
    ("reviewer1", ("reviewer",), "CN", None, "reviews candidates, requests confirmation"),
    ("reviewer2", ("reviewer",), "CN", None, "confirms what another reviewer asked to confirm (four eyes)"),
    ("welfare_linyi", ("welfare",), "371300", "WEL-371300", "Linyi welfare: placements, outcomes, follow-up visits"),
    ("registrar", ("registration",), "371324", "REG-371324",
     "Lanling registration office: late birth-registration checks"),
    ("admin", ("administrator",), "CN", None, "users, jurisdictions, agencies"),
    ("auditor", ("auditor",), "CN", None, "reads and verifies the audit log"),
)

FAMILY_NAMES = (("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
                ("吉克", "Jike"), ("阿苏", "Asu"), ("沙马", "Shama"), ("马", "Ma"))
GIVEN_NAMES = {"M": (("小明", "Xiaoming"), ("浩然", "Haoran"), ("阿木", "Amu"), ("子轩", "Zixuan"), ("伟", "Wei")),
               "F": (("小红", "Xiaohong"), ("欣怡", "Xinyi"), ("阿呷", "Aga"), ("梓涵", "Zihan"), ("丽", "Li"))}

#: a full pedigree around the missing child ``M``; references are typed from it
PEDIGREE = (  # person, father, mother, sex
    ("PGF", None, None, "M"), ("PGM", None, None, "F"), ("MGF", None, None, "M"), ("MGM", None, None, "F"),
    ("FA", "PGF", "PGM", "M"), ("MO", "MGF", "MGM", "F"), ("M", "FA", "MO", None), ("S1", "FA", "MO", None),
    ("MA1", "MGF", "MGM", "F"),
)
#: relation to the missing child -> person of :data:`PEDIGREE`
RELATION_PERSON = {"father": "FA", "mother": "MO", "full_sibling": "S1", "paternal_grandfather": "PGF",
                   "paternal_grandmother": "PGM", "maternal_aunt": "MA1"}


@dataclass(frozen=True)
class DemoReport:
    code: str
    investigator: str
    missing_place: str
    sex: str
    birth: date
    missing: date
    relations: tuple[str, ...]
    story: str
    found_as: str | None  # the unidentified person who is this child (None: still missing)
    #: a second missing child of the family (the pedigree's ``S1``, a full sibling), found as
    #: this unidentified person; the family is then imported with both missing (a families file)
    #: and the report linked to it
    sibling_found_as: str | None = None


REPORTS = (
    DemoReport("R-513429-2023-017", "inv_butuo", "513429", "M", date(2023, 2, 10), date(2023, 8, 15),
               ("father", "mother"), "taken from the family's courtyard while the mother fetched water; a woman "
               "from outside the village had asked about babies the week before", "LY24-C03"),
    DemoReport("R-513429-2023-031", "inv_butuo", "513429", "F", date(2023, 5, 1), date(2023, 11, 3),
               ("mother", "full_sibling"), "left with a neighbour who said she would take her to the clinic in "
               "the county town; neither came back", "LY24-C08"),
    DemoReport("R-513431-2024-004", "inv_zhaojue", "513431", "M", date(2023, 9, 20), date(2024, 1, 18),
               ("paternal_grandfather", "paternal_grandmother"), "in the grandparents' care while the parents "
               "work in Guangdong; gone from the house at market day", "LY24-C12"),
    DemoReport("R-513431-2018-009", "inv_zhaojue", "513436", "M", date(2016, 6, 1), date(2018, 9, 10),
               ("father", "mother"), "lost at the Meigu market at two years old", "LY24-B01"),
    DemoReport("R-513429-2017-002", "inv_butuo", "513429", "F", date(2015, 3, 1), date(2017, 5, 20),
               ("mother", "full_sibling"), "disappeared on the way home from her aunt's house",
               "REG-371324-2024-002-CH"),
    DemoReport("R-513429-2021-011", "inv_butuo", "513429", "M", date(2020, 4, 11), date(2021, 7, 30),
               ("father", "mother"), "last seen playing by the road to the township", None),
    DemoReport("R-513431-2022-006", "inv_zhaojue", "513431", "F", date(2019, 12, 1), date(2022, 2, 14),
               ("mother", "maternal_aunt"), "went missing during the Spring Festival visit to relatives", None),
    DemoReport("R-513431-2023-022", "inv_zhaojue", "513431", "M", date(2023, 6, 2), date(2023, 12, 9),
               ("father", "mother"), "twins, a boy and a girl, taken together from their grandmother's house "
               "while she was in the fields", "LY24-C05", sibling_found_as="LY24-C06"),
)

OPERATION = dict(code="OP-371300-2024-03", name="Operation Spring Lantern (simulated)",
                 operation_date=date(2024, 3, 12),
                 place_code="371324", place_detail="a rented house near the county bus station (simulated)",
                 suspects_case_number="LY-XS-2024-0312 (simulated)",
                 notes="Simulated: infants found with a trafficking ring's couriers, placed in the Linyi "
                       "Children's Welfare Institute.")
NUM_INFANTS = 15
WELFARE_HOME = "Linyi Children's Welfare Institute"
CONFIRMATION_SAMPLE = "SD-LY24-C03-B"
CONFIRMED_CHILD = "LY24-C03"
PASSWORD_ALPHABET = string.ascii_letters + string.digits


@dataclass
class Account:
    username: str
    password: str
    roles: tuple[str, ...]
    jurisdiction: str
    what: str


@dataclass
class WorkflowResult:
    """What the demo's workflow made: the accounts (with the passwords, shown once) and codes."""

    accounts: list[Account] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    operation: str = ""
    children: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # code -> status
    candidates: list[dict] = field(default_factory=list)  # the candidates of the demo's reports
    identification: dict | None = None  # the operation's joint identification (summary)
    confirmed_candidate: int | None = None
    under_review_candidate: int | None = None
    outcome_id: int | None = None
    data_dir: Path | None = None


# ----------------------------------------------------------------------------------------
# simulation


def _markers():
    from reunite.genetics.kits import CHN24, kit_markers

    return kit_markers(POPULATION, kit=CHN24, mutation="stepwise")


def simulate_family(*, child_sex: str, seed: int, markers=None, sibling_sex: str | None = None) -> dict[str, dict]:
    """Profiles ``{person: {locus: (a, b)}}`` of every person of :data:`PEDIGREE` (the missing
    child is ``M``), gene-dropped with stepwise mutation; ``"sex"`` of each person under
    ``profile["_sex"]`` (the sibling ``S1``'s drawn at random unless ``sibling_sex``)."""
    import random

    from reunite.genetics import pedigree as ped
    from reunite.simulate import simulate_genotypes

    rng = random.Random(seed)
    sexes = {p: (s or (child_sex if p == "M" else rng.choice("MF"))) for p, _, _, s in PEDIGREE}
    if sibling_sex:
        sexes["S1"] = sibling_sex
    pedigree = ped.make_pedigree([ped.Individual(p, f, m, sexes[p]) for p, f, m, _ in PEDIGREE])
    typed = simulate_genotypes(pedigree, markers=markers or _markers(), seed=seed)
    out = {p: {"_sex": sexes[p]} for p in sexes}
    for marker in typed:
        for person, pair in marker.genotypes.items():
            out[person][marker.name] = tuple(pair)
    return out


def simulate_unrelated(codes_and_sexes: list[tuple[str, str]], *, seed: int, markers=None) -> dict[str, dict]:
    """Profiles of people related to nobody (``{code: {locus: (a, b), "_sex": sex}}``)."""
    from reunite.genetics import pedigree as ped
    from reunite.simulate import simulate_genotypes

    if not codes_and_sexes:
        return {}
    pedigree = ped.make_pedigree([ped.Individual(c, None, None, s) for c, s in codes_and_sexes])
    out = {c: {"_sex": s} for c, s in codes_and_sexes}
    for marker in simulate_genotypes(pedigree, markers=markers or _markers(), seed=seed):
        for person, pair in marker.genotypes.items():
            out[person][marker.name] = tuple(pair)
    return out


def write_genotypes(path: Path, samples: dict[str, dict]) -> Path:
    """Write ``{sample code: profile}`` as a long genotype CSV (with Amelogenin from ``_sex``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("sample_id", "locus", "allele1", "allele2"))
        for code, profile in samples.items():
            sex = profile.get("_sex")
            if sex in ("M", "F"):
                w.writerow((code, "AMEL", "X", "Y" if sex == "M" else "X"))
            for locus, (a, b) in sorted((k, v) for k, v in profile.items() if k != "_sex"):
                w.writerow((code, locus, *sorted((a, b), key=float)))
    return path


def simulated_name(rng, sex: str) -> str:
    """A clearly simulated name: a common family and given name, characters and pinyin."""
    fam_zh, fam = FAMILY_NAMES[rng.randrange(len(FAMILY_NAMES))]
    given_zh, given = GIVEN_NAMES[sex if sex in ("M", "F") else "M"][rng.randrange(5)]
    return f"{fam_zh}{given_zh} {fam} {given} (simulated)"


def new_password(username: str) -> str:
    """A random password of 16 letters and digits (never containing the user name)."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(16))
        if username.lower() not in password.lower():
            return password


# ----------------------------------------------------------------------------------------
# the workflow


def _actor(engine, username: str):
    from reunite.security.tokens import actor_of
    from reunite.store.models_workflow import User

    with Session(engine) as s:
        user = s.execute(select(User).where(User.username == username)).scalar_one()
        return actor_of(s, user, via="cli")


def setup_world(engine, *, settings) -> list[Account]:
    """Jurisdictions (from the GB/T 2260 table), agencies and one user per role (and three
    investigators, two reviewers), with random passwords; refused outside development mode
    and on a database that already has users."""
    from reunite.cases.places import places
    from reunite.security.jurisdictions import add_agency, add_jurisdiction
    from reunite.security.users import bootstrap_actor, create_user, users_exist
    from reunite.store.db import write_transaction
    from reunite.store.models_workflow import Jurisdiction

    if not settings.development:
        raise ReuniteError("REUNITE_ENV: the demo creates users with passwords printed on the screen only in "
                           f"development mode, found {settings.env!r}; add real users with 'reunite user add'")
    boot = bootstrap_actor()
    accounts = [Account(u, new_password(u), roles, where, what) for u, roles, where, _, what in USERS]

    def work(s):
        if users_exist(s):
            raise ReuniteError("database: it already has users; the demo's workflow runs on a new database "
                               "('reunite demo' makes one in its --out folder)")
        table = places()
        for code in PLACE_CODES:
            if s.execute(select(Jurisdiction.id).where(Jurisdiction.code == code)).first() is None:
                p = table[code]
                add_jurisdiction(s, actor=boot, code=code, name=p.name, parent_code=p.parent, name_zh=p.name_zh)
        for code, name, name_zh, where, kind in AGENCIES:
            add_agency(s, actor=boot, code=code, name=name, name_zh=name_zh, jurisdiction_code=where, kind=kind)
        for account, (_, _, _, agency, what) in zip(accounts, USERS):
            create_user(s, actor=boot, username=account.username, password=account.password,
                        roles=list(account.roles), jurisdiction_code=account.jurisdiction, agency_code=agency,
                        display_name=f"{account.username} (demo)")

    write_transaction(engine, work)
    return accounts


def _import(engine, model, path: Path, *, actor, lab: str | None = None):
    from reunite.cases.intake import import_file

    return import_file(engine, model, "genotypes", path, actor=actor, lab=lab)


def _candidate(session: Session, child: str, family: str):
    from reunite.store.models import Family, MatchCandidate, Unidentified

    return session.execute(
        select(MatchCandidate.id).join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
        .join(Family, Family.id == MatchCandidate.family_id)
        .where(Unidentified.code == child, Family.code == family)).scalar_one_or_none()


def run_workflow(engine, model, *, data_dir: Path, seed: int = 2016, settings=None,
                 today: date | None = None) -> WorkflowResult:
    """The whole story (see the module's docstring) on an initialised database; the
    simulated genotype files go to ``data_dir``.  Returns the accounts and what was made."""
    import random

    from reunite.cases import confirmation, review
    from reunite.cases.joint_identification import identify_operation
    from reunite.cases.intake import complete_pending, import_file
    from reunite.cases.operations import create_operation
    from reunite.cases.outcomes import record_outcome
    from reunite.cases.registration import run_check
    from reunite.cases.reports import Reference, create_report
    from reunite.cases.unidentified import create_unidentified
    from reunite.settings import get_settings
    from reunite.store.db import write_transaction

    settings = settings or get_settings()
    today = today or date.today()
    result = WorkflowResult(data_dir=data_dir)
    result.accounts = setup_world(engine, settings=settings)
    actor = {a.username: _actor(engine, a.username) for a in result.accounts}
    rng = random.Random(seed)
    markers = _markers()
    families = {r.code: simulate_family(child_sex=r.sex, seed=seed * 100 + k, markers=markers,
                                        sibling_sex=("F" if r.sex == "M" else "M") if r.sibling_found_as else None)
                for k, r in enumerate(REPORTS)}
    found = {r.found_as: families[r.code]["M"] for r in REPORTS if r.found_as}
    found.update({r.sibling_found_as: families[r.code]["S1"] for r in REPORTS if r.sibling_found_as})

    # 1. the laboratory's analyst imports the families' reference samples
    refs = {f"{r.code}-{RELATION_PERSON[rel]}": families[r.code][RELATION_PERSON[rel]]
            for r in REPORTS for rel in r.relations}
    _import(engine, model, write_genotypes(data_dir / "references.csv", refs), actor=actor["analyst"],
            lab="LAB-510000")

    # 2. the investigators register the reports with the references (consent recorded); a
    #    family that lost two children is imported with both missing and its report linked to it
    for r in REPORTS:
        a = actor[r.investigator]
        mother = simulated_name(rng, "F")
        if r.sibling_found_as:
            import_file(engine, model, "families", write_family(data_dir / f"family-{r.code}.csv", r, families[r.code]),
                        actor=actor["analyst"], search=False)

        def report(s, r=r, a=a, mother=mother):
            create_report(
                s, actor=a, code=r.code, child_name=simulated_name(rng, r.sex), child_sex=r.sex,
                child_birth_date=r.birth, missing_date=r.missing, missing_place_code=r.missing_place,
                missing_place_detail="a village of the county (simulated)",
                circumstances=f"Simulated case: {r.story}.", contact_name=mother,
                contact="+86 100 0000 0000 (simulated, not a number)",
                **({"family_code": r.code, "missing_code": "M"} if r.sibling_found_as else {"references": [
                    Reference(rel, f"{r.code}-{RELATION_PERSON[rel]}",
                              consent_document=f"consent form {r.code}/{rel} (simulated)")
                    for rel in r.relations]}))

        write_transaction(engine, report)
        result.reports.append(r.code)
    complete_pending(engine, model, actor=actor["inv_zhaojue"])

    # 3. the rescue: 15 infants, begging children, a child of unclear origin
    infants = [f"LY24-C{k:02d}" for k in range(1, NUM_INFANTS + 1)]
    others = [("LY24-B01", "begging_child"), ("LY24-B02", "begging_child"), ("LY24-U01", "unclear_origin")]
    sexes = {c: found[c]["_sex"] if c in found else rng.choice("MF") for c in infants + [c for c, _ in others]}
    unrelated = simulate_unrelated([(c, sexes[c]) for c in sexes if c not in found], seed=seed + 7, markers=markers)
    profiles = {**unrelated, **{c: p for c, p in found.items() if c in sexes}}
    _import(engine, model, write_genotypes(data_dir / "rescued_children.csv",
                                           {f"SD-{c}": profiles[c] for c in sexes}),
            actor=actor["analyst"], lab="LAB-370000")
    truth = {r.found_as: r for r in REPORTS if r.found_as}
    truth.update({r.sibling_found_as: r for r in REPORTS if r.sibling_found_as})
    op = OPERATION

    def rescue(s):
        a = actor["inv_linyi"]
        create_operation(s, actor=a, code=op["code"], name=op["name"], operation_date=op["operation_date"],
                         place_code=op["place_code"], place_detail=op["place_detail"],
                         suspects_case_number=op["suspects_case_number"], notes=op["notes"])
        for code in infants:
            born = (truth[code].birth + timedelta(days=rng.randint(-40, 40)) if code in truth
                    else op["operation_date"] - timedelta(days=rng.randint(60, 540)))
            create_unidentified(s, actor=a, code=code, sample_code=f"SD-{code}", sex=sexes[code],
                                category="rescued_child", found_date=op["operation_date"],
                                found_place_code=op["place_code"], estimated_birth_date=born,
                                placement_kind="welfare_institution", placement_name=WELFARE_HOME,
                                operation_code=op["code"])
        found_on = date(2024, 6, 20)
        for code, category in others:
            begging = category == "begging_child"
            born = (truth[code].birth + timedelta(days=rng.randint(-200, 200)) if code in truth
                    else found_on - timedelta(days=rng.randint(3 * 365, 9 * 365)))
            create_unidentified(s, actor=a, code=code, sample_code=f"SD-{code}", sex=sexes[code], category=category,
                                found_date=found_on if begging else date(2023, 12, 5), found_place_code="371302",
                                found_place_detail="near the long-distance bus station (simulated)",
                                estimated_birth_date=born,
                                placement_kind="welfare_institution" if begging else "foster_family",
                                placement_name=WELFARE_HOME if begging else "a foster family (simulated)",
                                given_name=simulated_name(rng, sexes[code]) if begging else None)

    write_transaction(engine, rescue)
    result.operation = op["code"]
    result.children = infants + [c for c, _ in others]
    complete_pending(engine, model, actor=actor["inv_linyi"])

    # 4. late birth registrations in Lanling: one consistent, one flagged (a missing child)
    trio = simulate_family(child_sex="M", seed=seed + 11, markers=markers)
    strangers = simulate_unrelated([("FA", "M"), ("MO", "F")], seed=seed + 13, markers=markers)
    reg_child = found["REG-371324-2024-002-CH"]
    _import(engine, model, write_genotypes(data_dir / "registration.csv", {
        "SD-REG-001-CH": trio["M"], "SD-REG-001-FA": trio["FA"], "SD-REG-001-MO": trio["MO"],
        "SD-REG-002-CH": reg_child, "SD-REG-002-FA": strangers["FA"], "SD-REG-002-MO": strangers["MO"]}),
        actor=actor["analyst"], lab="LAB-370000")
    for code, n, sex, born in (("REG-371324-2024-001", "001", "M", date(2019, 8, 1)),
                               ("REG-371324-2024-002", "002", reg_child["_sex"], date(2015, 5, 1))):
        status = write_transaction(engine, lambda s, code=code, n=n, sex=sex, born=born: run_check(
            s, actor=actor["registrar"], model=model, code=code, child_sample_code=f"SD-REG-{n}-CH",
            father_sample_code=f"SD-REG-{n}-FA", mother_sample_code=f"SD-REG-{n}-MO", child_sex=sex,
            estimated_birth_date=born, registration_number=f"HJ-371324-2024-{n} (simulated)",
            threshold=settings.registration_lr_threshold).status)
        result.checks[code] = status
    complete_pending(engine, model, actor=actor["registrar"])

    # 5. review: the Butuo infant found in Linyi, confirmed with a second sample (four eyes)
    def ids(s):
        return {r.code: _candidate(s, r.found_as, r.code) for r in REPORTS if r.found_as}

    with Session(engine) as s:
        by_report = ids(s)
    first = by_report[REPORTS[0].code]
    if first is None:
        raise ReuniteError(f"demo: the search found no candidate of {CONFIRMED_CHILD} for {REPORTS[0].code}")
    write_transaction(engine, lambda s: review.assign(s, first, actor=actor["inv_butuo"], to="reviewer1",
                                                      comment="infant from the Linyi rescue; please review"))
    write_transaction(engine, lambda s: review.start_review(s, first, actor=actor["reviewer1"]))
    write_transaction(engine, lambda s: review.request_confirmation(
        s, first, actor=actor["reviewer1"], comment="father and mother consistent at every locus; a second "
        "sample of the child is on its way"))
    second = {k: v for k, v in found[CONFIRMED_CHILD].items()}
    _import(engine, model, write_genotypes(data_dir / "confirmation.csv", {CONFIRMATION_SAMPLE: second}),
            actor=actor["analyst"], lab="LAB-370000")
    write_transaction(engine, lambda s: confirmation.add_confirmation_sample(
        s, first, actor=actor["analyst"], sample_code=CONFIRMATION_SAMPLE, target="child", model=model,
        settings=settings))
    write_transaction(engine, lambda s: review.confirm(s, first, actor=actor["reviewer2"], settings=settings,
                                                       comment="second sample agrees; confirmed"))
    result.confirmed_candidate = first
    outcome = write_transaction(engine, lambda s: record_outcome(
        s, actor=actor["welfare_linyi"], child_code=CONFIRMED_CHILD, kind="returned_home", outcome_date=today,
        notes="Simulated: returned to the parents in Butuo, accompanied by a welfare officer and the Butuo police.",
        follow_up_days=[30, 90, 365]))
    result.outcome_id = outcome.id

    # 6. more screens with data: one candidate under review, one assigned
    second_id = by_report[REPORTS[1].code]
    if second_id is not None:
        write_transaction(engine, lambda s: review.assign(s, second_id, actor=actor["inv_butuo"], to="reviewer2"))
        write_transaction(engine, lambda s: review.start_review(s, second_id, actor=actor["reviewer2"]))
        result.under_review_candidate = second_id
    third = by_report.get(REPORTS[3].code)
    if third is not None:
        write_transaction(engine, lambda s: review.assign(s, third, actor=actor["inv_zhaojue"], to="reviewer1"))
    result.candidates = _report_candidates(engine)

    # 7. the operation's children still unidentified, identified jointly against the families
    result.identification = write_transaction(engine, lambda s: identification_summary(
        identify_operation(s, op["code"], actor=actor["reviewer1"], model=model)))
    return result


def identification_summary(view: dict) -> dict:
    """What the demo prints of a joint identification (:func:`identify_operation`'s view)."""
    best = view["assignments"][0] if view.get("assignments") else None
    marginal = {m["child"]: m["probability"] for m in view.get("marginals", [])}
    return {"children": len(view.get("children", [])),
            "families": sum(1 for f in view.get("families", []) if f.get("compared")),
            "missing": len(view.get("missing", [])), "num_assignments": view.get("num_assignments"),
            "best": None if best is None else {
                "log10_lr": best["log10_lr"], "posterior": best["posterior"],
                "pairs": [(p["child"], p["family"], p["missing"], marginal.get(p["child"]))
                          for p in best["pairs"] if p["family"]]},
            "undisputed": [(u["child"], u["family"], u["missing"], u["log10_lr"]) for u in view.get("undisputed", [])],
            "error": view.get("error")}


def write_family(path: Path, report: DemoReport, profiles: dict[str, dict]) -> Path:
    """A families file of ``report``'s family: its references (``<code>-<person>`` samples,
    by :data:`RELATION_PERSON`) and two missing children, ``M`` and its sibling ``S1``, with
    their dates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    typed = {RELATION_PERSON[rel] for rel in report.relations}
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("family_id", "person_id", "father_id", "mother_id", "sex", "role", "sample_id", "birth_date",
                    "missing_date"))
        for person, father, mother, _ in PEDIGREE:
            if person in ("M", "S1"):
                role, sample, born, gone = "missing", "", report.birth.isoformat(), report.missing.isoformat()
            else:
                role = "reference" if person in typed else "untyped"
                sample, born, gone = (f"{report.code}-{person}" if person in typed else ""), "", ""
            w.writerow((report.code, person, father or "", mother or "", profiles[person]["_sex"], role, sample,
                        born, gone))
    return path


def _report_candidates(engine) -> list[dict]:
    from reunite.store.models import Family, MatchCandidate, Unidentified
    from reunite.store.models_workflow import MissingReport

    with Session(engine) as s:
        rows = s.execute(
            select(MatchCandidate.id, MatchCandidate.status, Unidentified.code, MissingReport.code,
                   MatchCandidate.log10_lr)
            .join(Unidentified, Unidentified.id == MatchCandidate.unidentified_id)
            .join(Family, Family.id == MatchCandidate.family_id)
            .join(MissingReport, MissingReport.family_id == Family.id)
            .where(MatchCandidate.log10_lr >= 4).order_by(MatchCandidate.log10_lr.desc())).all()
    return [{"id": i, "status": st, "child": u, "report": r, "log10_lr": lr} for i, st, u, r, lr in rows]


# ----------------------------------------------------------------------------------------
# printing


def print_workflow(console, result: WorkflowResult, *, database_url: str, reunite: str = "reunite") -> None:
    """The demo's accounts (passwords shown this once), what was made, and how to serve it."""
    from rich.markup import escape
    from rich.table import Table

    console.print("\n[bold]Case workflow demo[/bold] (development mode; every name, story and profile is "
                  "simulated):", highlight=False)
    console.print(f"  {len(result.reports)} missing-child reports (Butuo and Zhaojue, Liangshan, Sichuan) with "
                  f"their references' consent; rescue operation {result.operation} in Lanling, Linyi (Shandong) "
                  f"with {NUM_INFANTS} infants; 2 begging children and 1 child of unclear origin; "
                  f"registration checks {', '.join(f'{c} ({s})' for c, s in result.checks.items())}",
                  highlight=False, markup=False)
    table = Table(title="candidates of the demo's reports (log10 LR >= 4)")
    for col in ("id", "status", "child", "report", "log10 LR"):
        table.add_column(col, overflow="fold")
    for c in result.candidates:
        table.add_row(str(c["id"]), c["status"], escape(c["child"]), escape(c["report"]), f"{c['log10_lr']:.1f}")
    console.print(table)
    console.print(f"  candidate {result.confirmed_candidate} ({CONFIRMED_CHILD}) was assigned, reviewed, confirmed "
                  f"with a second sample of the child by a second reviewer, and the child went home (outcome "
                  f"{result.outcome_id}, follow-up visits at 30, 90 and 365 days)", highlight=False, markup=False)
    print_identification(console, result)
    console.print("Demo accounts (passwords are random and shown this once; development mode only):",
                  highlight=False)
    width = max(len(a.username) for a in result.accounts)
    for a in result.accounts:
        console.print(f"  {a.username:<{width}}  {a.password}  {', '.join(a.roles)} in {a.jurisdiction}: {a.what}",
                      markup=False, highlight=False, soft_wrap=True)
    console.print("Start the web app and the API (from this folder; `make demo` starts it for you):",
                  highlight=False)
    console.print(f"    REUNITE_DATABASE_URL={database_url} {reunite} serve", markup=False, highlight=False,
                  soft_wrap=True)
    console.print("  web pages: http://127.0.0.1:8000/ (log in as a demo account); API docs: "
                  "http://127.0.0.1:8000/api/v1/docs", highlight=False, markup=False)
    user = next(a for a in result.accounts if a.username == "inv_butuo")
    console.print("  a token, then the inbox of inv_butuo:", highlight=False)
    console.print(f"    curl -s -X POST http://127.0.0.1:8000/api/v1/auth/token -H 'Content-Type: application/json' "
                  f"-d '{{\"username\": \"{user.username}\", \"password\": \"{user.password}\"}}'",
                  markup=False, highlight=False, soft_wrap=True)
    console.print("    curl -s http://127.0.0.1:8000/api/v1/notifications -H 'Authorization: Bearer TOKEN'",
                  markup=False, highlight=False, soft_wrap=True)
    console.print(f"  the CLI acts as a demo user with --as, e.g. REUNITE_DATABASE_URL={database_url} {reunite} "
                  "candidates --as reviewer1", markup=False, highlight=False, soft_wrap=True)


def print_identification(console, result: WorkflowResult) -> None:
    """The joint identification of the demo's rescue operation, in a few lines."""
    summary = result.identification
    if not summary:
        return
    console.print(f"\n[bold]Joint identification[/bold] of rescue operation {result.operation}: "
                  f"{summary['children']} children not yet identified against {summary['families']} families "
                  f"({summary['missing']} missing persons; {summary['num_assignments'] or 0:,} joint assignments "
                  "searched, pairings with a pairwise LR below 1 left out)", highlight=False)
    if summary["error"]:
        console.print(f"  joint search not run: {summary['error']}", highlight=False, markup=False)
        return
    best = summary["best"]
    if best:
        strong = [(c, f, m, p) for c, f, m, p in best["pairs"] if p is not None and p >= 0.99]
        weak = [c for c, f, m, p in best["pairs"] if p is None or p < 0.99]
        pairs = ", ".join(f"{child} -> {family}/{missing} (P {p:.3f})" for child, family, missing, p in strong)
        console.print(f"  best joint assignment: log10 LR {best['log10_lr']:.1f} against no child identified, "
                      f"posterior {best['posterior']:.4f}; it places {pairs or 'no child with probability 0.99'}"
                      + (f", and {len(weak)} more children ({', '.join(weak)}) by weak pairwise LRs (each below 0.99 "
                         "probability summed over the assignments: not an identification)" if weak else ""),
                      highlight=False, markup=False)
    if summary["undisputed"]:
        console.print("  undisputed identifications (LR >= 10,000 and 10,000 times every rival): " + ", ".join(
            f"{child} -> {family}/{missing} (log10 LR {lr:.1f})" for child, family, missing, lr in summary["undisputed"]),
            highlight=False, markup=False)
    console.print(f"  the web page: /operations/{result.operation}/identification (e.g. as reviewer1)", highlight=False,
                  markup=False)
