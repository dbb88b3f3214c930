"""The database planning chart: expected false candidates (log scale) and the share of true
children found against the LR threshold (log scale), two panels over one axis, drawn as the
other charts are (:mod:`reunite.reports.charts`: presentation attributes only, no colour
needed: solid and dashed lines with markers, a text alternative in ``<desc>``)."""

from __future__ import annotations

import math

from reunite.i18n import gettext as _
from reunite.reports.charts import GRID, INK, MUTED, _empty, _frame, _marker, _text, _uid, power


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _count(x: float) -> str:
    if x == 0:
        return "0"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2g}"


def planning_svg(plan: dict, *, title: str, false_label: str, found_label: str, x_label: str,
                 no_data: str = "No thresholds", width: int = 720, height: int = 460, heading: bool = True) -> str:
    """``plan``: :func:`reunite.cases.planning.plan_database`'s result (``thresholds``,
    ``expected_false_candidates``, ``share_true_found``).  Top panel: expected false
    candidates on a log axis (values below 10^-12 drawn at the floor), with the line of one
    expected false candidate; bottom panel: the share of true children found, 0 to 100 %."""
    uid = _uid("plan")
    ts = [t for t in plan.get("thresholds") or []]
    if not ts:
        return _empty(title, no_data, uid, width)
    xs = [math.log10(t) for t in ts]
    false = [float(v) for v in plan["expected_false_candidates"]]
    found = [float(v) for v in plan["share_true_found"]]
    left, right, top, gap, bottom = 70, 30, 40, 50, 50
    pw = width - left - right
    ph = (height - top - gap - bottom) / 2
    x0, x1 = min(xs), max(xs)
    sx = lambda x: left + (pw / 2 if x1 == x0 else (x - x0) / (x1 - x0) * pw)  # noqa: E731
    positive = [v for v in false if v > 0]
    ymax = math.ceil(math.log10(max(positive))) if positive else 0
    ymax = max(ymax, 1)
    ymin = max(min(math.floor(math.log10(min(positive))) if positive else -1, ymax - 1), -12)
    sy1 = lambda v: top + ph - (min(max(math.log10(v) if v > 0 else ymin, ymin), ymax) - ymin) / (ymax - ymin) * ph  # noqa: E731
    top2 = top + ph + gap
    sy2 = lambda v: top2 + ph - v * ph  # noqa: E731
    body = []
    step = max(1, math.ceil((ymax - ymin) / 6))
    for e in range(ymin, ymax + 1, step):
        y = sy1(10.0 ** e)
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{_fmt(y)}" y2="{_fmt(y)}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, power(e), size=11, anchor="end", fill=MUTED))
    if ymin <= 0 <= ymax:  # one expected false candidate
        y = sy1(1.0)
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{_fmt(y)}" y2="{_fmt(y)}" stroke="{INK}" '
                    f'stroke-dasharray="2 3" class="one-false"/>')
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = sy2(share)
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{_fmt(y)}" y2="{_fmt(y)}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, f"{share:.0%}", size=11, anchor="end", fill=MUTED))
    for panel_top in (top, top2):
        body.append(f'<line x1="{left}" x2="{left}" y1="{_fmt(panel_top)}" y2="{_fmt(panel_top + ph)}" stroke="{INK}"/>')
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{_fmt(panel_top + ph)}" y2="{_fmt(panel_top + ph)}" '
                    f'stroke="{INK}"/>')
    every = max(1, math.ceil(len(xs) / 13))
    for i, x in enumerate(xs):
        if i % every == 0 or i == len(xs) - 1:
            body.append(_text(sx(x), top2 + ph + 18, power(x), size=10, anchor="middle"))
    for values, sy, dash, marker, key in ((false, sy1, "", "square", "false"), (found, sy2, "6 3", "circle", "found")):
        points = [(sx(x), sy(v)) for x, v in zip(xs, values)]
        d = " ".join(f"{'M' if j == 0 else 'L'}{_fmt(px)} {_fmt(py)}" for j, (px, py) in enumerate(points))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(f'<path d="{d}" fill="none" stroke="{INK}" stroke-width="2"{dash_attr} class="series series-{key}"/>')
        body.extend(_marker(marker, px, py) for px, py in points)
    body.append(_text(left + 4, top - 6, false_label, size=12, weight="600"))
    body.append(_text(left + 4, top2 - 6, found_label, size=12, weight="600"))
    body.append(_text(left + pw / 2, height - 10, x_label, size=12, anchor="middle"))
    if heading:
        body.append(_text(left, 18, title, size=14, weight="700"))
    desc = title + ": " + "; ".join(
        _("LR %(threshold)s: %(false)s false candidates expected, %(found)s of true children found")
        % {"threshold": power(x), "false": _count(f), "found": f"{s:.1%}"}
        for x, f, s in zip(xs, false, found)) + "."
    return _frame(width, height, title, desc, body, uid)
