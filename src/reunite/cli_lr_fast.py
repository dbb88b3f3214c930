"""``reunite lr FILE --json`` on plain duo casework, without loading the rest of the command
line (the web server, the database layer, the tables): the process starts, reads, computes and
writes 2,000 cases in under a second of CPU time (``bench/bench_lr.py --casework-only``).

:func:`lr_json_text` gives the text ``reunite lr FILE --json`` writes, or None where the
command is anything else (an option besides ``--json``, ``--prior``, ``--keep-going``, ``--lenient``
and ``--normalise``, a Familias file, a malformed setting) or
the file is not one :mod:`reunite.genetics.duo_cases` takes; the full command line then runs as
before, from the start.  The text is the general path's, byte for byte
(``tests/test_duo_cases.py``).  Imports stay inside the functions: this module is imported by
the console script before it knows which command runs.
"""

from __future__ import annotations

import os

#: how a Familias file starts (as ``reunite.cli_lr.FAMILIAS_MARK``)
_FAMILIAS_MARK = b'"Output from Familias'
_BOM = b"\xef\xbb\xbf"
#: options that change nothing on a file the fast path takes (no malformed case, no unknown
#: key, every table within 0.005 of 1)
_SAME_OUTPUT = ("--json", "--keep-going", "--lenient", "--normalise")


def lr_json_text(args: list[str]) -> str | None:
    """The output of ``reunite lr`` with the arguments ``args`` (those after ``lr``), or None
    where the fast path does not apply."""
    parts = lr_json_parts(args)
    return None if parts is None else "".join(parts)


def lr_json_parts(args: list[str], *, keep: list | None = None) -> list[str] | None:
    """:func:`lr_json_text` in parts, to be written one after the other.  ``keep`` (a list)
    receives the parsed file, for a caller that exits without freeing it."""
    options = _options(args)
    if options is None:
        return None
    path, prior = options
    scale = None  # the default scale, unless a setting names another
    if any(key.upper().startswith("REUNITE_") for key in os.environ):
        scale = _scale_from_settings()
        if scale is None:
            return None
    if path.lower().endswith(".fam"):
        return None
    try:
        import orjson
    except ImportError:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if data.startswith(_FAMILIAS_MARK):
        return None
    try:
        doc = orjson.loads(data)
    except (orjson.JSONDecodeError, ValueError, RecursionError):
        return None
    if keep is not None:
        keep.append(doc)
    from reunite.genetics.duo_cases import duo_casework_parts

    options = {"prior": prior} if scale is None else {"prior": prior, "scale": scale}
    try:
        return duo_casework_parts(doc, num_colons=data.count(b":"), dumps=orjson.dumps, **options)
    except Exception:  # noqa: BLE001 - anything unforeseen: the general path, which reports it
        return None


def _options(args: list[str]) -> tuple[str, float | None] | None:
    """The case file and the prior of ``reunite lr`` arguments the fast path takes: ``--json``
    and the case file, with ``--prior P`` (or ``--prior=P``, checked as ``reunite lr`` checks
    it) and the options of :data:`_SAME_OUTPUT`, each at most once; else None."""
    files, seen, prior = [], set(), None
    k = 0
    while k < len(args):
        arg = args[k]
        if arg in _SAME_OUTPUT:
            if arg in seen:
                return None
            seen.add(arg)
        elif arg == "--prior" or arg.startswith("--prior="):
            if prior is not None or (arg == "--prior" and k + 1 == len(args)):
                return None
            text = arg[len("--prior="):] if arg != "--prior" else args[k + 1]
            k += arg == "--prior"
            from reunite.genetics.posterior import check_prior

            try:
                prior = check_prior(float(text), where="--prior")
            except ValueError:
                return None  # the full command says why
        elif arg.startswith("-"):
            return None
        else:
            files.append(arg)
        k += 1
    if len(files) != 1 or "--json" not in seen:
        return None
    return files[0], prior


def _scale_from_settings():
    """The verbal scale the settings name (``REUNITE_VERBAL_SCALE``), or None where the settings
    or the scale are malformed (the full command then says so, as it always has)."""
    try:
        from reunite.genetics.verbal import get_scale
        from reunite.settings import Settings

        return get_scale(Settings().verbal_scale)
    except Exception:  # noqa: BLE001 - any problem: the full command reports it
        return None


def _without_gc(function):
    """``function`` with the cyclic garbage collector paused: the parsed file is a million
    objects without cycles, and each collection would walk them all."""
    import functools
    import gc

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return wrapper


lr_json_parts = _without_gc(lr_json_parts)
