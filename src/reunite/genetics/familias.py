"""Familias ``.fam`` files: the frequency database, mutation models, persons, hypotheses, and
DVI sections, read with the conventions of pedFamilias ``readFam`` and dvir ``familias2dvir``
(see tests/data/familias/REFERENCE.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reunite.genetics.dvi import DviProblem
from reunite.genetics.kinship import Marker
from reunite.genetics.pedigree import Pedigree


@dataclass
class FamDatabase:
    """The file's frequency database: markers with alleles, frequencies and mutation models
    (``Marker.genotypes`` empty), plus what is only recorded (theta, sizes, dropout, MAF)."""

    name: str | None
    markers: list[Marker]
    theta: float = 0.0
    db_size: dict[str, int] = field(default_factory=dict)
    dropout_value: dict[str, float] = field(default_factory=dict)
    maf: dict[str, float] = field(default_factory=dict)


@dataclass
class FamHypothesis:
    name: str
    pedigree: Pedigree  # every person of the hypothesis (components joined)


@dataclass
class FamFile:
    """A read ``.fam`` file.  ``hypotheses`` and ``markers`` (with genotypes) for a kinship
    file; ``dvi`` for a DVI file; only ``database`` for a database-only file."""

    path: str
    version: str
    database: FamDatabase
    is_dvi: bool = False
    database_only: bool = False
    hypotheses: list[FamHypothesis] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)  # with the persons' genotypes
    dvi: DviProblem | None = None
    label_map: list[tuple[str, str, str]] = field(default_factory=list)  # DVI: (family, name, label)
    warnings: list[str] = field(default_factory=list)


def read_fam(path: str | Path) -> FamFile:
    """Read a Familias file; errors (ReuniteError) name the file and line."""
    raise NotImplementedError
