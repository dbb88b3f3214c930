"""What every PDF report shares: an A4 page with the embedded CJK font, the header (title,
report number, date), the footer (page numbers, how to verify the file), headings,
paragraphs, labelled facts, tables and SVG drawings.

The font is Noto Sans CJK SC from the ``mplfonts`` package (SIL Open Font License); fpdf2
embeds the subset of glyphs a report uses, so Chinese names and headings render on any
reader.  A document is made once and its bytes are hashed as they are (see
:mod:`reunite.reports.registry`): :func:`ReportPDF.to_bytes` fixes the creation date to the
issue time, so nothing in the file depends on when the bytes were written.
"""

from __future__ import annotations

import io
import logging
import math
import re
from datetime import datetime, timezone

from fpdf import FPDF
from fpdf.fonts import FontFace

from reunite import __version__, i18n
from reunite.errors import ReuniteError
from reunite.i18n import gettext as _

log = logging.getLogger("reunite.reports")

FONT = "noto"
MARGIN = 18  # mm
#: a pixel of an SVG drawing, in mm (96 dpi)
PX_MM = 25.4 / 96
VERIFY_LINE = "reunite report verify FILE.pdf"


def font_path() -> str:
    """The CJK font's file (from the ``mplfonts`` package)."""
    from reunite.reports.fonts import source_font

    path = source_font()
    if path is None:  # pragma: no cover - a dependency of the package
        raise ReuniteError("PDF reports need the font Noto Sans CJK SC from the package 'mplfonts' "
                           "(pip install mplfonts)")
    return str(path)


def lr_text(value) -> str:
    """An LR as printed (``1.23E9``, ``∞``); accepts the services' ``"Inf"``/``"NaN"``."""
    return i18n.format_lr(as_float(value))


def as_float(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        special = {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
        return special[value] if value in special else float(value)
    return float(value)


def log10_text(value) -> str:
    """A log10 LR with four decimals (the printed precision of the total LR)."""
    x = as_float(value)
    if x is None:
        return ""
    if not math.isfinite(x):
        return i18n.format_number(x)
    return f"{x:.4f}"


def prior_text(p: float | None) -> str:
    """A prior as ``1/n`` when it is one in n, else as a number."""
    if p is None or p <= 0:
        return "-"
    n = 1 / p
    return f"1/{round(n):,}" if abs(n - round(n)) < 1e-6 * n else f"{p:.3g}"


def posterior_text(x) -> str:
    """A posterior probability: six decimals, or as many nines as it has (never rounded to 1),
    three significant digits below 0.001 (never rounded to 0)."""
    x = as_float(x)
    if x is None or math.isnan(x):
        return "-"
    if 0 < x < 1e-3:
        return f"{x:.3g}"  # never rounded to 0
    if x < 0.999999:
        return f"{x:.6f}"
    if x >= 1:
        return "> 0.999999999999999"
    return "0." + "9" * min(15, math.floor(-math.log10(1 - x)))


class ReportPDF(FPDF):
    """An A4 report: header with the title, number and date on every page, footer with the
    page number and the verification line."""

    def __init__(self, *, title: str, number: int | None, issued_at: datetime, language: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report_title = title
        self.number = number
        self.issued_at = issued_at.astimezone(timezone.utc) if issued_at.tzinfo else \
            issued_at.replace(tzinfo=timezone.utc)
        self.language = language
        path = font_path()
        for style in ("", "B"):  # bold text in headings and drawings: the same glyphs
            self.add_font(FONT, style=style, fname=path)
        self.set_margins(MARGIN, MARGIN + 6, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + 4)
        self.set_title(title)
        self.set_author("reunite")
        self.set_creator(f"reunite {__version__}")
        self.set_producer(f"reunite {__version__}")
        self.set_lang(i18n.HTML_LANG[language])
        if number is not None:
            # read back by verify: which issued report a file claims to be
            self.set_subject(f"reunite-report-number:{number}")
        self.set_creation_date(self.issued_at)
        self.alias_nb_pages("{nb}")
        self.set_font(FONT, size=10)
        self.add_page()

    def normalize_text(self, text: str) -> str:
        # Babel's narrow and plain no-break spaces (in dates and numbers): the font has no glyph
        return super().normalize_text(text.replace("\u202f", " ").replace("\u00a0", " "))

    # --- page frame ------------------------------------------------------------------

    def header(self) -> None:
        self.set_font(FONT, size=8)
        self.set_text_color(90)
        left = self.report_title
        if self.number is not None:
            left += "  ·  " + _("Report number %(number)s") % dict(number=self.number)
        self.set_xy(MARGIN, 10)
        self.cell(self.epw * 0.7, 5, left)
        self.cell(self.epw * 0.3, 5, i18n.format_date(self.issued_at, format="long"), align="R")
        self.line(MARGIN, 16, self.w - MARGIN, 16)
        self.set_text_color(0)
        self.set_xy(MARGIN, MARGIN + 6)
        self.set_font(FONT, size=10)

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.set_font(FONT, size=8)
        self.set_text_color(90)
        self.cell(self.epw * 0.75, 5, _("Verify this file: %(command)s") % dict(command=VERIFY_LINE))
        self.cell(self.epw * 0.25, 5, _("Page %(page)s of %(pages)s") % dict(page=self.page_no(), pages="{nb}"),
                  align="R")
        self.set_text_color(0)

    # --- content ---------------------------------------------------------------------

    def title_block(self, subtitle: str | None = None) -> None:
        self.set_font(FONT, "B", size=17)
        self.multi_cell(0, 9, self.report_title, new_x="LMARGIN", new_y="NEXT")
        if subtitle:
            self.set_font(FONT, size=10)
            self.set_text_color(70)
            self.multi_cell(0, 5, subtitle, new_x="LMARGIN", new_y="NEXT")
            self.set_text_color(0)
        self.ln(2)

    def heading(self, text: str) -> None:
        if self.will_page_break(24):
            self.add_page()
        self.ln(3)
        self.set_font(FONT, "B", size=12.5)
        self.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(160)
        self.line(MARGIN, self.get_y(), self.w - MARGIN, self.get_y())
        self.set_draw_color(0)
        self.ln(1.5)
        self.set_font(FONT, size=10)

    def paragraph(self, text: str, *, size: float = 10, color: int = 0) -> None:
        self.set_font(FONT, size=size)
        self.set_text_color(color)
        self.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)
        self.ln(1)

    def facts(self, rows: list[tuple[str, str]], *, label_width: float = 0.32) -> None:
        """Label: value lines as a two-column table without borders."""
        rows = [(k, v) for k, v in rows if v not in (None, "")]
        if not rows:
            return
        self.set_font(FONT, size=10)
        with self.table(col_widths=(label_width, 1 - label_width), first_row_as_headings=False,
                        borders_layout="NONE", text_align="LEFT", line_height=5.2, padding=(0.6, 1)) as t:
            for label, value in rows:
                row = t.row()
                row.cell(label, style=FontFace(color=(80, 80, 80)))
                row.cell(str(value))
        self.ln(1)

    def grid(self, headings: list[str], rows: list[list[str]], *, widths: list[float] | None = None,
             size: float = 8.5, align: str = "LEFT") -> None:
        """A bordered table whose headings repeat on every page it spans."""
        self.set_font(FONT, size=size)
        style = FontFace(emphasis="BOLD", fill_color=(232, 232, 232))
        with self.table(col_widths=widths, headings_style=style, text_align=align, line_height=size * 0.5,
                        padding=(0.8, 1), repeat_headings=1) as t:
            head = t.row()
            for h in headings:
                head.cell(h)
            for r in rows:
                row = t.row()
                for value in r:
                    row.cell("" if value is None else str(value))
        self.set_font(FONT, size=10)
        self.ln(1.5)

    def svg(self, svg_text: str, *, caption: str | None = None, max_width: float | None = None,
            max_height: float = 110) -> None:
        """An SVG drawing (a pedigree, a chart), scaled to fit, with its caption."""
        data = svg_for_pdf(svg_text)
        w_px, h_px = svg_size(svg_text)
        width = min(max_width or self.epw, w_px * PX_MM)
        height = h_px * width / w_px if w_px else 40
        if height > max_height:
            width *= max_height / height
            height = max_height
        if self.will_page_break(height + 10):
            self.add_page()
        if caption:
            self.set_font(FONT, "B", size=9.5)
            self.multi_cell(0, 5, caption, new_x="LMARGIN", new_y="NEXT")
            self.set_font(FONT, size=10)
        svg_log = logging.getLogger("fpdf.svg")
        level = svg_log.level
        svg_log.setLevel(logging.ERROR)  # <title>, <desc>, <pattern>: ignored, said at every drawing
        try:
            self.image(io.BytesIO(data), x=MARGIN, w=width, h=height)
        except Exception as exc:  # noqa: BLE001 - a drawing fpdf2 cannot read must not lose the report
            log.warning("a drawing could not be embedded in the PDF: %s", exc)
            self.paragraph(_("(The drawing could not be placed in this document.)"), size=8.5, color=90)
            return
        finally:
            svg_log.setLevel(level)
        self.ln(2)

    def to_bytes(self) -> bytes:
        """The finished document (made once; hash these bytes)."""
        return bytes(self.output())


_FONT_FAMILY = re.compile(r'font-family\s*=\s*("[^"]*"|\'[^\']*\')')


def svg_for_pdf(svg_text: str) -> bytes:
    """The drawing with every text in the embedded font (the CJK font has the Latin glyphs
    too): fpdf2 only knows the fonts added to the document."""
    text = _FONT_FAMILY.sub(f'font-family="{FONT}"', svg_text)
    root = re.search(r"<svg\b[^>]*>", text)
    if root and "font-family" not in root.group(0):
        text = text[:root.start()] + f'<svg font-family="{FONT}"' + text[root.start() + 4:]
    return text.encode("utf-8")


def svg_size(svg_text: str) -> tuple[float, float]:
    """The drawing's width and height in pixels (attributes, else the viewBox)."""
    head = svg_text[:svg_text.find(">") + 1] if ">" in svg_text else svg_text

    def attr(name: str) -> float | None:
        m = re.search(rf'\s{name}\s*=\s*"([0-9.]+)(px)?"', head)
        return float(m.group(1)) if m else None

    w, h = attr("width"), attr("height")
    if w and h:
        return w, h
    m = re.search(r'viewBox\s*=\s*"\s*[-0-9.]+[ ,]+[-0-9.]+[ ,]+([0-9.]+)[ ,]+([0-9.]+)\s*"', head)
    if m:
        return float(m.group(1)), float(m.group(2))
    return 600.0, 300.0
