"""``reunite candidates ...``: list, show, and the review steps (stub: to be filled)."""

import typer

candidates_app = typer.Typer(help="Candidates: list, show, assign, review, request confirmation, confirm, reject.",
                             no_args_is_help=True)
