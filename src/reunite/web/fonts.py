"""The pages' Chinese font: a subset of Noto Sans CJK SC (SIL Open Font License, from the
``mplfonts`` package) holding the GB 2312 characters, ASCII, and every character of the
message catalogs and place names, made once with fontTools and kept in the cache folder
(``$XDG_CACHE_HOME/reunite/fonts``).  About 3 MB instead of 16 MB, and Chromium draws every
glyph of the subset (the whole font shows some characters as empty boxes).
"""

from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from reunite.reports.fonts import source_font

SUBSET_VERSION = "1"
_lock = threading.Lock()


@lru_cache(maxsize=1)
def characters() -> frozenset[str]:
    """GB 2312 (levels 1 and 2, symbols), printable ASCII, and every character of the zh_CN
    catalogs and of the places table."""
    chars = {chr(c) for c in range(0x20, 0x7F)}
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    folder = files("reunite") / "locale" / "zh_CN"
    texts = [e.read_text(encoding="utf-8") for e in folder.iterdir() if e.name.endswith(".po")]
    texts.append((files("reunite") / "data" / "places.csv").read_text(encoding="utf-8"))
    for text in texts:
        chars.update(ch for ch in text if ord(ch) >= 0x2E80)
    return frozenset(chars)


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reunite" / "fonts"


def subset_path() -> Path | None:
    """The subset font file, made on first use (about ten seconds) and kept; None without the
    source font."""
    source = source_font()
    if source is None:
        return None
    chars = "".join(sorted(characters()))
    key = hashlib.sha256(f"{SUBSET_VERSION}|{source.stat().st_size}|{chars}".encode()).hexdigest()[:16]
    target = cache_folder() / f"NotoSansCJKsc-subset-{key}.otf"
    if target.is_file():
        return target
    with _lock:
        if target.is_file():
            return target
        from fontTools import subset

        options = subset.Options()
        options.layout_features = ["*"]
        options.hinting = False
        options.notdef_outline = True
        font = subset.load_font(str(source), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[ord(ch) for ch in chars])
        subsetter.subset(font)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
        subset.save_font(font, str(partial), options)
        os.replace(partial, target)  # whole or absent, even with two servers starting at once
    return target


def prepare_in_background() -> threading.Thread:
    """Make the subset in a background thread (``reunite serve`` starts it, so the first page
    in Chinese does not wait)."""
    thread = threading.Thread(target=subset_path, name="reunite-font-subset", daemon=True)
    thread.start()
    return thread
