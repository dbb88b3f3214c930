"""``reunite report ...``, ``reunite operation ...``, ``reunite child ...``, ``reunite registration ...``
(stub: to be filled)."""

import typer

report_app = typer.Typer(help="Missing-child reports, their references and consent.", no_args_is_help=True)
operation_app = typer.Typer(help="Rescue operations.", no_args_is_help=True)
child_app = typer.Typer(help="Unidentified persons: rescued children, children of unclear origin, ...",
                        no_args_is_help=True)
registration_app = typer.Typer(help="Late birth-registration checks.", no_args_is_help=True)
