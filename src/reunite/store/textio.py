"""Reading laboratory text files: encodings, delimited tables with true line numbers, and the
checks every value passes before it is written (so SQLite and PostgreSQL behave the same).

Files from Chinese Windows machines come as UTF-8 (with or without a BOM), GBK/GB18030 or
UTF-16 with a BOM; :func:`decode` detects them (or takes ``encoding``) and names the line of
the first byte that cannot be decoded.  :func:`read_table` parses CSV/TSV with the ``csv``
module over the whole text (quoted fields may hold commas, line breaks, U+2028 or U+0085
without splitting a record), and gives every record the number of the physical line it
starts on.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from reunite.errors import ReuniteError

MAX_FIELD_CHARS = 100_000          # one CSV field; larger is an error with its line
MAX_TEXT_LENGTH = 1_000            # free text stored in the database (places, notes)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

ENCODING_ALIASES = {"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030", "utf8": "utf-8",
                    "utf-16le": "utf-16-le", "utf-16be": "utf-16-be"}


class FileFormatError(ReuniteError):
    """A file cannot be read as text or as a table (encoding, quoting, field size)."""


def storable(text: str) -> str:
    """``text`` that a database can store: the undecodable bytes of a file name (a name in
    GBK on a UTF-8 system: lone surrogates in Python) written as ``\\udcb8``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def decode(data: bytes, *, path, encoding: str | None = None) -> tuple[str, str]:
    """``data`` as text and the encoding used.

    Without ``encoding``: a BOM decides (UTF-8, UTF-16 LE/BE); else UTF-16 without a BOM if
    every other byte of the start is 0; else UTF-8 if it decodes; else GB18030 (a superset of
    GBK and GB2312).  An undecodable byte is an error naming its line and what to pass.
    """
    if encoding:
        enc = ENCODING_ALIASES.get(encoding.lower().replace("_", "-"), encoding)
        try:
            text_codec = getattr(codecs.lookup(enc), "_is_text_encoding", True)
        except (LookupError, ValueError):  # ValueError: a NUL in the name
            text_codec = False
        if not text_codec:  # unknown, or a bytes-to-bytes codec (base64, zlib, rot13)
            raise FileFormatError(f"--encoding: unknown encoding {encoding!r}; use e.g. utf-8, gbk, "
                                  "gb18030 or utf-16") from None
        candidates = [enc]
    elif data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif len(data) >= 4 and data[1:40:2].count(0) >= min(len(data[1:40:2]), 20) * 0.9 and data[1] == 0:
        candidates = ["utf-16-le"]
    elif len(data) >= 4 and data[0:40:2].count(0) >= min(len(data[0:40:2]), 20) * 0.9 and data[0] == 0:
        candidates = ["utf-16-be"]
    else:
        candidates = ["utf-8", "gb18030"]
    first_error = None
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError as exc:
            # the encoding that read furthest is the file's (a GBK file fails as UTF-8 at its
            # first Chinese character, as GB18030 only at the bad byte)
            if first_error is None or exc.start > first_error[1].start:
                first_error = (enc, exc)
            continue
        except (UnicodeError, ValueError) as exc:  # codecs that fail without a position (punycode)
            raise FileFormatError(f"{path}: cannot be decoded as {enc} ({exc}); save the file as UTF-8, "
                                  "or give its encoding with --encoding (e.g. gbk, gb18030, utf-16)") from None
        if enc == "utf-16":
            enc = "utf-16-le" if data.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        return text.lstrip("\ufeff"), enc
    enc, exc = first_error
    # lines of the text before the byte (UTF-16: a 0x0A byte may be half of a character)
    try:
        line = data[:exc.start].decode(enc, errors="replace").count("\n") + 1
    except (UnicodeError, ValueError):  # a codec without the 'replace' handler (idna)
        line = data[:exc.start].count(b"\n") + 1
    byte = data[exc.start:exc.start + 1].hex()
    tried = " or ".join(candidates)
    raise FileFormatError(
        f"{path}:{line}: byte 0x{byte} cannot be decoded as {tried}; save the file as UTF-8, or "
        "give its encoding with --encoding (e.g. gbk, gb18030, utf-16)")


def read_text(path, *, encoding: str | None = None) -> tuple[str, str]:
    """The text of ``path`` and its encoding (see :func:`decode`)."""
    text, enc, _ = _read(path, encoding=encoding)
    return text, enc


def _read(path, *, encoding: str | None) -> tuple[str, str, str]:
    """Text, encoding and the SHA-256 of the file's bytes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a folder; expected a file") from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read the file ({exc.strerror})") from None
    text, enc = decode(data, path=path, encoding=encoding)
    nul = text.find("\x00")
    if nul >= 0:
        raise FileFormatError(f"{path}:{text.count(chr(10), 0, nul) + 1}: a NUL character; the file "
                              "is binary or in another encoding (try --encoding utf-16)")
    return text, enc, hashlib.sha256(data).hexdigest()


@dataclass
class Table:
    """A delimited file: header (stripped), records with the line each starts on."""

    path: Path
    header: list[str]
    rows: list[tuple[int, list[str]]]
    encoding: str
    delimiter: str
    header_line: int = 1
    notes: list[str] = field(default_factory=list)
    sha256: str = ""  # of the file's bytes
    final_newline: bool = True  # False: the last line has no line break (a file cut off?)

    def width_problem(self, line: int, fields: list[str]) -> str | None:
        """Why a record does not fit the header (None if it does): the count of fields, the
        first column that is missing or the first value beyond the header."""
        n, m = len(self.header), len(fields)
        if m == n:
            return None
        if m < n:
            return (f"{self.path}:{line}: expected {n} fields as in the header, found {m}: no value "
                    f"for column {m + 1} ({self.header[m]!r}); a value with a comma must be quoted")
        extra = fields[n]
        return (f"{self.path}:{line}: expected {n} fields as in the header, found {m}: column {n + 1} "
                f"has the value {extra[:40]!r} beyond the header (an unquoted comma in a value? quote "
                "it, or add the column to the header)")


def sniff_delimiter(header_line: str) -> str:
    if "\t" in header_line:
        return "\t"
    return ","


def read_table(path, *, encoding: str | None = None, delimiter: str | None = None,
               skip_comments: bool = False) -> Table:
    """Parse a CSV/TSV file.  Blank records are skipped; ``skip_comments`` skips lines
    starting with ``#`` before the header.

    Raises
    ------
    FileFormatError
        unreadable file, undecodable byte, NUL, an unterminated quote or a field larger than
        :data:`MAX_FIELD_CHARS`, each with its line; an empty file.
    """
    table = stream_table(path, encoding=encoding, delimiter=delimiter, skip_comments=skip_comments)
    table.rows = list(table.rows)
    return table


def stream_table(path, *, encoding: str | None = None, delimiter: str | None = None,
                 skip_comments: bool = False) -> Table:
    """As :func:`read_table`, but ``rows`` is an iterator that parses one record at a time
    (for files of millions of lines); the errors of a record are raised when it is reached."""
    path = Path(path)
    text, enc, sha256 = _read(path, encoding=encoding)
    if not text.strip():
        raise FileFormatError(f"{path}:1: the file is empty; expected a header line")
    # csv reads physical lines split on \r and \n only (never U+2028, U+0085 or \f)
    start = 0
    line_no = 1
    if skip_comments:
        while True:
            end = text.find("\n", start)
            first = text[start:] if end < 0 else text[start:end]
            if first.lstrip().startswith("#") or not first.strip():
                if end < 0:
                    raise FileFormatError(f"{path}:{line_no}: no header line")
                start, line_no = end + 1, line_no + 1
                continue
            break
    end = text.find("\n", start)
    first = text[start:] if end < 0 else text[start:end]
    delimiter = delimiter or sniff_delimiter(first)
    reader = csv.reader(io.StringIO(text[start:], newline=""), delimiter=delimiter, strict=True)
    final_newline = text.endswith(("\n", "\r"))
    del text
    records = _records(reader, path=path, line_no=line_no)
    try:
        header_line, fields = next(records)
    except StopIteration:
        raise FileFormatError(f"{path}:1: the file is empty; expected a header line") from None
    header = [h.strip().lstrip("\ufeff") for h in fields]
    if not any(header):
        raise FileFormatError(f"{path}:1: the file is empty; expected a header line")
    named = len(header)
    while not header[named - 1]:
        named -= 1
    if named < len(header):  # Excel's trailing empty columns (",,"): no name, and no value on any row
        header = header[:named]
        records = _without_empty_tail(records, named)
    return Table(path, header, records, enc, delimiter, header_line, sha256=sha256,
                 final_newline=final_newline)


def _without_empty_tail(records, width: int):
    """Records with their empty fields beyond ``width`` left out (the unnamed, empty columns a
    spreadsheet writes after the last named one); a value there is kept, so that it is reported
    as a field beyond the header."""
    for line, fields in records:
        if len(fields) > width and not "".join(fields[width:]).strip():
            fields = fields[:width]
        yield line, fields


def _records(reader, *, path: Path, line_no: int):
    """``(line, fields)`` of every record of ``reader`` with the physical line it starts on;
    the first (the header) always, then the records that are not blank."""
    prev_end = 0  # physical lines consumed so far
    first = True
    old_limit = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                at = line_no + prev_end
                msg = str(exc)
                if "field larger" in msg:
                    raise FileFormatError(f"{path}:{at}: a field longer than {MAX_FIELD_CHARS:,} "
                                          "characters (an unclosed quote?)") from None
                if "unexpected end of data" in msg or "EOF" in msg:
                    raise FileFormatError(f"{path}:{at}: a quote opened here is never closed") from None
                raise FileFormatError(f"{path}:{at}: not valid delimited text ({msg}); a value "
                                      "with quotes must be quoted as a whole, quotes doubled") from None
            at = line_no + prev_end
            prev_end = reader.line_num
            if first or "".join(fields).strip():
                first = False
                yield at, fields
    finally:
        csv.field_size_limit(old_limit)


def check_text(value: str, *, what: str, where: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """Why ``value`` cannot be stored (None if it can): control characters (NUL included,
    which PostgreSQL refuses and SQLite keeps) and values over ``max_length`` characters.
    Tabs are allowed; line breaks only in free text (``max_length`` > 128)."""
    if len(value) > max_length:
        return f"{where}: {what} is {len(value):,} characters long; at most {max_length:,} are allowed"
    bad = _CONTROL.search(value)
    if bad:
        return (f"{where}: {what} contains the control character U+{ord(bad.group()):04X} at "
                f"position {bad.start() + 1}; remove it")
    if max_length <= 128 and any(c in value for c in "\n\r\u2028\u2029\u0085"):
        return f"{where}: {what} contains a line break; ids are one line"
    return None


def normalise_text(value: str) -> str:
    """NFKC-normalised, stripped text: full-width letters and digits (Chinese input methods)
    become ASCII, so ``ＦＡＭ１`` and ``FAM1`` are the same id; invisible format characters
    (a byte-order mark inside a file, zero-width spaces pasted with an id) are dropped, so an
    id that looks like ``S1`` is ``S1``."""
    value = unicodedata.normalize("NFKC", value)
    if not value.isascii():
        value = "".join(ch for ch in value if unicodedata.category(ch) != "Cf")
    return value.strip()
