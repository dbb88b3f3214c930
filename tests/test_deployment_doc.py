"""docs/deployment.md stays true: its settings table is the Settings class, and every
``reunite`` command it shows exists with the options it uses.

``python tests/test_deployment_doc.py`` rewrites the settings table from the class (a new
setting needs its meaning in MEANINGS below first).
"""

from __future__ import annotations

import re
import shlex
import sys
import typing
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"
START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"

MEANINGS = {
    "env": "`production` enforces secure keys, TOTP for reviewers and administrators, `Secure` cookies and HSTS",
    "database_url": "the database: `sqlite:///path` or `postgresql+psycopg://user@host:5432/name`",
    "secret_key": "required in production (at least 32 characters of its own, checked at start); this version "
                  "signs nothing with it yet (sessions, CSRF and API tokens are random values stored as SHA-256 "
                  "digests)",
    "audit_key": "the HMAC key of the audit chain; at least 32 characters, different from the secret key; without "
                 "it the chain cannot be verified, and a backup is restored only with it",
    "session_hours": "lifetime of a web session, hours",
    "token_days": "longest lifetime of an API bearer token, days",
    "lockout_failures": "failed logins in a row that lock an account",
    "lockout_minutes": "how long a locked account stays locked, minutes",
    "rate_limit_per_minute": "login attempts per client address per minute (per server process)",
    "notify_log10_lr": "a new candidate with log10 LR at or above this notifies its report's investigator",
    "review_log10_lr": "a reviewed candidate whose LR falls below this (after a correction) is flagged",
    "registration_lr_threshold": "a late birth-registration check below this LR is flagged",
    "prior": "the prior probability behind the posteriors shown",
    "verbal_scale": "`reunite lr`'s verbal scale: a built-in scale or a CSV/JSON scale file",
    "smtp_host": "mail server for notifications (none: no e-mail)",
    "smtp_port": "its port",
    "smtp_from": "the notifications' sender address",
    "smtp_user": "mail server login",
    "smtp_password": "mail server password",
    "smtp_starttls": "use STARTTLS with the mail server",
    "webhook_url": "notifications are also posted to this URL",
    "cors_origins": "web origins allowed by CORS (e.g. `[\"https://reunite.example.gov.cn\"]`); never `*` or `null`",
    "behind_proxy": "trust the last `X-Forwarded-For` entry as the client's address",
    "language": "the pages' language when neither the user nor the browser says",
    "data_dir": "where imported frequency tables are kept",
}
DEFAULTS_SHOWN = {  # defaults that are not shown as they are
    "database_url": "(none): `sqlite:///reunite.db`",
    "secret_key": "a development value",
    "audit_key": "a development value",
    "prior": "(none): 1 / (number of compatible families)",
    "data_dir": "(none): `$XDG_DATA_HOME/reunite` or `~/.local/share/reunite`",
}


def _type(annotation, metadata) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return " or ".join(f"`{a}`" for a in typing.get_args(annotation))
    if args and typing.get_origin(annotation) is not list:
        annotation = args[0]
    bounds = []
    for m in metadata:
        for op, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(m, op, None) is not None:
                bounds.append(f"{sign} {getattr(m, op)}")
    kind = {str: "text", float: "number", int: "integer", bool: "true/false"}.get(annotation)
    if typing.get_origin(annotation) is list:
        kind = "JSON list"
    return f"{kind} {' and '.join(bounds)}".strip()


def settings_table() -> str:
    """The markdown table of every setting, from :class:`reunite.settings.Settings`."""
    from reunite.settings import Settings

    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        if name not in MEANINGS:
            raise KeyError(f"setting {name!r} has no meaning in MEANINGS ({__file__}); write one")
        if name in DEFAULTS_SHOWN:
            default = DEFAULTS_SHOWN[name]
        elif field.default is None:
            default = "(none)"
        else:
            default = f"`{field.default}`"
        rows.append(f"| `REUNITE_{name.upper()}` | {_type(field.annotation, field.metadata)} | {default} | "
                    f"{MEANINGS[name]} |")
    return "\n".join(rows)


def _documented_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def test_the_settings_table_is_the_settings_class():
    assert _documented_table() == settings_table(), (
        "docs/deployment.md's settings table differs from reunite.settings.Settings: run "
        "'python tests/test_deployment_doc.py' to rewrite it")


def _commands() -> list[list[str]]:
    """The ``reunite ...`` command lines of the doc's sh code blocks (continuations joined)."""
    text = DOC.read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```(?:sh|cron)\n(.*?)```", text, flags=re.S):
        block = block.replace("\\\n", " ")
        for line in block.splitlines():
            line = line.split(" #")[0].split("&&")[-1].split(";")[-1]
            words = shlex.split(line.replace("$(", "(")) if "reunite " in line else []
            while words and "=" in words[0]:
                words.pop(0)  # VAR=value before the command
            if words and words[0].endswith("reunite") and len(words) > 1:
                lines.append(words[1:])
    return lines


def test_every_documented_command_exists_with_its_options():
    import typer

    from reunite.cli import app

    root = typer.main.get_command(app)
    found = _commands()
    assert len(found) >= 12
    for words in found:
        command, used = root, []
        for word in words:
            if hasattr(command, "commands") and word in command.commands:
                command = command.commands[word]
                used.append(word)
            elif hasattr(command, "commands"):
                raise AssertionError(f"docs/deployment.md: 'reunite {' '.join(words)}': no command "
                                     f"'reunite {' '.join(used + [word])}'")
        assert not hasattr(command, "commands"), f"'reunite {' '.join(words)}' names a group, not a command"
        options = {opt for p in command.params for opt in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
        for word in words:
            if word.startswith("--"):
                assert word.split("=")[0] in options, f"'reunite {' '.join(words)}': no option {word}"


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    DOC.write_text(f"{before}{START}\n{settings_table()}\n{END}{after}", encoding="utf-8")
    sys.exit(0)
