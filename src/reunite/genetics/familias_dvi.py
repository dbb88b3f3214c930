"""The ``[DVI]`` section of a Familias file (work in progress)."""

from reunite.errors import ReuniteError


def read_dvi_section(lines, start, database, alleles_of, *, warnings):
    raise ReuniteError(f"{lines.path}, line {start + 1}: DVI sections are not read yet")
