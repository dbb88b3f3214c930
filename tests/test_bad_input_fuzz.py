"""Bad input never crashes: random files and cases give a ReuniteError (file/case named) or work."""

import json

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reunite.errors import ReuniteError
from reunite.genetics.caseio import parse_case
from reunite.genetics.kinship import kinship_lr_many
from reunite.store.importers import read_genotypes
from reunite.store.profiles import GeneticModel

MODEL = GeneticModel("CHN_national_GBT37223")
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

cell = st.one_of(st.sampled_from(["", "15", "9.3", "VWA", "vWA", "Penta D", "x", "1e3", "-1", "inf",
                                  "nan", "12/13", "S1", "D3S1358", " 16 ", "99.99", "0"]),
                 st.text(max_size=6))
headers = st.sampled_from([
    "sample_id,locus,allele1,allele2", "sample_id,VWA,D3S1358,TH01",
    "Sample Name\tMarker\tAllele 1\tAllele 2", "foo,bar", ""])


@FUZZ
@given(header=headers, rows=st.lists(st.lists(cell, min_size=0, max_size=5), max_size=6))
def test_random_genotype_files_never_crash(tmp_path_factory, header, rows):
    sep = "\t" if "\t" in header else ","
    text = header + "\n" + "\n".join(sep.join(r) for r in rows) + "\n"
    path = tmp_path_factory.mktemp("fuzz") / "g.csv"
    path.write_text(text, encoding="utf-8")
    try:
        profiles, _ = read_genotypes(path, model=MODEL)
    except ReuniteError as exc:
        assert str(path) in str(exc)
    else:
        for prof in profiles.values():
            for a, b in prof.values():
                assert float(a) <= float(b)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
              st.sampled_from(["AF", "CH", "MO", "M", "F", "a/b", "1/2", "equal", "stepwise", "unrelated"])),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(
                                   ["id", "father", "mother", "sex", "name", "afreq", "genotypes",
                                    "mutation", "model", "rate", "H1", "H2", "theta", "markers", "1", "2"]),
                                   children, max_size=4)),
    max_leaves=12)


@FUZZ
@given(raw=json_values)
def test_random_cases_never_crash(raw):
    case = {"id": "fuzz", "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
            "markers": [{"name": "M1", "afreq": {"1": 0.5, "2": 0.5}, "genotypes": {"AF": "1/2"}}]}
    for key in ("H1", "H2", "theta", "markers"):
        variant = dict(case)
        variant[key] = raw
        try:
            parsed = parse_case(json.loads(json.dumps(variant, allow_nan=True)), number=1)
            results = kinship_lr_many([(parsed.id, parsed.h1, parsed.h2, parsed.markers, parsed.theta)],
                                      keep_going=True)
        except ReuniteError as exc:
            assert "fuzz" in str(exc) or "H1" in str(exc) or "pedigree" in str(exc)
        else:
            assert len(results) == 1
            if isinstance(results[0], ReuniteError):
                assert "fuzz" in str(results[0])


@FUZZ
@given(afreq=json_values, genotypes=json_values, mutation=json_values,
       field=st.sampled_from(["afreq", "genotypes", "mutation"]))
def test_random_markers_never_crash(afreq, genotypes, mutation, field):
    marker = {"name": "M1", "afreq": {"1": 0.5, "2": 0.5}, "genotypes": {"AF": "1/2", "CH": "1/1"}}
    marker[field] = {"afreq": afreq, "genotypes": genotypes, "mutation": mutation}[field]
    case = {"id": "fuzz", "H1": [{"id": "AF", "sex": "M"}, {"id": "CH", "father": "AF"}],
            "markers": [marker]}
    try:
        parsed = parse_case(json.loads(json.dumps(case, allow_nan=True)), number=1)
        kinship_lr_many([(parsed.id, parsed.h1, parsed.h2, parsed.markers, parsed.theta)])
    except ReuniteError as exc:
        assert "fuzz" in str(exc)


@pytest.fixture(scope="module")
def store_engine(tmp_path_factory):
    from sqlalchemy.orm import Session

    from reunite.store.db import make_engine, upgrade
    from reunite.store.models import Sample

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzzdb') / 'f.db'}")
    upgrade(engine)
    with Session(engine) as s, s.begin():
        for code in ("S1", "S2", "S3"):
            s.add(Sample(code=code, profile="VWA=14/17", num_loci=1))
    return engine


person_cell = st.sampled_from(["", "F1", "F2", "A", "B", "C", "M", "F", "U", "X", "reference", "missing",
                               "untyped", "S1", "S2", "S3", "S9", "2015-01-01", "2015-13-40",
                               "rescued_child", "orphan", "Kunming"])


@FUZZ
@given(kind=st.sampled_from(["families", "unidentified"]),
       rows=st.lists(st.lists(person_cell, min_size=0, max_size=8), max_size=6))
def test_random_family_and_unidentified_files_never_crash(store_engine, tmp_path_factory, kind, rows):
    from sqlalchemy.orm import Session

    from reunite.store.importers import import_families, import_unidentified

    header = ("family_id,person_id,father_id,mother_id,sex,role,sample_id" if kind == "families"
              else "person_id,sample_id,sex,category,estimated_birth_date,found_date,found_place")
    path = tmp_path_factory.mktemp("fuzz") / f"{kind}.csv"
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    with Session(store_engine) as s:
        s.begin()
        try:
            if kind == "families":
                import_families(s, path, model=MODEL)
            else:
                import_unidentified(s, path)
        except ReuniteError as exc:
            assert str(path) in str(exc)
        finally:
            s.rollback()
