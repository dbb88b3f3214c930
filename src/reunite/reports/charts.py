"""Charts as SVG made on the server, readable without colour (patterns, dash styles, markers,
direct labels, a text table alternative on the page), for the web pages and the PDF reports.

Every chart is one ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (its numbers in a
sentence), presentation attributes only (``fill=``, ``stroke=``, ``font-size=``; never a
``style`` attribute: the pages' Content-Security-Policy forbids them), and text escaped.
Titles, axis labels and series names are passed in already translated; the numbers are
written as given (the caller formats them for the language where it matters).
"""

from __future__ import annotations

import itertools
import math
from xml.sax.saxutils import escape, quoteattr

from reunite.i18n import N_
from reunite.i18n import gettext as _

#: the simulated family types (reunite.simulate.FAMILY_TYPES), as people read them
FAMILY_TYPE_LABELS = {
    "both_parents": N_("both parents"),
    "mother_only": N_("mother only"),
    "father_only": N_("father only"),
    "parents_and_sibling": N_("parents and a sibling"),
    "siblings_only": N_("two siblings"),
    "grandparents": N_("paternal grandparents"),
    "uncle_aunt": N_("an uncle or aunt"),
}

FONT = "system-ui, 'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', sans-serif"
INK, MUTED, GRID, ACCENT = "#1b1f24", "#5a6470", "#d5dbe1", "#1f5f9e"
_ids = itertools.count(1)


def _uid(kind: str) -> str:
    return f"{kind}-{next(_ids)}"


_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


def power(exponent: float) -> str:
    """``10⁴``, ``10⁻²``: a power of ten as text (for labels and descriptions)."""
    return "10" + _fmt(float(exponent)).translate(_SUPERSCRIPT)


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if isinstance(x, float) else str(x)


def _text(x, y, content, *, size=12, anchor="start", weight=None, fill=INK, extra="") -> str:
    w = f' font-weight="{weight}"' if weight else ""
    return (f'<text x="{_fmt(x)}" y="{_fmt(y)}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{w}'
            f'{extra}>{escape(str(content))}</text>')


def _frame(width: int, height: int, title: str, desc: str, body: list[str], uid: str, defs: str = "") -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-labelledby="{uid}-t {uid}-d" font-family={quoteattr(FONT)} class="chart-svg">'
            f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>'
            + (f"<defs>{defs}</defs>" if defs else "")
            + f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>'
            + "".join(body) + "</svg>")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _ticks(top: float, n: int = 5) -> list[float]:
    if top < n:  # counts: whole steps only
        n = max(1, int(top))
    step = top / n
    return [step * k for k in range(n + 1)]


def _count_label(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2g}"


def _hatch(uid: str) -> str:
    return (f'<pattern id="{uid}-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#dce8f5"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="{ACCENT}" stroke-width="2.5"/></pattern>')


def _empty(title: str, no_data: str, uid: str, width=640, height=120) -> str:
    return _frame(width, height, title, no_data, [_text(width / 2, height / 2, no_data, size=14, anchor="middle",
                                                        fill=MUTED)], uid)


# ---------------------------------------------------------------------------------------
# the LR histogram


def _bins_of(values: list[float], width: float = 1.0) -> list[dict]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return []
    lo, hi = math.floor(min(finite) / width), math.floor(max(finite) / width)
    counts = {k: 0 for k in range(lo, hi + 1)}
    for v in finite:
        counts[math.floor(v / width)] += 1
    return [{"lo": k * width, "hi": (k + 1) * width, "count": n} for k, n in counts.items()]


def lr_histogram_svg(log10_lrs: list[float] | None, *, thresholds: dict[str, float], title: str,
                     bins: list[dict] | None = None, x_label: str = "LR (log scale)",
                     y_label: str = "candidates", threshold_labels: dict[str, str] | None = None,
                     no_data: str = "No candidates", width: int = 720, height: int = 340,
                     heading: bool = True) -> str:
    """A histogram of candidates' LRs on a log10 scale (ticks 10^k), each threshold a dashed
    vertical line with its label; bars at or above the notify threshold hatched.

    ``log10_lrs``: the values, or None with ``bins`` (``[{"lo", "hi", "count"}]``, e.g. from
    :func:`reunite.cases.statistics.lr_distribution`).  ``threshold_labels``: name -> text
    (default: the names); thresholds at the same value share one line and one label."""
    uid = _uid("lr")
    bins = bins if bins is not None else _bins_of(list(log10_lrs or []))
    bins = [b for b in bins]
    if not bins or not any(b["count"] for b in bins):
        return _empty(title, no_data, uid, width)
    labels = threshold_labels or {}
    left, right, top, bottom = 60, 20, 46, 56
    pw, ph = width - left - right, height - top - bottom
    lo = min(min(b["lo"] for b in bins), *thresholds.values())
    hi = max(max(b["hi"] for b in bins), *(t + 1 for t in thresholds.values()))
    lo, hi = math.floor(lo), math.ceil(hi)
    sx = lambda v: left + (v - lo) / (hi - lo) * pw  # noqa: E731
    ymax = _nice_max(max(b["count"] for b in bins))
    sy = lambda c: top + ph - c / ymax * ph  # noqa: E731
    notify = thresholds.get("notify", min(thresholds.values()))
    body = []
    for t in _ticks(ymax):
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{_fmt(sy(t))}" y2="{_fmt(sy(t))}" stroke="{GRID}"/>')
        body.append(_text(left - 6, sy(t) + 4, _count_label(t), size=11, anchor="end", fill=MUTED))
    step = max(1, math.ceil((hi - lo) / 12))
    for k in range(math.ceil(lo / step) * step, hi + 1, step):
        x = sx(k)
        body.append(f'<line x1="{_fmt(x)}" x2="{_fmt(x)}" y1="{top + ph}" y2="{top + ph + 5}" stroke="{INK}"/>')
        body.append(f'<text x="{_fmt(x)}" y="{top + ph + 18}" font-size="11" text-anchor="middle" fill="{INK}">'
                    f'10<tspan dy="-5" font-size="8">{k}</tspan></text>')
    for b in bins:
        if not b["count"]:
            continue
        x0, x1 = sx(b["lo"]), sx(b["hi"])
        above = b["lo"] >= notify
        fill = f"url(#{uid}-hatch)" if above else "#c9ced4"
        tip = f"{power(b['lo'])} – {power(b['hi'])}: {b['count']}"
        body.append(f'<rect x="{_fmt(x0 + 0.5)}" y="{_fmt(sy(b["count"]))}" width="{_fmt(max(1, x1 - x0 - 1))}" '
                    f'height="{_fmt(ph - (sy(b["count"]) - top))}" fill="{fill}" stroke="{INK}" stroke-width="1">'
                    f'<title>{escape(tip)}</title></rect>')
    body.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{INK}"/>')
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="{INK}"/>')
    by_value: dict[float, list[str]] = {}
    for name, value in thresholds.items():
        by_value.setdefault(value, []).append(labels.get(name, name))
    for n, (value, names) in enumerate(sorted(by_value.items())):
        x = sx(value)
        body.append(f'<line x1="{_fmt(x)}" x2="{_fmt(x)}" y1="{top - 6}" y2="{top + ph}" stroke="{INK}" '
                    f'stroke-width="2" stroke-dasharray="6 4" class="threshold"/>')
        label = " / ".join(names) + f" ({power(value)})"
        anchor = "end" if x > left + pw * 0.6 else "start"
        body.append(_text(x + (-4 if anchor == "end" else 4), top - 10 - 14 * (n % 2), label, size=11,
                          anchor=anchor, weight="600", extra=' class="threshold-label"'))
    body.append(_text(left + pw / 2, height - 12, x_label, size=12, anchor="middle"))
    body.append(_text(16, top + ph / 2, y_label, size=12, anchor="middle",
                      extra=f' transform="rotate(-90 16 {_fmt(top + ph / 2)})"'))
    if heading:
        body.append(_text(left, 18, title, size=14, weight="700"))
    total = sum(b["count"] for b in bins)
    above_n = sum(b["count"] for b in bins if b["lo"] >= notify)
    desc = _("%(title)s: %(n)s candidates with a finite LR between %(lo)s and %(hi)s; %(above)s at or above "
             "%(notify)s.") % {"title": title, "n": total, "lo": power(min(b['lo'] for b in bins)),
                               "hi": power(max(b['hi'] for b in bins)), "above": above_n, "notify": power(notify)}
    return _frame(width, height, title, desc, body, uid, defs=_hatch(uid))


# ---------------------------------------------------------------------------------------
# series over time

#: (key, dash pattern, marker) of each series: told apart without colour
SERIES_STYLE = {"open_cases": ("", "square"), "reunions": ("8 4", "circle"), "new_reports": ("2 3", "triangle")}


def _marker(kind: str, x: float, y: float) -> str:
    if kind == "circle":
        return f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="4" fill="#ffffff" stroke="{INK}" stroke-width="1.5"/>'
    if kind == "square":
        return (f'<rect x="{_fmt(x - 3.5)}" y="{_fmt(y - 3.5)}" width="7" height="7" fill="{INK}" '
                f'stroke="{INK}"/>')
    return (f'<path d="M{_fmt(x)} {_fmt(y - 5)} L{_fmt(x + 4.5)} {_fmt(y + 3.5)} L{_fmt(x - 4.5)} '
            f'{_fmt(y + 3.5)} Z" fill="#ffffff" stroke="{INK}" stroke-width="1.5"/>')


def cases_over_time_svg(series: list[dict], *, title: str, labels: dict[str, str] | None = None,
                        keys: tuple[str, ...] = ("open_cases", "reunions", "new_reports"),
                        y_label: str = "cases", no_data: str = "No data for this period",
                        width: int = 720, height: int = 340, heading: bool = True) -> str:
    """Lines per month (``series``: ``[{"period": "2025-03", key: n, ...}]``): each series its
    own dash pattern and marker, labelled at its end (``labels``: key -> text)."""
    uid = _uid("time")
    if not series:
        return _empty(title, no_data, uid, width)
    labels = labels or {}
    left, right, top, bottom = 56, 210, 40, 50
    pw, ph = width - left - right, height - top - bottom
    n = len(series)
    sx = lambda i: left + (pw / 2 if n == 1 else i / (n - 1) * pw)  # noqa: E731
    ymax = _nice_max(max(max(int(r.get(k, 0)) for k in keys) for r in series))
    sy = lambda v: top + ph - v / ymax * ph  # noqa: E731
    body = []
    for t in _ticks(ymax):
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{_fmt(sy(t))}" y2="{_fmt(sy(t))}" stroke="{GRID}"/>')
        body.append(_text(left - 6, sy(t) + 4, _count_label(t), size=11, anchor="end", fill=MUTED))
    every = max(1, math.ceil(n / 12))
    for i, r in enumerate(series):
        if i % every == 0 or i == n - 1:
            body.append(_text(sx(i), top + ph + 18, r["period"], size=10, anchor="middle"))
    body.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{INK}"/>')
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="{INK}"/>')
    ends = []
    for key in keys:
        dash, marker = SERIES_STYLE.get(key, ("4 2 1 2", "circle"))
        points = [(sx(i), sy(int(r.get(key, 0)))) for i, r in enumerate(series)]
        d = " ".join(f"{'M' if j == 0 else 'L'}{_fmt(x)} {_fmt(y)}" for j, (x, y) in enumerate(points))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(f'<path d="{d}" fill="none" stroke="{INK}" stroke-width="2"{dash_attr} '
                    f'class="series series-{key}"/>')
        if n <= 60:
            body.extend(_marker(marker, x, y) for x, y in points)
        ends.append([points[-1][1], key, int(series[-1].get(key, 0))])
    ends.sort()
    for j in range(1, len(ends)):  # keep the end labels apart
        ends[j][0] = max(ends[j][0], ends[j - 1][0] + 14)
    for y, key, value in ends:
        body.append(_marker(SERIES_STYLE.get(key, ("", "circle"))[1], left + pw + 14, y))
        body.append(_text(left + pw + 22, y + 4, f"{labels.get(key, key)} ({value})", size=11))
    body.append(_text(16, top + ph / 2, y_label, size=12, anchor="middle",
                      extra=f' transform="rotate(-90 16 {_fmt(top + ph / 2)})"'))
    if heading:
        body.append(_text(left, 18, title, size=14, weight="700"))
    desc = _("%(title)s: %(first)s to %(last)s") % {"title": title, "first": series[0]['period'],
                                                     "last": series[-1]['period']} + "; " + "; ".join(
        _("%(series)s: %(n)s in all") % {"series": labels.get(k, k), "n": sum(int(r.get(k, 0)) for r in series)}
        if k != "open_cases"
        else _("%(series)s: %(n)s at the end") % {"series": labels.get(k, k), "n": int(series[-1].get(k, 0))}
        for k in keys) + "."
    return _frame(width, height, title, desc, body, uid)


# ---------------------------------------------------------------------------------------
# horizontal bars (flows, shares)


def _bars(rows: list[tuple[str, float, str]], *, title: str, desc: str, top_max: float, uid: str,
          width: int, label_width: int = 210, note: str | None = None, heading: bool = True) -> str:
    """Horizontal bars: (label, value, value text) each; hatched bars, values written at the end."""
    top, bar, gap = (40 if heading else 12), 20, 8
    height = top + len(rows) * (bar + gap) + (34 if note else 16)
    left = label_width
    pw = width - left - 140
    body = [_text(12, 18, title, size=14, weight="700")] if heading else []
    for i, (label, value, text) in enumerate(rows):
        y = top + i * (bar + gap)
        w = 0 if top_max <= 0 else value / top_max * pw
        body.append(_text(left - 8, y + bar / 2 + 4, label, size=12, anchor="end"))
        body.append(f'<rect x="{left}" y="{y}" width="{_fmt(max(w, 1))}" height="{bar}" fill="url(#{uid}-hatch)" '
                    f'stroke="{INK}" stroke-width="1"/>')
        body.append(_text(left + w + 6, y + bar / 2 + 4, text, size=12, weight="600"))
    body.append(f'<line x1="{left}" x2="{left}" y1="{top - 4}" y2="{top + len(rows) * (bar + gap)}" stroke="{INK}"/>')
    if note:
        body.append(_text(12, height - 10, note, size=11, fill=MUTED))
    return _frame(width, height, title, desc, body, uid, defs=_hatch(uid))


def flows_svg(flows: list[dict], *, title: str, top_n: int = 12, no_data: str = "No confirmed identifications",
              arrow: str = "→", width: int = 720, note: str | None = None, heading: bool = True) -> str:
    """The largest province-to-province flows as bars ("Sichuan → Shandong", count written
    at the bar's end); ``flows`` as from :func:`reunite.cases.statistics.province_flows`
    (names ``from_name``/``to_name`` in the page's language)."""
    uid = _uid("flows")
    if not flows:
        return _empty(title, no_data, uid, width)
    shown = flows[:top_n]
    rows = [(f"{f['from_name']} {arrow} {f['to_name']}", f["count"], str(f["count"])) for f in shown]
    desc = f"{title}: " + "; ".join(f"{label}: {text}" for label, _count, text in rows) + "."
    return _bars(rows, title=title, desc=desc, top_max=_nice_max(max(f["count"] for f in shown)), uid=uid,
                 width=width, label_width=min(330, 40 + 8 * max(len(r[0]) for r in rows)), note=note,
                 heading=heading)


def share_by_family_type_svg(rows: list[dict], *, title: str, labels: dict[str, str] | None = None,
                             no_data: str = "No simulation", width: int = 720, note: str | None = None,
                             heading: bool = True) -> str:
    """Bars of the share of true identifications per family type (0 to 100 %), each written
    as "97 % (32/33)"; ``labels``: family type -> text (default :data:`FAMILY_TYPE_LABELS`)."""
    uid = _uid("share")
    rows = [r for r in rows if r.get("families")]
    if not rows:
        return _empty(title, no_data, uid, width)
    labels = labels or FAMILY_TYPE_LABELS
    bars = [(labels.get(r["family_type"], r["family_type"]), float(r["share"] or 0.0),
             f"{round(100 * (r['share'] or 0))} % ({r['identified']}/{r['families']})") for r in rows]
    desc = f"{title}: " + "; ".join(f"{label}: {text}" for label, _share, text in bars) + "."
    return _bars(bars, title=title, desc=desc, top_max=1.0, uid=uid, width=width,
                 label_width=min(260, 40 + 8 * max(len(b[0]) for b in bars)), note=note, heading=heading)
