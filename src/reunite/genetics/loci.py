"""Locus-name and allele-label normalisation."""

from __future__ import annotations

import math
import re
from functools import lru_cache

from reunite.errors import MarkerError

# Spellings seen in kits, exports and tables, mapped to the canonical upper-case name.
_ALIASES = {
    "THO1": "TH01",
    "D22GATA": "D22GATA198B05",
    "DS19S433": "D19S433",
    "AMEL": "AMELOGENIN",
}

_ALLELE_RE = re.compile(r"^\d+(\.\d)?$")


def normalise_locus(name: str) -> str:
    """Return the canonical name of a locus.

    Upper case, spaces/dashes/underscores collapsed so that ``vWA`` -> ``VWA``,
    ``Penta D``/``PentaD``/``Penta_D`` -> ``PENTA_D``, ``THO1`` -> ``TH01``.
    """
    if not isinstance(name, str) or not name.strip():
        raise MarkerError(f"locus name: expected a non-empty string, found {name!r}")
    key = re.sub(r"[\s_\-]+", "", name.strip().upper())
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
        text = label.strip()
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
    if value == int(value) and re.fullmatch(r"[+-]?\d+(\.0+)?", text):
        return str(int(value))
    if re.fullmatch(r"\d+\.\d", text):
        return text
    return text.rstrip("0") if "." in text else text


def allele_value(label: str) -> float | None:
    """Numeric repeat value of an allele label, or None if it is not numeric."""
    try:
        return float(label)
    except ValueError:
        return None
