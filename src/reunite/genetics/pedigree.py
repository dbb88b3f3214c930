"""Pedigrees: individuals with father, mother and sex, validated, plus common relationships."""

from __future__ import annotations

from dataclasses import dataclass, field

from reunite.errors import PedigreeError

SEX_CODES = {"M": "M", "F": "F", "U": "U", 1: "M", 2: "F", 0: "U", "1": "M", "2": "F", "0": "U",
             "m": "M", "f": "F", "u": "U", "male": "M", "female": "F", "unknown": "U"}


@dataclass(frozen=True)
class Individual:
    """A person in a pedigree.  ``father``/``mother`` are ids or None (founder side)."""

    id: str
    father: str | None = None
    mother: str | None = None
    sex: str = "U"
    inbreeding: float = 0.0  # founder inbreeding coefficient f (founders only)

    @property
    def is_founder(self) -> bool:
        return self.father is None and self.mother is None


@dataclass(frozen=True)
class Pedigree:
    """A validated pedigree in topological order (parents before children).

    Build one with :func:`make_pedigree` (or the helpers :func:`duo`, :func:`trio`, ...):
    a parent that is named but not listed, and the missing second parent of a person with
    one parent, become untyped founders.
    """

    individuals: tuple[Individual, ...]
    index: dict[str, int] = field(compare=False, repr=False)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.individuals]

    def __len__(self) -> int:
        return len(self.individuals)

    def __getitem__(self, person_id: str) -> Individual:
        return self.individuals[self.index[person_id]]

    def __contains__(self, person_id: object) -> bool:
        return person_id in self.index

    @property
    def founders(self) -> list[str]:
        return [p.id for p in self.individuals if p.is_founder]

    def structure_key(self) -> tuple:
        """Hashable description of the shape of the pedigree (ids replaced by positions)."""
        key = self.__dict__.get("_structure_key")
        if key is None:
            key = self._compute_structure_key()
            object.__setattr__(self, "_structure_key", key)
        return key

    def _compute_structure_key(self) -> tuple:
        return tuple(
            (
                -1 if p.father is None else self.index[p.father],
                -1 if p.mother is None else self.index[p.mother],
                p.sex,
                p.inbreeding,
            )
            for p in self.individuals
        )


def _sex(value: object, where: str) -> str:
    try:
        if isinstance(value, bool):  # True == 1 would read as 'M'
            raise TypeError
        return SEX_CODES[value]  # type: ignore[index]
    except (KeyError, TypeError):
        raise PedigreeError(
            f"{where}: sex must be 'M', 'F', 'U' (or 1, 2, 0), found {value!r}"
        ) from None


def make_pedigree(people, *, where: str = "pedigree") -> Pedigree:
    """Validate ``people`` (Individuals or dicts with id/father/mother/sex) into a Pedigree.

    Raises
    ------
    PedigreeError
        duplicate ids, a person who is their own parent or ancestor, a father who is not
        male or a mother who is not female, inbreeding outside [0, 1] or on a non-founder.
    """
    raw: list[Individual] = []
    for k, p in enumerate(people):
        if isinstance(p, Individual):
            raw.append(p)
            continue
        if not isinstance(p, dict):
            raise PedigreeError(f"{where}: individual #{k + 1} must be an object, found {p!r}")
        if "id" not in p or p["id"] in (None, ""):
            raise PedigreeError(f"{where}: individual #{k + 1} has no 'id'")
        pid = str(p["id"])
        father = p.get("father")
        mother = p.get("mother")
        father = None if father in (None, "", 0, "0", "NA") else str(father)
        mother = None if mother in (None, "", 0, "0", "NA") else str(mother)
        f = p.get("inbreeding", 0.0) or 0.0
        raw.append(Individual(pid, father, mother, _sex(p.get("sex", "U"), f"{where}: person {pid!r}"),
                              float(f)))
    seen: dict[str, Individual] = {}
    for p in raw:
        if p.id in seen:
            raise PedigreeError(f"{where}: person {p.id!r} is listed twice; ids must be unique")
        seen[p.id] = p
    if not raw:
        raise PedigreeError(f"{where}: the pedigree has no individuals")
    # Complete missing parents as untyped founders.
    extra: dict[str, Individual] = {}
    completed: list[Individual] = []
    counter = 0
    for p in raw:
        father, mother = p.father, p.mother
        if (father is None) != (mother is None):
            counter += 1
            while f"_founder{counter}" in seen or f"_founder{counter}" in extra:
                counter += 1
            name = f"_founder{counter}"
            if father is None:
                father = name
                extra[name] = Individual(name, None, None, "M")
            else:
                mother = name
                extra[name] = Individual(name, None, None, "F")
        for parent, sex, role in ((father, "M", "father"), (mother, "F", "mother")):
            if parent is None:
                continue
            if parent == p.id:
                raise PedigreeError(f"{where}: person {p.id!r} is their own {role}")
            if parent not in seen and parent not in extra:
                extra[parent] = Individual(parent, None, None, sex)
            known = seen.get(parent) or extra[parent]
            if known.sex != sex and not (known.sex == "U"):
                raise PedigreeError(
                    f"{where}: {parent!r} is the {role} of {p.id!r} but has sex {known.sex!r}; "
                    f"a {role} must be {'M' if sex == 'M' else 'F'}"
                )
        if father is not None and father == mother:
            raise PedigreeError(f"{where}: {p.id!r} has {father!r} as both father and mother")
        if p.inbreeding and not p.is_founder:
            raise PedigreeError(
                f"{where}: person {p.id!r} has an inbreeding coefficient but is not a founder; "
                "inbreeding of non-founders follows from the pedigree"
            )
        if not (0.0 <= p.inbreeding <= 1.0):
            raise PedigreeError(f"{where}: inbreeding of {p.id!r} must be in [0, 1], found {p.inbreeding}")
        completed.append(Individual(p.id, father, mother, p.sex, p.inbreeding))
    # Parents of unknown sex take the sex of their role.
    roles: dict[str, str] = {}
    for p in completed:
        if p.father:
            roles[p.father] = "M"
        if p.mother:
            roles[p.mother] = "F"
    everyone = {p.id: p for p in completed}
    everyone.update(extra)
    for pid, sex in roles.items():
        q = everyone[pid]
        if q.sex == "U":
            everyone[pid] = Individual(q.id, q.father, q.mother, sex, q.inbreeding)
        elif q.sex != sex:
            raise PedigreeError(
                f"{where}: {pid!r} is named both as a father and as a mother"
            )
    # Topological order, detecting cycles (a person who is their own ancestor).
    order: list[str] = []
    state: dict[str, int] = {}
    listing = [p.id for p in completed] + list(extra)

    def visit(pid: str, path: list[str]) -> None:
        st = state.get(pid, 0)
        if st == 2:
            return
        if st == 1:
            cycle = " -> ".join(path[path.index(pid):] + [pid])
            raise PedigreeError(f"{where}: person {pid!r} is their own ancestor ({cycle})")
        state[pid] = 1
        q = everyone[pid]
        for parent in (q.father, q.mother):
            if parent is not None:
                visit(parent, path + [pid])
        state[pid] = 2
        order.append(pid)

    for pid in listing:
        visit(pid, [])
    individuals = tuple(everyone[pid] for pid in order)
    return Pedigree(individuals, {p.id: k for k, p in enumerate(individuals)})


def unrelated(ids, *, sexes: dict[str, str] | None = None,
              inbreeding: dict[str, float] | None = None) -> Pedigree:
    """The pedigree in which every person of ``ids`` is an unrelated founder (with the
    given founder ``inbreeding`` coefficients: a person's own inbreeding does not depend on
    the hypothesis)."""
    sexes = sexes or {}
    inbreeding = inbreeding or {}
    return make_pedigree([Individual(i, None, None, sexes.get(i, "U"), inbreeding.get(i, 0.0))
                          for i in ids])


# ----------------------------------------------------------------------------------------
# Common relationships.  Each returns a Pedigree whose typed people carry the given ids.


def duo(parent: str = "AF", child: str = "CH", *, parent_sex: str = "M") -> Pedigree:
    """Parent and child (the other parent untyped)."""
    p = Individual(parent, None, None, parent_sex)
    if parent_sex == "M":
        c = Individual(child, parent, None, "U")
    else:
        c = Individual(child, None, parent, "U")
    return make_pedigree([p, c])


def trio(father: str = "AF", mother: str = "MO", child: str = "CH") -> Pedigree:
    """Father, mother and their child."""
    return make_pedigree([Individual(father, sex="M"), Individual(mother, sex="F"),
                          Individual(child, father, mother)])


def full_sibs(sib1: str = "S1", sib2: str = "S2") -> Pedigree:
    """Two full siblings with untyped parents."""
    return make_pedigree([Individual("_FA", sex="M"), Individual("_MO", sex="F"),
                          Individual(sib1, "_FA", "_MO"), Individual(sib2, "_FA", "_MO")])


def half_sibs(sib1: str = "S1", sib2: str = "S2", *, shared: str = "father") -> Pedigree:
    """Two half siblings sharing their father (or mother, with ``shared="mother"``)."""
    if shared not in ("father", "mother"):
        raise PedigreeError(f"half_sibs: shared must be 'father' or 'mother', found {shared!r}")
    if shared == "father":
        people = [Individual("_FA", sex="M"), Individual("_MO1", sex="F"), Individual("_MO2", sex="F"),
                  Individual(sib1, "_FA", "_MO1"), Individual(sib2, "_FA", "_MO2")]
    else:
        people = [Individual("_MO", sex="F"), Individual("_FA1", sex="M"), Individual("_FA2", sex="M"),
                  Individual(sib1, "_FA1", "_MO"), Individual(sib2, "_FA2", "_MO")]
    return make_pedigree(people)


def grandparent(grandparent: str = "GP", grandchild: str = "CH", *,
                grandparent_sex: str = "M", via: str = "father") -> Pedigree:
    """A grandparent and grandchild, through the child's father (or mother)."""
    gp_sex = _sex(grandparent_sex, "grandparent")
    other = "_GM" if gp_sex == "M" else "_GF"
    gf, gm = (grandparent, other) if gp_sex == "M" else (other, grandparent)
    people = [Individual(gf, sex="M"), Individual(gm, sex="F")]
    if via == "father":
        people += [Individual("_P", gf, gm, "M"), Individual("_SP", sex="F"),
                   Individual(grandchild, "_P", "_SP")]
    elif via == "mother":
        people += [Individual("_P", gf, gm, "F"), Individual("_SP", sex="M"),
                   Individual(grandchild, "_SP", "_P")]
    else:
        raise PedigreeError(f"grandparent: via must be 'father' or 'mother', found {via!r}")
    return make_pedigree(people)


def grandparents(grandfather: str = "GF", grandmother: str = "GM", grandchild: str = "CH", *,
                 parent: str = "_P", other_parent: str = "_SP", via: str = "father") -> Pedigree:
    """Both grandparents and a grandchild, through the child's father (or mother).

    Name ``other_parent`` to type the child's other parent as well.
    """
    if via not in ("father", "mother"):
        raise PedigreeError(f"grandparents: via must be 'father' or 'mother', found {via!r}")
    p_sex, o_sex = ("M", "F") if via == "father" else ("F", "M")
    father, mother = (parent, other_parent) if via == "father" else (other_parent, parent)
    return make_pedigree([
        Individual(grandfather, sex="M"), Individual(grandmother, sex="F"),
        Individual(parent, grandfather, grandmother, p_sex), Individual(other_parent, sex=o_sex),
        Individual(grandchild, father, mother),
    ])


def avuncular(uncle: str = "U", nephew: str = "CH", *, uncle_sex: str = "M") -> Pedigree:
    """An uncle (or aunt) and their nephew or niece, through the child's father."""
    return make_pedigree([
        Individual("_GF", sex="M"), Individual("_GM", sex="F"),
        Individual(uncle, "_GF", "_GM", _sex(uncle_sex, "avuncular")),
        Individual("_P", "_GF", "_GM", "M"), Individual("_SP", sex="F"),
        Individual(nephew, "_P", "_SP"),
    ])


def first_cousins(cousin1: str = "C1", cousin2: str = "C2") -> Pedigree:
    """Two first cousins: their fathers are full brothers."""
    return make_pedigree([
        Individual("_GF", sex="M"), Individual("_GM", sex="F"),
        Individual("_P1", "_GF", "_GM", "M"), Individual("_P2", "_GF", "_GM", "M"),
        Individual("_S1", sex="F"), Individual("_S2", sex="F"),
        Individual(cousin1, "_P1", "_S1"), Individual(cousin2, "_P2", "_S2"),
    ])


RELATIONSHIPS = {
    "duo": duo, "trio": trio, "full_sibs": full_sibs, "half_sibs": half_sibs,
    "grandparent": grandparent, "grandparents": grandparents, "avuncular": avuncular,
    "first_cousins": first_cousins,
}
