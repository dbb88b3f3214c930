"""Pedigrees drawn as standard pedigree charts, as SVG made on the server (web pages and PDFs).

Squares are males, circles females, diamonds unknown sex; a typed person (with a DNA profile)
is shaded; the missing person is marked (a double outline and the label "missing"); the child
compared is placed as the missing person in the family pedigree (H1), or drawn apart, unrelated,
in the alternative (H2).  Lines: a horizontal marriage line between the parents, a vertical
line down to the sibship line, and a line up from each child.

The SVG uses presentation attributes only (no ``style`` attributes: the pages' Content Security
Policy allows no inline styles), has a ``<title>`` and ``<desc>`` and ``role="img"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Person:
    """One person of a pedigree to draw."""

    id: str
    father: str | None = None
    mother: str | None = None
    sex: str = "U"  # M | F | U
    typed: bool = False  # has a DNA profile in the comparison: shaded
    missing: bool = False  # the missing person (the child compared is placed here)
    label: str | None = None  # shown under the symbol (default: id)
    note: str | None = None  # a second line (e.g. the sample code)


def pedigree_svg(people: list[Person], *, title: str, description: str | None = None) -> str:
    """The pedigree chart of ``people`` as an SVG document (a string)."""
    # stub: replaced by the real layout (generations, sibships, marriage lines)
    width, height = 60 + 90 * max(1, len(people)), 120
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
             f'<desc>{escape(description or title)}</desc>']
    for i, p in enumerate(people):
        x = 40 + 90 * i
        parts.append(f'<rect x="{x}" y="30" width="30" height="30" fill="{"#555" if p.typed else "#fff"}" '
                     f'stroke="#000"/><text x="{x + 15}" y="80" text-anchor="middle" font-size="12">'
                     f'{escape(p.label or p.id)}</text>')
    parts.append("</svg>")
    return "".join(parts)
