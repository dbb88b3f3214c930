import pytest

from reunite.errors import PedigreeError
from reunite.genetics import pedigree as ped
from reunite.genetics.pedigree import make_pedigree


def test_named_parent_not_listed_and_missing_second_parent_become_founders():
    p = make_pedigree([{"id": "CH", "father": "AF"}])
    assert set(p.founders) == {"AF", p["CH"].mother}
    assert p["AF"].sex == "M" and p[p["CH"].mother].sex == "F"
    assert p.ids.index("CH") > p.ids.index("AF")


@pytest.mark.parametrize("people,message", [
    ([{"id": "A"}, {"id": "A"}], "listed twice"),
    ([{"id": "A", "sex": "F"}, {"id": "B", "father": "A", "mother": "C"}], "must be M"),
    ([{"id": "A", "father": "A"}], "own father"),
    ([{"id": "A", "father": "B", "mother": "M"}, {"id": "B", "father": "A", "mother": "M", "sex": "M"}],
     "own ancestor"),
    ([{"id": "A", "sex": "X"}], "sex must be"),
    ([{"sex": "M"}], "no 'id'"),
    ([{"id": "A", "father": "P", "mother": "M", "inbreeding": 0.1}], "not a founder"),
    ([{"id": "P", "sex": "M"}, {"id": "A", "father": "P", "mother": "P"}], "mother of"),
])
def test_invalid_pedigrees_are_explained(people, message):
    with pytest.raises(PedigreeError, match=message):
        make_pedigree(people)


def test_cycle_is_reported_with_its_path():
    with pytest.raises(PedigreeError, match="->"):
        make_pedigree([{"id": "A", "father": "B", "mother": "X"},
                       {"id": "B", "father": "C", "mother": "Y", "sex": "M"},
                       {"id": "C", "father": "A", "mother": "Z", "sex": "M"}])


@pytest.mark.parametrize("name", sorted(ped.RELATIONSHIPS))
def test_relationship_helpers_build_valid_pedigrees(name):
    p = ped.RELATIONSHIPS[name]()
    assert len(p) >= 2
    assert all(q.father is None or p.index[q.father] < p.index[q.id] for q in p.individuals)


def test_structure_key_ignores_ids():
    assert ped.trio("X", "Y", "Z").structure_key() == ped.trio().structure_key()
