"""The ``[DVI]`` section of a Familias file, read into a :class:`~reunite.genetics.dvi.DviProblem`
as dvir's ``familias2dvir(file, missingPrefix = "M")`` reads it (pedFamilias 0.2.5, dvir 3.4.2;
see tests/data/familias/REFERENCE.md).

The section is a tree of bracketed headings (``[[Unidentified persons]]``, ``[[[Family 1 ]]]``
...) holding ``Key= value`` lines.  The rules:

* every unidentified person is a victim, keeping its name; ``Gender= Male`` is male, anything
  else female (pedFamilias);
* of a family's pedigrees, the one not named ``Reference pedigree`` is kept (the reference copy
  is dropped); persons named only in relations (``Missing person``) are added with unknown sex;
  a parent of unknown sex gets the sex opposite to the other parent; other unknown sexes end
  up female; a child with one parent gets the other as ``added_1``... (fathers first);
* only the connected part of the pedigree that holds the typed references is kept;
* when a typed reference's name occurs in two families, every person whose name is a typed
  reference's gets the family's name as prefix (``F1_Father``);
* persons whose name starts with ``Missing`` are the missing persons, renamed ``M1..Mn`` in
  family order, then pedigree order;
* only loci typed somewhere are kept, in the order the first family lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from reunite.errors import PedigreeError
from reunite.genetics.dvi import DviProblem, ReferenceFamily, Victim
from reunite.genetics.kinship import Marker
from reunite.genetics.pedigree import Individual, make_pedigree

MISSING_PREFIX = "Missing"
REFERENCE_PEDIGREE = "Reference pedigree"


@dataclass
class _Node:
    name: str
    level: int
    line: int
    entries: list[tuple[str, str | None, int]] = field(default_factory=list)
    children: list["_Node"] = field(default_factory=list)

    def child(self, name: str) -> "_Node | None":
        for c in self.children:
            if c.name == name:
                return c
        return None

    def value(self, key: str) -> str | None:
        for k, v, _ in self.entries:
            if k == key:
                return v
        return None


@dataclass
class _DviPerson:
    id: str
    sex: int  # 1 male, 2 female, 0 unknown
    line: int
    genotypes: list[tuple[str, str, str, int]]  # (locus, allele1, allele2, line)


def _tree(lines, start: int) -> _Node:
    root = _Node("DVI", 1, start)
    stack = [root]
    for i in range(start + 1, len(lines.raw)):
        text = lines.raw[i]
        if text.strip() == "":
            continue
        level = len(text) - len(text.lstrip("["))
        if level == 1:
            break  # the next top-level section ([Prior], [Advanced])
        if level > 0:
            if level > len(stack) + 1 or level < 2:
                raise lines.error(i, f"heading {text!r} skips a level of the [DVI] section")
            name = text.replace("[", "").replace("]", "").strip()
            node = _Node(name, level, i)
            del stack[level - 1:]
            stack[-1].children.append(node)
            stack.append(node)
            continue
        key, sep, value = text.partition("= ")
        if not sep:
            key, sep, value = text.partition("=")
        stack[-1].entries.append((key.strip(), value if sep else None, i))
    return root


def _count(lines, node: _Node, key: str, what: str) -> int:
    for k, v, i in node.entries:
        if k == key:
            if v is None or not re.fullmatch(r"[ \t]*[0-9]+[ \t]*", v):
                raise lines.error(i, f"expected the number of {what} ({key}= N), found {v!r}")
            return int(v)
    raise lines.error(node.line, f"[{node.name}] has no '{key}=' line")


def _persons(lines, node: _Node, kind: str, warnings: list[str]) -> list[_DviPerson]:
    count = _count(lines, node, "nPersons", kind)
    persons = [c for c in node.children]
    if len(persons) != count:
        raise lines.error(node.line, f"[{node.name}] announces {count} persons but lists "
                          f"{len(persons)}; the file is truncated or edited")
    out: list[_DviPerson] = []
    for c in persons:
        if not c.name.startswith("Person"):
            raise lines.error(c.line, f"unknown heading [{c.name}] among the {kind}")
        name = c.value("Name")
        if not name:
            raise lines.error(c.line, f"{kind} [{c.name}] has no 'Name='")
        gender = c.value("Gender")
        sex = {"Male": 1, "Female": 2}.get(gender or "", 0)
        for k, _, i in c.entries:
            if k not in ("Name", "Gender"):
                warnings.append(f"{lines.path}, line {i + 1}: {kind} {name!r}: the field {k!r} is "
                                "not read")
        dna = c.child("DNA data")
        genotypes: list[tuple[str, str, str, int]] = []
        if dna is not None:
            n_sys = _count(lines, dna, "nSystems", "markers")
            rest = [e for e in dna.entries if e[0] != "nSystems"]
            if len(rest) != 3 * n_sys:
                raise lines.error(dna.line, f"{kind} {name!r}: 'nSystems= {n_sys}' but "
                                  f"{len(rest)} lines follow (3 per marker expected)")
            for j in range(n_sys):
                (k1, locus, i1), (k2, a1, i2), (k3, a2, i3) = rest[3 * j: 3 * j + 3]
                if (k1, k2, k3) != ("SystemName", "Allele1", "Allele2") or None in (locus, a1, a2):
                    raise lines.error(i1, f"{kind} {name!r}: expected SystemName=, Allele1=, "
                                      "Allele2= lines")
                genotypes.append((locus.strip(), a1.strip(), a2.strip(), i1))
        extra = [x for x in c.children if x.name != "DNA data"]
        if extra:
            raise lines.error(extra[0].line, f"unknown heading [{extra[0].name}] in {kind} {name!r}")
        out.append(_DviPerson(name, sex, c.line, genotypes))
    ids = [p.id for p in out]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup is not None:
        raise lines.error(node.line, f"two {kind} are named {dup!r}; names must be unique")
    return out


def _pedigree_nodes(lines, node: _Node, family: str) -> list[tuple[str, list, _Node]]:
    count = _count(lines, node, "nPedigrees", "pedigrees")
    if len(node.children) != count:
        raise lines.error(node.line, f"family {family!r} announces {count} pedigrees but lists "
                          f"{len(node.children)}")
    out = []
    for c in node.children:
        name = c.value("Name")
        if name is None:
            raise lines.error(c.line, f"family {family!r}: pedigree [{c.name}] has no 'Name='")
        n_rel = _count(lines, c, "nRelations", "relations")
        rel = [e for e in c.entries if e[0] not in ("Name", "nRelations")]
        if len(rel) != 2 * n_rel:
            raise lines.error(c.line, f"family {family!r}, pedigree {name!r}: 'nRelations= {n_rel}' "
                              f"but {len(rel)} Parent=/Child= lines")
        pairs = []
        for j in range(n_rel):
            (k1, parent, i1), (k2, child, _) = rel[2 * j: 2 * j + 2]
            if (k1, k2) != ("Parent", "Child") or not parent or not child:
                raise lines.error(i1, f"family {family!r}, pedigree {name!r}: expected a "
                                  "'Parent=' line then a 'Child=' line")
            if parent == child:
                raise lines.error(i1, f"family {family!r}: {parent!r} is given as their own parent")
            pairs.append((parent, child, i1))
        out.append((name, pairs, c))
    return out


def _choose_pedigree(lines, family: str, node: _Node, peds: list):
    """pedFamilias's deduplication, then dvir's choice of the pedigree that is not the
    ``Reference pedigree``."""
    if len(peds) == 2 and [e[:2] for e in peds[0][2].entries[1:]] == [e[:2] for e in peds[1][2].entries[1:]]:
        kept = [p for p in peds if p[0] != REFERENCE_PEDIGREE]
        if len(kept) == 1:
            return kept[0]
    if len(peds) == 1:
        return peds[0]
    if len(peds) == 2 and sum(p[0] == REFERENCE_PEDIGREE for p in peds) == 1:
        return next(p for p in peds if p[0] != REFERENCE_PEDIGREE)
    names = ", ".join(repr(p[0]) for p in peds)
    raise lines.error(node.line, f"family {family!r} has {len(peds)} pedigrees ({names}); dvir reads "
                      f"one pedigree besides the {REFERENCE_PEDIGREE!r}",
                      "keep one pedigree per family in Familias")


def _family_pedigree(lines, family: str, persons: list[_DviPerson], pairs: list):
    """ids, sexes (1/2), father and mother (ids) of the chosen pedigree, before added parents."""
    ids = [p.id for p in persons]
    sex = {p.id: p.sex for p in persons}
    extras = []
    for name in [p for p, _, _ in pairs] + [c for _, c, _ in pairs]:
        if name not in sex and name not in extras:
            extras.append(name)
    for name in extras:
        sex[name] = 0
    ids = ids + extras
    undecided = []
    for parent, _, _ in pairs:
        if sex[parent] == 0 and parent not in undecided:
            undecided.append(parent)
    for p in undecided:
        children = {c for q, c, _ in pairs if q == p}
        spouses = {q for q, c, _ in pairs if c in children and q != p}
        if all(sex[s] == 1 for s in spouses):
            sex[p] = 2
        elif all(sex[s] == 2 for s in spouses):
            sex[p] = 1
        else:
            line = next(i for q, _, i in pairs if q == p)
            raise lines.error(line, f"family {family!r}: cannot decide the sex of the parent {p!r} "
                              "(the other parents of its children are of both or unknown sex)",
                              "give that person a sex in Familias")
    father: dict[str, str] = {}
    mother: dict[str, str] = {}
    for parent, child, _ in pairs:
        (father if sex[parent] == 1 else mother)[child] = parent
    return ids, {i: ("M" if sex[i] == 1 else "F") for i in ids}, father, mother


def _added_parents(ids, sexes, father, mother):
    need_f = [i for i in ids if i not in father and i in mother]
    need_m = [i for i in ids if i in father and i not in mother]
    people = {i: [father.get(i), mother.get(i), sexes[i]] for i in ids}
    new = []
    for k, i in enumerate(need_f):
        name = f"added_{k + 1}"
        people[i][0] = name
        new.append((name, "M"))
    for k, i in enumerate(need_m):
        name = f"added_{len(need_f) + k + 1}"
        people[i][1] = name
        new.append((name, "F"))
    for name, s in new:
        if name in people:
            raise PedigreeError(f"a person is named {name!r}, the name given to an added parent")
        people[name] = [None, None, s]
    return list(ids) + [n for n, _ in new], people


def _component_of(order, people, typed):
    links: dict[str, set[str]] = {i: set() for i in order}
    for i in order:
        for p in people[i][:2]:
            if p is not None:
                links[i].add(p)
                links[p].add(i)
    comps = []
    seen: set[str] = set()
    for i in order:
        if i in seen:
            continue
        stack, members = [i], set()
        while stack:
            j = stack.pop()
            if j not in members:
                members.add(j)
                stack.extend(links[j] - members)
        seen |= members
        comps.append([j for j in order if j in members])
    return [c for c in comps if any(t in c for t in typed)]


def read_dvi_section(lines, start: int, database, alleles_of: dict[str, list[str]], *,
                     warnings: list[str]):
    """Returns ``(DviProblem, label_map, markers_pm)``; see the module docstring."""
    root = _tree(lines, start)
    for c in root.children:
        if c.name not in ("Unidentified persons", "Notes", "Reference Families"):
            raise lines.error(c.line, f"unknown heading [[{c.name}]] in the [DVI] section")
    for k, _, i in root.entries:
        raise lines.error(i, f"unexpected line {lines.raw[i]!r} directly under [DVI]")
    un = root.child("Unidentified persons")
    victims_raw = _persons(lines, un, "unidentified persons", warnings) if un else []
    if not victims_raw:
        raise lines.error(un.line if un else start, "the [DVI] section has no unidentified persons",
                          "add them in Familias's DVI module (dvir refuses such a file too)")
    refs = root.child("Reference Families")
    if refs is None:
        raise lines.error(start, "the [DVI] section has no [[Reference Families]]",
                          "add the reference families in Familias's DVI module")
    n_fam = _count(lines, refs, "nFamilies", "families")
    if n_fam != len(refs.children):
        raise lines.error(refs.line, f"[[Reference Families]] announces {n_fam} families but lists "
                          f"{len(refs.children)}; the file is truncated or edited")

    def check_genotypes(who: str, p: _DviPerson) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for locus, a1, a2, i in p.genotypes:
            if locus not in alleles_of:
                raise lines.error(i, f"{who} {p.id!r}: marker {locus!r} is not in the frequency "
                                  "database", "add it to the database in Familias")
            labels = ["z" if a == "0" else a for a in (a1, a2)]
            for a in labels:
                if a not in alleles_of[locus]:
                    raise lines.error(i, f"{who} {p.id!r}, marker {locus!r}: allele {a!r} is not "
                                      "in the frequency database",
                                      "add the allele to the database in Familias")
            if locus in out:
                raise lines.error(i, f"{who} {p.id!r}: marker {locus!r} is typed twice")
            out[locus] = (labels[0], labels[1])
        return out

    victims: list[Victim] = []
    pm_order: list[str] = []
    for p in victims_raw:
        g = check_genotypes("unidentified person", p)
        if p.sex == 0:
            warnings.append(f"{lines.path}, line {p.line + 1}: unidentified person {p.id!r} has no "
                            "sex given; read as female, as pedFamilias does")
        victims.append(Victim(p.id, "M" if p.sex == 1 else "F", g))
        pm_order += [m for m in g if m not in pm_order]

    families = []  # (name, order, people, typed, genotypes)
    am_order: list[str] = []
    for fnode in refs.children:
        fname = fnode.value("Name")
        if not fname:
            raise lines.error(fnode.line, f"[{fnode.name}] has no 'Name='")
        pnode, dnode = fnode.child("Persons"), fnode.child("Pedigrees")
        if pnode is None or dnode is None:
            raise lines.error(fnode.line, f"family {fname!r} lacks its [Persons] or [Pedigrees]")
        persons = _persons(lines, pnode, f"persons of family {fname!r}", warnings)
        peds = _pedigree_nodes(lines, dnode, fname)
        pname, pairs, pednode = _choose_pedigree(lines, fname, dnode, peds)
        ids, sexes, father, mother = _family_pedigree(lines, fname, persons, pairs)
        try:
            order, people = _added_parents(ids, sexes, father, mother)
        except PedigreeError as exc:
            raise lines.error(pednode.line, f"family {fname!r}: {exc}") from None
        genotypes = {p.id: check_genotypes(f"family {fname!r}, person", p) for p in persons}
        genotypes = {k: v for k, v in genotypes.items() if v}
        for g in genotypes.values():
            am_order += [m for m in g if m not in am_order]
        typed = [i for i in order if i in genotypes]
        comps = _component_of(order, people, typed)
        if not comps:
            raise lines.error(fnode.line, f"family {fname!r} has no typed reference in its pedigree "
                              f"{pname!r}", "type a relative, or leave the family out")
        if len(comps) > 1:
            raise lines.error(pednode.line, f"family {fname!r}: the typed references are in "
                              f"{len(comps)} unconnected parts of pedigree {pname!r} "
                              f"({'; '.join(', '.join(c) for c in comps)})",
                              "connect them in Familias, or split the family")
        keep = comps[0]
        dropped = [i for i in order if i not in keep]
        if dropped:
            warnings.append(f"{lines.path}: family {fname!r}: left out, not connected to the typed "
                            f"references (as dvir does): {', '.join(dropped)}")
        families.append((fname, keep, people, [i for i in keep if i in genotypes], genotypes))

    # typed names shared by two families get the family's name as prefix (dvir)
    all_typed = [t for f in families for t in f[3]]
    if len(set(all_typed)) != len(all_typed):
        dup = next(t for t in all_typed if all_typed.count(t) > 1)
        warnings.append(f"{lines.path}: the reference name {dup!r} occurs in two families; every "
                        "typed reference's name gets its family's name as prefix (as dvir does)")
        typed_set = set(all_typed)
        families = [_rename(f, {i: f"{f[0]}_{i}" for i in f[1] if i in typed_set}, lines.path)
                    for f in families]

    label_map: list[tuple[str, str, str]] = []
    renamed = []
    for f in families:
        rename = {}
        for i in f[1]:
            if i.startswith(MISSING_PREFIX):
                label = f"M{len(label_map) + 1}"
                label_map.append((f[0], i, label))
                rename[i] = label
        renamed.append(_rename(f, rename, lines.path))

    out_families = []
    for fname, keep, people, typed, genotypes in renamed:
        missing = tuple(lab for fam, _, lab in label_map if fam == fname)
        if not missing:
            warnings.append(f"{lines.path}: family {fname!r} has no missing person (no name "
                            f"starting with {MISSING_PREFIX!r})")
        try:
            ped = make_pedigree([Individual(i, *people[i]) for i in keep],
                                where=f"{lines.path}, family {fname!r}")
        except PedigreeError as exc:
            raise PedigreeError(str(exc) + "; correct the pedigree in Familias") from None
        out_families.append(ReferenceFamily(fname, ped, missing,
                                            {i: genotypes[i] for i in typed}))
    if not label_map:
        raise lines.error(refs.line, f"no reference family has a missing person (a person named "
                          f"'{MISSING_PREFIX}...')", "name the missing persons 'Missing ...' in Familias")
    names = [f.name for f in out_families]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise lines.error(refs.line, f"two reference families are named {dup!r}")

    kept = am_order + [m for m in pm_order if m not in am_order]
    by_name = {m.name: m for m in database.markers}
    markers = [Marker(m, dict(by_name[m].afreq), {}, by_name[m].mutation, None, by_name[m].source)
               for m in kept]
    missing_sex = {lab: f.pedigree[lab].sex for f in out_families for lab in f.missing}
    pairings = {v.id: [None] + [m for m, s in missing_sex.items() if s == v.sex] for v in victims}
    problem = DviProblem(victims, out_families, markers, pairings=pairings,
                         name=Path(lines.path).stem)
    return problem, label_map, pm_order


def _rename(family, rename: dict[str, str], path: str):
    if not rename:
        return family
    fname, keep, people, typed, genotypes = family
    new_ids = [rename.get(i, i) for i in keep]
    clash = {n for n in new_ids if new_ids.count(n) > 1}
    if clash:
        raise PedigreeError(f"{path}: family {fname!r}: renaming gives two persons the name "
                            f"{sorted(clash)[0]!r}; rename them in Familias")

    def r(x):
        return None if x is None else rename.get(x, x)

    new_people = {rename.get(i, i): [r(people[i][0]), r(people[i][1]), people[i][2]] for i in keep}
    return (fname, new_ids, new_people, [rename.get(i, i) for i in typed],
            {rename.get(i, i): g for i, g in genotypes.items()})
