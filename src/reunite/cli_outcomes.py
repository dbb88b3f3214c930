"""``reunite outcome ...``, ``reunite followup ...``, ``reunite inbox`` (stub: to be filled)."""

import typer

outcome_app = typer.Typer(help="Outcomes of identified children and follow-up visits.", no_args_is_help=True)
inbox_app = typer.Typer(help="Your notifications.", no_args_is_help=True)
