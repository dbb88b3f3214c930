"""Pedigrees drawn as standard pedigree charts, as SVG made on the server (web pages and PDFs).

Squares are males, circles females, diamonds unknown sex; a typed person (with a DNA profile)
is shaded; the missing person is marked (a double outline and the label "missing"); the child
compared is placed as the missing person in the family pedigree (H1), or drawn apart, unrelated,
in the alternative (H2).  Lines: a horizontal marriage line between the parents, a vertical
line down to the sibship line, and a line up from each child.

The layout: generations top to bottom (founders at the top, a child one row below its lower
parent, a founder who married into the family on its partner's row); within a row, sibships
side by side under their parents, a spouse who married in beside the partner, people not
related to anyone (the child in H2) apart at the right.  Positions are found by a few passes
(children under their parents, parents above their children), each keeping every pair of
neighbours at least their labels' width apart: symbols never overlap.

The SVG uses presentation attributes only (no ``style`` attributes: the pages' Content Security
Policy allows no inline styles), has a ``<title>`` and ``<desc>`` and ``role="img"``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from html import escape

from reunite.errors import PedigreeError
from reunite.i18n import gettext as _

SYMBOL = 36  # symbol size (px)
ROW = 124  # distance between generations
MARGIN = 24
TOP = 20
OUTLINE = 5  # the missing person's second outline, outside the first
SIB_ABOVE = 22  # the sibship line, this far above the children's symbols
APART = 48  # extra gap before people related to no one
INK, SHADE, PAPER = "#000000", "#595959", "#ffffff"


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


# ---------------------------------------------------------------------------------------
# layout


def text_width(text: str | None, size: float = 12.0) -> float:
    """An estimate of the drawn width of ``text`` (CJK characters are square, others ~0.6 em)."""
    return sum(size if ord(ch) >= 0x2E80 else 0.6 * size for ch in (text or ""))


def _check(people: list[Person]) -> dict[str, Person]:
    by_id: dict[str, Person] = {}
    for p in people:
        if not isinstance(p, Person) or not isinstance(p.id, str) or not p.id:
            raise PedigreeError(f"people: expected Person objects with an id, found {p!r}")
        if p.id in by_id:
            raise PedigreeError(f"people: {p.id!r} is listed twice; every person is drawn once")
        by_id[p.id] = p
    return by_id


def _parents(by_id: dict[str, Person]) -> dict[str, tuple[str | None, str | None]]:
    """Each person's parents among the people drawn (a parent not in the data is left out);
    the links that would close a cycle (bad data) are dropped."""
    par = {pid: tuple(x if x in by_id and x != pid else None for x in (p.father, p.mother))
           for pid, p in by_id.items()}
    # Kahn: whoever is left over sits on a cycle; such a person is drawn as a founder
    children = defaultdict(list)
    indeg = {}
    for pid, (f, m) in par.items():
        ps = {x for x in (f, m) if x}
        indeg[pid] = len(ps)
        for x in ps:
            children[x].append(pid)
    queue = [pid for pid, n in indeg.items() if n == 0]
    seen = set()
    while queue:
        pid = queue.pop()
        seen.add(pid)
        for c in children[pid]:
            indeg[c] -= 1
            if indeg[c] == 0:
                queue.append(c)
    for pid in by_id:
        if pid not in seen:
            par[pid] = (None, None)
    return par


def _topological(ids: list[str], par) -> list[str]:
    order, done = [], set()
    for start in ids:
        stack = [(start, False)]
        while stack:
            pid, expanded = stack.pop()
            if pid in done:
                continue
            if expanded:
                done.add(pid)
                order.append(pid)
                continue
            stack.append((pid, True))
            stack.extend((x, False) for x in par[pid] if x and x not in done)
    return order


def _depths(ids, par, couples) -> dict[str, int]:
    """Generation of each person: one below the lower parent; partners on one row."""
    order = _topological(ids, par)
    depth = {pid: 0 for pid in ids}

    def settle():
        for pid in order:
            ps = [depth[x] for x in par[pid] if x]
            if ps:
                depth[pid] = max(depth[pid], 1 + max(ps))

    settle()
    for _round in range(2 * len(ids) + 2):
        changed = False
        for a, b in couples:
            if a and b and depth[a] != depth[b]:
                low = min((a, b), key=lambda x: depth[x])
                # raise only a founder (one with no parents drawn): others stay below their parents
                if not any(par[low]):
                    depth[low] = max(depth[a], depth[b])
                    changed = True
        settle()
        if not changed:
            break
    return depth


class _Layout:
    def __init__(self, people: list[Person]) -> None:
        self.by_id = _check(people)
        self.ids = [p.id for p in people]
        self.index = {pid: k for k, pid in enumerate(self.ids)}
        self.par = _parents(self.by_id)
        self.kids: dict[tuple, list[str]] = defaultdict(list)  # (father, mother) -> children
        for pid in self.ids:
            f, m = self.par[pid]
            if f or m:
                self.kids[(f, m)].append(pid)
        self.partners: dict[str, list[str]] = defaultdict(list)
        for f, m in self.kids:
            if f and m:
                if m not in self.partners[f]:
                    self.partners[f].append(m)
                if f not in self.partners[m]:
                    self.partners[m].append(f)
        self.depth = _depths(self.ids, self.par, list(self.kids))
        self.num_rows = 1 + max(self.depth.values(), default=0)
        self.width = {pid: self._width(p) for pid, p in self.by_id.items()}
        self.isolated = {pid for pid in self.ids if not any(self.par[pid]) and not self.partners[pid]
                         and not any(pid in key for key in self.kids)}
        self.rows = self._order()
        self.x: dict[str, float] = {}
        self._place()

    def _width(self, p: Person) -> float:
        w = max(text_width(p.label or p.id), text_width(p.note, 10.0),
                text_width(_("missing") if p.missing else "", 10.0))
        return max(SYMBOL + 2 * OUTLINE + 22, w + 16)

    def sep(self, a: str, b: str) -> float:
        return (self.width[a] + self.width[b]) / 2 + (APART if b in self.isolated and a not in self.isolated else 0)

    # -- order within each row ------------------------------------------------------
    def _cluster(self, start: str, row: set[str], placed: set[str], married_in_only: bool) -> list[str]:
        """``start`` with its partners on the same row (chained), as a left-to-right order."""
        members, todo = [start], [start]
        while todo:
            pid = todo.pop()
            for q in self.partners[pid]:
                if q in row and q not in placed and q not in members and (
                        not married_in_only or not any(self.par[q])):
                    members.append(q)
                    todo.append(q)
        if len(members) == 2:
            a, b = members
            if self.by_id[a].sex == "F" and self.by_id[b].sex == "M" and not (married_in_only and any(self.par[a])):
                members = [b, a]
            return members
        if len(members) > 2 and len(self.partners[start]) > 1:
            first = [q for q in members[1:] if q in self.partners[start]][:1]
            return first + [start] + [q for q in members[1:] if q not in first]
        return members

    def _order(self) -> list[list[str]]:
        rows: list[list[str]] = []
        xs: dict[str, float] = {}
        for d in range(self.num_rows):
            row = [pid for pid in self.ids if self.depth[pid] == d]
            rowset, placed, out = set(row), set(), []

            def key(pid):
                ps = [xs[x] for x in self.par[pid] if x and x in xs]
                if ps:
                    return (0, sum(ps) / len(ps), self.par[pid], self.index[pid])
                for q in self.partners[pid]:  # married in: beside the partner
                    qs = [xs[x] for x in self.par[q] if x and x in xs]
                    if qs:
                        return (0, sum(qs) / len(qs), self.par[q], self.index[q] + 0.5)
                return (1 if pid not in self.isolated else 2, 0.0, (), self.index[pid])

            for pid in sorted(row, key=lambda p: tuple(str(v) if isinstance(v, tuple) else v for v in key(p))):
                if pid in placed:
                    continue
                group = self._cluster(pid, rowset, placed, married_in_only=any(self.par[pid]))
                out.extend(group)
                placed.update(group)
            for k, pid in enumerate(out):
                xs[pid] = float(k)
            rows.append(out)
        return rows

    # -- positions ------------------------------------------------------------------
    def _fit(self, row: list[str], desired: dict[str, float]) -> None:
        """Positions near ``desired`` keeping every neighbour pair at least :meth:`sep` apart:
        the mean of a left-to-right and a right-to-left greedy placement (both feasible, so
        their mean is too)."""
        if not row:
            return
        left = [desired[row[0]]]
        for a, b in zip(row, row[1:]):
            left.append(max(desired[b], left[-1] + self.sep(a, b)))
        right = [desired[row[-1]]]
        for a, b in zip(reversed(row[:-1]), reversed(row[1:])):
            right.append(min(desired[a], right[-1] - self.sep(a, b)))
        right.reverse()
        for pid, lx, rx in zip(row, left, right):
            self.x[pid] = (lx + rx) / 2

    def descent_x(self, key: tuple) -> float:
        """Where the line down to a sibship starts: the middle of the marriage line, or beside
        a single parent drawn."""
        f, m = key
        if f and m:
            return (self.x[f] + self.x[m]) / 2
        p = f or m
        kids = self.kids[key]
        side = 1 if sum(self.x.get(c, self.x[p]) for c in kids) / len(kids) >= self.x[p] else -1
        return self.x[p] + side * (SYMBOL / 2 + 14)

    def _down(self) -> None:
        for row in self.rows:
            desired: dict[str, float] = {}
            prev = None
            groups = defaultdict(list)
            for pid in row:
                if any(self.par[pid]):
                    groups[self.par[pid]].append(pid)
            for pid in row:
                if any(self.par[pid]):
                    sibs = groups[self.par[pid]]
                    k = sibs.index(pid)
                    centre = self.descent_x(self.par[pid])
                    spread = sum(self.width[s] for s in sibs) / len(sibs)
                    desired[pid] = centre + (k - (len(sibs) - 1) / 2) * spread
                elif pid in self.x:
                    desired[pid] = self.x[pid]
                else:
                    desired[pid] = (desired[prev] + self.sep(prev, pid)) if prev else 0.0
                prev = pid
            self._fit(row, desired)

    def _up(self) -> None:
        for row in reversed(self.rows[:-1]):
            desired = {}
            for pid in row:
                wants = []
                for (f, m), kids in self.kids.items():
                    if pid not in (f, m):
                        continue
                    centre = sum(self.x[c] for c in kids) / len(kids)
                    other = m if pid == f else f
                    if other:
                        half = (self.x[pid] - self.x[other]) / 2
                        wants.append(centre + half)
                    else:
                        wants.append(self.x[pid] + centre - self.descent_x((f, m)))
                desired[pid] = sum(wants) / len(wants) if wants else self.x[pid]
            self._fit(row, desired)

    def _place(self) -> None:
        self._down()
        for _round in range(3):
            self._up()
            self._down()
        left = min((self.x[p] - self.width[p] / 2 for p in self.ids), default=0.0)
        for pid in self.ids:
            self.x[pid] += MARGIN - left

    def y(self, pid: str) -> float:
        """The top of a person's symbol."""
        return TOP + OUTLINE + self.depth[pid] * ROW


# ---------------------------------------------------------------------------------------
# drawing


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _symbol(sex: str, cx: float, cy: float, half: float, *, fill: str, width: float = 1.5) -> str:
    common = f'fill="{fill}" stroke="{INK}" stroke-width="{_f(width)}"'
    if sex == "M":
        return (f'<rect x="{_f(cx - half)}" y="{_f(cy - half)}" width="{_f(2 * half)}" height="{_f(2 * half)}" '
                f'{common}/>')
    if sex == "F":
        return f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="{_f(half)}" {common}/>'
    h = half * 1.15
    return (f'<polygon points="{_f(cx)},{_f(cy - h)} {_f(cx + h)},{_f(cy)} {_f(cx)},{_f(cy + h)} '
            f'{_f(cx - h)},{_f(cy)}" {common}/>')


def _line(x1, y1, x2, y2) -> str:
    return (f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" stroke="{INK}" '
            'stroke-width="1.5"/>')


def _text(x, y, text, *, size=12, weight=None, anchor="middle") -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" font-size="{size}"{bold} fill="{INK}">'
            f'{escape(text)}</text>')


def _legend(top: float, width: float) -> tuple[list[str], float, float]:
    """The key: symbol meanings, in words (the chart reads without colour)."""
    items = [("M", False, False, _("male")), ("F", False, False, _("female")),
             ("U", False, False, _("sex unknown")), ("M", True, False, _("typed (DNA profile)")),
             ("U", False, True, _("missing person"))]
    parts, x, y, half, right = [], MARGIN, top, 8.0, 0.0
    limit = max(width, 420.0)
    parts.append(f'<g data-legend="true">{_text(MARGIN, y + 4, _("Key:"), size=11, weight="bold", anchor="start")}')
    x += text_width(_("Key:"), 11) + 12
    for sex, typed, missing, label in items:
        item_w = 2 * half + 8 + text_width(label, 11) + 18
        if x + item_w > limit and x > MARGIN + 60:
            x, y = MARGIN, y + 26
        cx = x + half + (3 if missing else 0)
        if missing:
            parts.append(_symbol(sex, cx, y, half + 3, fill="none", width=1.2))
        parts.append(_symbol(sex, cx, y, half, fill=SHADE if typed else PAPER, width=1.2))
        parts.append(_text(cx + half + 8, y + 4, label, size=11, anchor="start"))
        x += item_w + (6 if missing else 0)
        right = max(right, x)
    parts.append("</g>")
    return parts, y + 16, right


def pedigree_svg(people: list[Person], *, title: str, description: str | None = None) -> str:
    """The pedigree chart of ``people`` as an SVG document (a string).

    Parents named but not among ``people`` are left out (the line comes down from the one
    parent drawn); a cycle of parents (bad data) is broken.

    Raises
    ------
    PedigreeError
        A person listed twice, or not a :class:`Person`.
    """
    lay = _Layout(list(people))
    half = SYMBOL / 2
    body: list[str] = []
    # lines first (symbols are drawn over them)
    for key, kids in lay.kids.items():
        f, m = key
        if f and m:
            a, b = sorted((f, m), key=lambda p: lay.x[p])
            ya, yb = lay.y(a) + half, lay.y(b) + half
            body.append(_line(lay.x[a] + half, ya, lay.x[b] - half, yb))
            top = (ya + yb) / 2
        else:
            p = f or m
            top = lay.y(p) + half
            dx = lay.descent_x(key)
            body.append(_line(lay.x[p] + (half if dx > lay.x[p] else -half), top, dx, top))
        dx = lay.descent_x(key)
        sib_y = min(lay.y(c) for c in kids) - SIB_ABOVE
        body.append(_line(dx, top, dx, sib_y))
        xs = [lay.x[c] for c in kids] + [dx]
        if max(xs) - min(xs) > 0.05:
            body.append(_line(min(xs), sib_y, max(xs), sib_y))
        for c in kids:
            body.append(_line(lay.x[c], sib_y, lay.x[c], lay.y(c) - (OUTLINE if lay.by_id[c].missing else 0)))
    for pid in lay.ids:
        p = lay.by_id[pid]
        cx, top = lay.x[pid], lay.y(pid)
        cy = top + half
        sex = p.sex if p.sex in ("M", "F") else "U"
        g = [f'<g data-person="{escape(pid)}" data-sex="{sex}" data-typed="{str(bool(p.typed)).lower()}" '
             f'data-missing="{str(bool(p.missing)).lower()}" data-cx="{_f(cx)}" data-cy="{_f(cy)}">']
        if p.missing:
            g.append(_symbol(sex, cx, cy, half + OUTLINE, fill=PAPER))
        g.append(_symbol(sex, cx, cy, half, fill=SHADE if p.typed else PAPER))
        lines = [(p.label or pid, 12, "bold" if p.missing else None)]
        if p.note:
            lines.append((p.note, 10, None))
        if p.missing:
            lines.append((_("missing"), 10, "bold"))
        y = top + SYMBOL + OUTLINE + 13
        for text, size, weight in lines:
            g.append(_text(cx, y, text, size=size, weight=weight))
            y += size + 3
        g.append("</g>")
        body.extend(g)
    chart_w = max((lay.x[p] + lay.width[p] / 2 for p in lay.ids), default=0.0) + MARGIN
    chart_h = TOP + OUTLINE + (lay.num_rows - 1) * ROW + SYMBOL + OUTLINE + 60
    legend, legend_bottom, legend_right = _legend(chart_h + 6, chart_w)
    width, height = max(chart_w, legend_right + MARGIN), legend_bottom + 10
    num_typed = sum(1 for p in lay.by_id.values() if p.typed)
    missing = [p.label or p.id for p in lay.by_id.values() if p.missing]
    desc = description or _("%(n)s persons in %(g)s generations; %(typed)s typed; missing: %(missing)s") % {
        "n": len(lay.ids), "g": lay.num_rows, "typed": num_typed, "missing": ", ".join(missing) or "—"}
    pid = "ped-" + hashlib.sha1((title + "\x00" + "\x00".join(lay.ids)).encode()).hexdigest()[:10]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{pid}-t {pid}-d" '
            f'class="pedigree" width="{_f(width)}" height="{_f(height)}" viewBox="0 0 {_f(width)} {_f(height)}" '
            f'font-family="Noto Sans CJK SC, Noto Sans SC, sans-serif">'
            f'<title id="{pid}-t">{escape(title)}</title><desc id="{pid}-d">{escape(desc)}</desc>'
            f'<rect x="0" y="0" width="{_f(width)}" height="{_f(height)}" fill="{PAPER}"/>')
    return head + "".join(body) + "".join(legend) + "</svg>"
