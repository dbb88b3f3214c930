"""Locus-name and allele-label normalisation, and what the allele calls of one marker mean.

Allele labels are ASCII repeat numbers (``15``, ``9.3``): digits and dots typed in any script
(full-width ``９.３``, as Chinese input methods produce; Arabic-Indic ``٩٫٣``) are the same
allele as their ASCII form.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from reunite.errors import MarkerError

# Spellings seen in kits, exports and tables, mapped to the canonical upper-case name.
# Only true synonyms and letter-for-digit typos of one locus: ``D12ATA63`` and ``D12S391`` are
# two loci, and so are ``DYS389I`` and ``DYS389II``.
_ALIASES = {
    "THO1": "TH01",
    "CSFIPO": "CSF1PO",
    "ACTBP2": "SE33",
    "HUMACTBP2": "SE33",
    "FIBRA": "FGA",
    "D22GATA": "D22GATA198B05",
    "DS19S433": "D19S433",
    "AMEL": "AMELOGENIN",
}

# Dots typed for the decimal point of a microvariant: full-width, ideographic, Arabic.
_DOTS = {"\uff0e": ".", "\u3002": ".", "\uff61": ".", "\u066b": ".", "\u06d4": "."}
_ASCII_NUMBER = re.compile(r"[+-]?[0-9]+(\.0+)?", re.ASCII)
_ASCII_MICROVARIANT = re.compile(r"[0-9]+\.[0-9]", re.ASCII)
_REPEAT = re.compile(r"[0-9]{1,3}(\.[0-9])?", re.ASCII)

MIN_REPEAT = 1
MAX_REPEAT = 99
"""Plausible STR repeat numbers (alleles) run from 1 to 99: the longest alleles of the
commonly typed autosomal and Y STRs (SE33, FGA, DYF387S1) stay below 60; ``0`` is how some
tools write a failed call, and a three-digit number is a size or a typing error."""


def normalise_locus(name: str) -> str:
    """Return the canonical name of a locus.

    Upper case, spaces/dashes/underscores collapsed so that ``vWA`` -> ``VWA``,
    ``Penta D``/``PentaD``/``Penta_D`` -> ``PENTA_D``, ``THO1`` -> ``TH01``,
    ``CSFIPO`` -> ``CSF1PO``, ``ACTBP2`` -> ``SE33``; full-width letters and digits
    (``Ｄ８Ｓ１１７９``) are their ASCII forms and invisible characters (zero-width spaces,
    byte-order marks) are dropped, so one locus never has two names.
    """
    if not isinstance(name, str) or not name.strip():
        raise MarkerError(f"locus name: expected a non-empty string, found {name!r}")
    if not name.isascii():
        name = "".join(ch for ch in ascii_digits(name) if unicodedata.category(ch) != "Cf")
    key = re.sub(r"[\s_\-]+", "", name.strip().upper())
    if not key:
        raise MarkerError(f"locus name: expected a non-empty string, found {name!r}")
    m = re.fullmatch(r"PENTA([A-Z])", key)
    if m:
        return f"PENTA_{m.group(1)}"
    return _ALIASES.get(key, key)


def normalise_allele(label: object) -> str:
    """Return the canonical label of an STR allele (see :func:`_normalise_allele`)."""
    if isinstance(label, str):
        return _normalise_str(label)
    return _normalise_allele(label)


@lru_cache(maxsize=65536)
def _normalise_str(label: str) -> str:
    return _normalise_allele(label)


def _normalise_allele(label: object) -> str:
    """Return the canonical label of an STR allele: ``"9.3"``, ``"15"`` (not ``"15.0"``).

    Numbers are accepted and written without a trailing ``.0``; other labels (``"X"``,
    ``"Y"``, ``"OL"``) are kept as stripped strings.
    """
    if isinstance(label, bool):
        raise MarkerError(f"allele: expected a label such as '15' or '9.3', found {label!r}")
    if isinstance(label, (int, float)):
        text = repr(float(label))
    elif isinstance(label, str):
        text = ascii_digits(label.strip())
    else:
        raise MarkerError(f"allele: expected a label such as '15' or '9.3', found {label!r}")
    if not text:
        raise MarkerError("allele: expected a label such as '15' or '9.3', found an empty string")
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    if value == int(value) and _ASCII_NUMBER.fullmatch(text):
        return str(int(value))
    if _ASCII_MICROVARIANT.fullmatch(text):
        return text
    return text.rstrip("0") if "." in text else text


def ascii_digits(text: str) -> str:
    """``text`` with every decimal digit (any script) as an ASCII digit and full-width,
    ideographic or Arabic decimal points as ``.``; full-width letters become ASCII (NFKC), so
    ``９．３`` -> ``9.3``, ``١٢`` -> ``12``, ``ＯＬ`` -> ``OL``."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
            continue
        digit = unicodedata.decimal(ch, None)
        out.append(str(digit) if digit is not None else _DOTS.get(ch, ch))
    return "".join(out)


def repeat_problem(label: str) -> str | None:
    """Why a normalised allele label is not a plausible STR repeat number (None if it is):
    not a number such as ``15`` or ``9.3``, or outside :data:`MIN_REPEAT`..:data:`MAX_REPEAT`."""
    if not _REPEAT.fullmatch(label):
        return "not a repeat number"
    value = float(label)
    if value == 0:
        return ("allele 0 is not a repeat number (some tools write 0 for a failed call: leave "
                "the cell empty for an untyped locus)")
    if not MIN_REPEAT <= value <= MAX_REPEAT:
        return (f"allele {label!r} is not a plausible repeat number (expected {MIN_REPEAT} to "
                f"{MAX_REPEAT}); check the call")
    return None


def allele_value(label: str) -> float | None:
    """Numeric repeat value of an allele label, or None if it is not numeric."""
    try:
        return float(label)
    except ValueError:
        return None


AMELOGENIN = "AMELOGENIN"


def marker_kind(locus: str) -> str:
    """What a canonical locus name is: ``"amelogenin"``, ``"y"`` (Y-STRs and the Y indel:
    ``DYS...``, ``DYF...``, ``YGATAH4``, ``YINDEL``) or ``"str"`` (an autosomal STR)."""
    if locus == AMELOGENIN:
        return "amelogenin"
    if locus.startswith(("DYS", "DYF", "Y")):
        return "y"
    return "str"


class Call(NamedTuple):
    """What the allele calls of one sample at one marker mean.

    ``status`` is ``"typed"`` (``value``: the genotype), ``"empty"`` (no call: an untyped
    locus), ``"off_ladder"`` (an ``OL`` call), ``"extra"`` (more alleles than the marker
    carries: a tri-allelic pattern or a mixture; ``value``: the alleles) or ``"bad"``
    (``reason``: not a valid call at all).
    """

    status: str
    value: object = None
    reason: str = ""


def _shown(cells) -> str:
    return "/".join(repr(c) for c in cells)


def _off_ladder(label: str) -> bool:
    return label.upper() == "OL"


def _refused_call(alleles: tuple[str, ...]) -> "Call | None":
    """A bad call (an allele that is not a repeat number, or out of range) or an off-ladder
    one among ``alleles``; None when every allele is a repeat number."""
    for a in alleles:
        why = None if _off_ladder(a) else repeat_problem(a)
        if why == "not a repeat number":
            return Call("bad", reason=f"alleles must be repeat numbers such as 15 or 9.3, found "
                                      f"{_shown(alleles)}")
        if why:
            return Call("bad", reason=why)
    if any(_off_ladder(a) for a in alleles):
        return Call("off_ladder", alleles, f"an off-ladder call (OL) among {_shown(alleles)}")
    return None


@lru_cache(maxsize=65536)
def call_str(cells: tuple[str, ...]) -> Call:
    """The genotype of an autosomal STR from its calls (non-empty cells, in file order): one
    allele is a homozygote, two are sorted (``("17", "14")`` -> ``("14", "17")``)."""
    if not cells:
        return Call("empty")
    alleles = tuple(normalise_allele(c) for c in cells)
    refused = _refused_call(alleles)
    if refused is not None:
        return refused
    if len(alleles) > 2:
        return Call("extra", tuple(sorted(alleles, key=float)),
                    f"{len(alleles)} alleles {_shown(alleles)} (a tri-allelic pattern or a mixture)")
    a, b = alleles[0], alleles[-1]
    return Call("typed", (a, b) if float(a) <= float(b) else (b, a))


@lru_cache(maxsize=1024)
def call_amelogenin(cells: tuple[str, ...]) -> Call:
    """Amelogenin from its calls: ``"X/Y"``, ``"X/X"``, ``"X"`` (X alone, as written: a
    female, or a male whose Y peak dropped out), ``"Y"`` or ``"Y/Y"``."""
    if not cells:
        return Call("empty")
    calls = tuple(ascii_digits(c).strip().upper() for c in cells)
    if any(c not in ("X", "Y") and not _off_ladder(c) for c in calls):
        return Call("bad", reason=f"Amelogenin calls are X and Y, found {_shown(cells)}")
    if any(_off_ladder(c) for c in calls):
        return Call("off_ladder", calls, f"an off-ladder call (OL) among {_shown(calls)}")
    if len(calls) > 2:
        return Call("extra", calls, f"{len(calls)} Amelogenin calls {_shown(calls)}")
    return Call("typed", "/".join(sorted(calls)))


@lru_cache(maxsize=4096)
def call_y(cells: tuple[str, ...]) -> Call:
    """A Y-STR from its calls: the distinct alleles, sorted (multi-copy loci such as DYS385
    carry two or more)."""
    if not cells:
        return Call("empty")
    alleles = tuple(normalise_allele(c) for c in cells)
    refused = _refused_call(alleles)
    if refused is not None:
        return refused
    return Call("typed", tuple(sorted(set(alleles), key=float)))


def call_marker(kind: str, cells: tuple[str, ...]) -> Call:
    """:func:`call_str`, :func:`call_amelogenin` or :func:`call_y` by :func:`marker_kind`."""
    if kind == "str":
        return call_str(cells)
    if kind == "amelogenin":
        return call_amelogenin(cells)
    return call_y(cells)


def sex_from_amelogenin(value: str | None) -> str | None:
    """The sex an Amelogenin call shows: ``"X/Y"`` -> ``"M"``, ``"X/X"`` -> ``"F"``; None
    for anything else (``"X"`` alone: a female or a male whose Y peak dropped out or who
    carries an AMELY deletion; ``"Y"`` alone: AMELX dropout or an artefact; empty)."""
    if not value:
        return None
    calls = tuple(sorted(c for c in re.split(r"[/,;\s]+", ascii_digits(value).upper()) if c))
    return {("X", "X"): "F", ("X", "Y"): "M"}.get(calls)


def amelogenin_flag(value: str | None) -> str | None:
    """Why an Amelogenin call needs a look (None if it shows the sex plainly)."""
    if not value or sex_from_amelogenin(value) is not None:
        return None
    if value == "X":
        return "Amelogenin X alone: a female, or a male with Y dropout (AMELY deletion)"
    if value.startswith("Y"):
        return f"Amelogenin {value} without X: AMELX dropout or an artefact; check the sample"
    return f"Amelogenin {value}: unexpected; check the sample"
