"""Languages: English and simplified Chinese, for web pages, e-mails and PDF reports.

Messages are written in English in the code and templates (``_("Missing-child reports")``);
their Chinese lives in gettext catalogs, one per area: ``reunite/locale/zh_CN/<area>.po``
(all files of a language are merged; two areas giving one message two translations is an
error, found by ``tests/web/test_i18n.py``).  The language of the moment is a context
variable set by :func:`use_language` (the web sets it per request, a PDF per report), so
services and templates call :func:`gettext` without passing it around.  Dates and numbers
are formatted for the language with Babel (:func:`format_date`, :func:`format_number`, ...).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib.resources import files

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.pofile import read_po

from reunite.errors import ReuniteError

LANGUAGES = ("zh_CN", "en")
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}
#: the value of an HTML ``lang`` attribute
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
DEFAULT_LANGUAGE = "zh_CN"

_language: ContextVar[str] = ContextVar("reunite_language", default="en")


def check_language(value: str | None, *, what: str = "language") -> str:
    """``value`` as one of :data:`LANGUAGES` (``zh-CN``, ``zh_cn`` and ``zh`` read as ``zh_CN``)."""
    text = (value or "").strip().replace("-", "_")
    for lang in LANGUAGES:
        if text.lower() == lang.lower() or (lang == "zh_CN" and text.lower() in ("zh", "zh_hans", "zh_hans_cn")):
            return lang
    raise ReuniteError(f"{what}: expected one of {', '.join(LANGUAGES)}, found {value!r}")


def current_language() -> str:
    return _language.get()


@contextmanager
def use_language(lang: str):
    """Within the block, :func:`gettext` and the formatters speak ``lang``."""
    token = _language.set(check_language(lang))
    try:
        yield
    finally:
        _language.reset(token)


def negotiate(accept_language: str | None, *, default: str = DEFAULT_LANGUAGE) -> str:
    """The language an ``Accept-Language`` header prefers among :data:`LANGUAGES`."""
    best, best_q = None, -1.0
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        lang = "zh_CN" if primary == "zh" else "en" if primary == "en" else None
        if lang and q > best_q:
            best, best_q = lang, q
    return best or default


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str | tuple[str, ...]]:
    """Every translated message of ``lang``: msgid (or (singular, plural)) -> translation."""
    out: dict = {}
    if lang == "en":
        return out
    folder = files("reunite") / "locale" / lang
    if not folder.is_dir():
        return out
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".po"):
            continue
        with entry.open("rb") as f:
            po = read_po(f, locale=lang)
        for message in po:
            if not message.id or not message.string or message.fuzzy:
                continue
            key = tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id
            value = tuple(message.string) if isinstance(message.string, (list, tuple)) else message.string
            if not any(value if isinstance(value, tuple) else (value,)):
                continue
            out[key] = value
    return out


def gettext(message: str) -> str:
    lang = _language.get()
    if lang == "en":
        return message
    value = catalog(lang).get(message)
    return value if isinstance(value, str) and value else message


_ = gettext


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs without translating it now (a label translated when
    shown, e.g. a menu entry or a status name)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    lang = _language.get()
    value = catalog(lang).get((singular, plural)) if lang != "en" else None
    if isinstance(value, tuple) and value:
        return value[0] if lang == "zh_CN" else value[0 if n == 1 else min(1, len(value) - 1)]
    return singular if n == 1 else plural


def _locale() -> Locale:
    return Locale.parse(_language.get())


def format_date(value: date | datetime | None, *, format: str = "medium") -> str:
    """A date for people: ``1 Mar 2025`` / ``2025年3月1日``; '' for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return babel_dates.format_date(value, format=format, locale=_locale())


def format_datetime(value: datetime | None, *, format: str = "medium", tzinfo=None) -> str:
    """A moment for people, in UTC unless ``tzinfo`` is given; '' for None."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return babel_dates.format_datetime(value, format=format, tzinfo=tzinfo or timezone.utc, locale=_locale())


def format_number(value: float | int | None, *, digits: int | None = None) -> str:
    """A number with the language's grouping and decimal signs; ``digits`` fixes the decimals."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return "∞" if value > 0 else "−∞" if value < 0 else "NaN"
    if digits is None:
        return babel_numbers.format_decimal(value, locale=_locale())
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return babel_numbers.format_decimal(value, format=pattern, locale=_locale())


def format_percent(value: float | None, *, digits: int = 1) -> str:
    if value is None:
        return ""
    return babel_numbers.format_percent(value, format="#,##0." + "0" * digits + "%", locale=_locale())


def format_lr(value: float | None) -> str:
    """A likelihood ratio: plain between 0.001 and 10,000, else scientific (``1.23E9``);
    ``∞`` for an LR that only the alternative cannot explain, ``NaN`` for 0/0."""
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        # at least 4 significant digits below 1 (0.001235, not 0.0012)
        decimals = max(4, 3 - math.floor(math.log10(abs(value))))
        return babel_numbers.format_decimal(value, format="#,##0." + "#" * decimals, locale=_locale())
    return babel_numbers.format_scientific(value, format="0.00E0", locale=_locale())
