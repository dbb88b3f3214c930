"""``reunite user ...``, ``reunite audit ...``, ``reunite jurisdiction ...`` (stub: to be filled)."""

import typer

user_app = typer.Typer(help="Users: add, list, disable, reset passwords, TOTP, tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log: verify, head, list.", no_args_is_help=True)
jurisdiction_app = typer.Typer(help="Jurisdictions and agencies.", no_args_is_help=True)
