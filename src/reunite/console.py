"""The console script ``reunite``.

``reunite lr FILE --json`` on duo casework is answered by :mod:`reunite.cli_lr_fast` without
importing the rest of the command line; every other command, and every file that path does
not take, goes to :func:`reunite.cli.main` (the Typer application) as before.
"""

from __future__ import annotations

import os
import sys


def main():
    """Run ``reunite`` with ``sys.argv``.

    After the casework path has written its output the process ends at once (``os._exit``,
    the output flushed): freeing the parsed file's million objects one by one would add a
    tenth to the run.
    """
    argv = sys.argv[1:]
    if argv[:1] == ["lr"]:
        from reunite.cli_lr_fast import lr_json_parts

        parsed: list = []
        parts = lr_json_parts(argv[1:], keep=parsed)
        if parts is not None:
            sys.stdout.writelines(parts)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        parsed.clear()
    from reunite.cli import main as full

    return full()
