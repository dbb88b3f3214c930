"""The console script ``reunite``.

``reunite lr FILE --json`` on duo casework is answered by :mod:`reunite.cli_lr_fast` without
importing the rest of the command line; every other command, and every file that path does
not take, goes to :func:`reunite.cli.main` (the Typer application) as before.
"""

from __future__ import annotations

import sys


def main():
    """Run ``reunite`` with ``sys.argv``."""
    argv = sys.argv[1:]
    if argv[:1] == ["lr"]:
        from reunite.cli_lr_fast import lr_json_text

        text = lr_json_text(argv[1:])
        if text is not None:
            sys.stdout.write(text)
            return None
    from reunite.cli import main as full

    return full()
