"""Pedigree charts: well-formed SVG, every person drawn once, shaded iff typed, the missing
person marked, no two symbols overlapping, on the store's family types and random pedigrees."""

import random
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reunite.errors import PedigreeError
from reunite.reports.pedigree import SHADE, Person, pedigree_svg
from reunite.simulate import FAMILY_TYPES

NS = {"s": "http://www.w3.org/2000/svg"}


def symbols(svg: str):
    """(person id, attributes, outer box (x0, y0, x1, y1), fills) of every person drawn."""
    root = ET.fromstring(svg)
    out = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if "data-person" not in g.attrib:
            continue
        boxes, fills = [], []
        for el in g:
            tag = el.tag.split("}")[1]
            if tag == "rect":
                x, y, w, h = (float(el.get(k)) for k in ("x", "y", "width", "height"))
                boxes.append((x, y, x + w, y + h))
            elif tag == "circle":
                cx, cy, r = (float(el.get(k)) for k in ("cx", "cy", "r"))
                boxes.append((cx - r, cy - r, cx + r, cy + r))
            elif tag == "polygon":
                pts = [tuple(map(float, p.split(","))) for p in el.get("points").split()]
                boxes.append((min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts),
                              max(p[1] for p in pts)))
            else:
                continue
            fills.append(el.get("fill"))
        box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
               max(b[3] for b in boxes))
        out.append((g.get("data-person"), g.attrib, box, fills, len(boxes)))
    return root, out


def check(people: list[Person], svg: str) -> None:
    assert "style=" not in svg
    root, drawn = symbols(svg)
    assert root.get("role") == "img"
    assert root.find("s:title", NS).text and root.find("s:desc", NS).text
    ids = [d[0] for d in drawn]
    assert sorted(ids) == sorted(p.id for p in people), "every person drawn once"
    by_id = {p.id: p for p in people}
    for pid, attrib, box, fills, num_shapes in drawn:
        p = by_id[pid]
        assert (fills[-1] == SHADE) == p.typed, f"{pid}: shaded iff typed"
        assert num_shapes == (2 if p.missing else 1), f"{pid}: a double outline iff missing"
        shape = {"M": "rect", "F": "circle"}.get(p.sex, "polygon")
        assert attrib["data-sex"] == (p.sex if p.sex in "MF" else "U") and shape
    for i, (a, _, ba, _, _) in enumerate(drawn):
        for b, _, bb, _, _ in drawn[i + 1:]:
            overlap = ba[0] < bb[2] and bb[0] < ba[2] and ba[1] < bb[3] and bb[1] < ba[3]
            assert not overlap, f"{a} {ba} and {b} {bb} overlap"
    width, height = float(root.get("width")), float(root.get("height"))
    for pid, _, box, _, _ in drawn:
        assert 0 <= box[0] and box[2] <= width and 0 <= box[1] and box[3] <= height, pid


@pytest.mark.parametrize("name,people", [(t[0], t[2]) for t in FAMILY_TYPES])
def test_every_family_type_of_the_store(name, people):
    persons = [Person(pid, father, mother, sex if sex != "?" else "U", typed=role == "reference",
                      missing=role == "missing") for pid, father, mother, sex, role in people]
    persons.append(Person("CHILD", typed=True, label="child"))  # H2: the child apart, unrelated
    svg = pedigree_svg(persons, title=name, description=f"the {name} pedigree")
    check(persons, svg)
    assert f"the {name} pedigree" in svg
    _, drawn = symbols(svg)
    cy = {pid: float(attrib["data-cy"]) for pid, attrib, *_ in drawn}
    for p in persons:
        for parent in (p.father, p.mother):
            if parent:
                assert cy[parent] < cy[p.id], f"{p.id} below its parent {parent}"
    assert cy["FA"] == cy["MO"], "partners on one row"


def test_half_sibs_uncles_three_generations_and_a_parent_missing_from_the_data():
    people = [Person("GF", sex="M", typed=True), Person("GM", sex="F"), Person("FA", "GF", "GM", "M"),
              Person("UN", "GF", "GM", "M", typed=True), Person("M1", sex="F", typed=True), Person("M2", sex="F"),
              Person("A", "FA", "M1", "F", typed=True), Person("B", "FA", "M2", "U", missing=True, typed=True),
              Person("C", "UN", "NOT-IN-DATA", "M"), Person("D", "A", None, "M"),
              Person("<&>\"", sex="U", label="名字 & <b>", note="样本 S-1")]
    svg = pedigree_svg(people, title="T <x>")
    check(people, svg)
    assert "名字 &amp; &lt;b&gt;" in svg and "<b>" not in svg


def test_a_cycle_in_bad_data_is_drawn_and_a_duplicate_refused():
    check([Person("A", "B", None, "M"), Person("B", "A", None, "M")],
          pedigree_svg([Person("A", "B", None, "M"), Person("B", "A", None, "M")], title="cycle"))
    with pytest.raises(PedigreeError, match="listed twice"):
        pedigree_svg([Person("A"), Person("A")], title="x")
    assert pedigree_svg([], title="empty").startswith("<svg")


def random_pedigree(rng: random.Random, size: int) -> list[Person]:
    people: list[Person] = []
    for k in range(size):
        males = [p.id for p in people if p.sex == "M"]
        females = [p.id for p in people if p.sex == "F"]
        sex = rng.choice("MFU")
        father = rng.choice(males) if males and rng.random() < 0.7 else None
        mother = rng.choice(females) if females and rng.random() < 0.7 else None
        if rng.random() < 0.1:
            mother = "ABSENT"  # a parent missing from the data
        people.append(Person(f"P{k}", father, mother, sex, typed=rng.random() < 0.5,
                             label=f"P{k}" + ("·很长的标签" if rng.random() < 0.2 else ""),
                             note=f"S-{k:04d}" if rng.random() < 0.5 else None))
    m = rng.randrange(size)
    people[m] = Person(people[m].id, people[m].father, people[m].mother, people[m].sex, typed=True, missing=True)
    rng.shuffle(people)
    return people


@pytest.mark.parametrize("seed", range(40))
def test_random_pedigrees_seeded(seed):
    rng = random.Random(seed)
    people = random_pedigree(rng, rng.randint(1, 18))
    check(people, pedigree_svg(people, title=f"random {seed}"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 25))
def test_random_pedigrees_hypothesis(seed, size):
    people = random_pedigree(random.Random(seed), size)
    check(people, pedigree_svg(people, title="random"))


def test_labels_are_translated_legend():
    from reunite import i18n

    people = [Person("FA", sex="M", typed=True), Person("MO", sex="F"), Person("M", "FA", "MO", missing=True)]
    with i18n.use_language("zh_CN"):
        svg = pedigree_svg(people, title="家系")
    assert re.search("男|女", svg) and "失踪" in svg
