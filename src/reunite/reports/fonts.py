"""The CJK font: Noto Sans CJK SC Regular (SIL Open Font License) from the ``mplfonts``
package, embedded (subset) in the PDF reports and served (subset) to the web pages."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def source_font() -> Path | None:
    """Noto Sans CJK SC Regular from the installed ``mplfonts`` package (None if absent)."""
    try:
        path = Path(str(files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"))
    except ModuleNotFoundError:  # pragma: no cover - a dependency
        return None
    return path if path.is_file() else None
