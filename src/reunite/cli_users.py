"""``reunite user ...``, ``reunite audit ...``, ``reunite jurisdiction ...``.

The first user of an empty database is added without ``--as`` and must be an administrator;
every later command acts as a registered user (``--as USER`` or ``$REUNITE_USER``).
"""

from __future__ import annotations

import functools
import sys
from datetime import date, datetime

import typer
from rich.markup import escape
from rich.table import Table

from reunite.cli_common import AS_USER, acting, console, err, open_store, read, write
from reunite.errors import ReuniteError

user_app = typer.Typer(help="Users: add, list, disable, reset passwords, TOTP, tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log: verify, head, list.", no_args_is_help=True)
jurisdiction_app = typer.Typer(help="Jurisdictions and agencies.", no_args_is_help=True)
token_app = typer.Typer(help="API bearer tokens: create (shown once), list, revoke.", no_args_is_help=True)
user_app.add_typer(token_app, name="token")


def clean_errors(command):
    """A command whose ReuniteErrors print as 'error: ...' with exit status 1 (no traceback)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ReuniteError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return run


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


def _password(*, stdin: bool, prompt: str = "Password") -> str:
    if stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise ReuniteError("--password-stdin: expected the password on the first line of standard input, found "
                               "an empty line")
        return password
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=True)


def _print_next(cursor: str | None, command: str) -> None:
    if cursor:
        console.print(f"more: the same '{command}' with --cursor {cursor}", highlight=False)


# ---------------------------------------------------------------------------------------------
# users


@user_app.command("add")
@clean_errors
def user_add(username: str = typer.Argument(..., help="Lower-case letters, digits, '.', '_' or '-'."),
             role: list[str] = typer.Option(..., "--role", help="A role (repeat for several): analyst, investigator, "
                                            "reviewer, welfare, registration, administrator, auditor."),
             jurisdiction: str = typer.Option(..., "--jurisdiction", help="The user's jurisdiction code (CN: national)."),
             agency: str = typer.Option(None, "--agency", help="The user's agency code."),
             name: str = typer.Option(None, "--name", help="Display name."),
             email: str = typer.Option(None, "--email"),
             password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
             as_user: str = AS_USER) -> None:
    """Add a user (the first user of an empty database: an administrator, without --as)."""
    from reunite.security.users import bootstrap_actor, create_user, users_exist

    if as_user:
        engine, _, actor = acting(as_user)
    else:
        engine, _ = open_store()
        if read(engine, users_exist):
            engine, _, actor = acting(None)  # $REUNITE_USER, or a clear error naming --as
        else:
            if "administrator" not in role:
                raise ReuniteError("--role: the first user of a database must be an administrator "
                                   "(add --role administrator)")
            actor = bootstrap_actor()
    password = _password(stdin=password_stdin)

    def work(s):
        if actor.username == "bootstrap" and actor.user_id is None and users_exist(s):
            raise ReuniteError("--as: users exist now; name the administrator acting")
        user = create_user(s, actor=actor, username=username, password=password, roles=role,
                           jurisdiction_code=jurisdiction, agency_code=agency, display_name=name, email=email)
        return user.username

    added = write(engine, work)
    console.print(f"added user {escape(added)} ({', '.join(sorted(set(role)))}) in {escape(jurisdiction)}",
                  highlight=False)


@user_app.command("list")
@clean_errors
def user_list(role: str = typer.Option(None, "--role"), jurisdiction: str = typer.Option(None, "--jurisdiction",
              help="Users in this jurisdiction's subtree."),
              active: bool = typer.Option(None, "--active/--disabled", help="Only active or only disabled users."),
              cursor: str = typer.Option(None, "--cursor"), limit: int = typer.Option(100, "--limit"),
              as_user: str = AS_USER) -> None:
    """List users (in the acting user's jurisdiction)."""
    from reunite.security.users import list_users

    engine, _, actor = acting(as_user)
    page = read(engine, lambda s: list_users(s, actor=actor, role=role, jurisdiction=jurisdiction, active=active,
                                             cursor=cursor, limit=limit))
    table = Table(title="Users")
    for col in ("user", "name", "roles", "jurisdiction", "agency", "active", "TOTP", "locked until", "created"):
        table.add_column(col, overflow="fold")
    for u in page.items:
        table.add_row(escape(u.username), escape(u.display_name or ""), ", ".join(u.roles), escape(u.jurisdiction),
                      escape(u.agency or ""), "yes" if u.active else "[red]no[/red]", "yes" if u.totp else "no",
                      _when(u.locked_until), _when(u.created_at))
    console.print(table)
    _print_next(page.next_cursor, "reunite user list")


def _set_active(username: str, as_user: str | None, active: bool) -> None:
    from reunite.security.users import set_active

    engine, _, actor = acting(as_user)
    write(engine, lambda s: set_active(s, actor=actor, username=username, active=active))
    console.print(f"{'enabled (and unlocked)' if active else 'disabled (its tokens revoked)'}: {escape(username)}",
                  highlight=False)


@user_app.command("disable")
@clean_errors
def user_disable(username: str, as_user: str = AS_USER) -> None:
    """Disable a user: no more logins, every token and session revoked."""
    _set_active(username, as_user, False)


@user_app.command("enable")
@clean_errors
def user_enable(username: str, as_user: str = AS_USER) -> None:
    """Enable a user again (also clears a lockout after failed logins)."""
    _set_active(username, as_user, True)


@user_app.command("password")
@clean_errors
def user_password(username: str,
                  password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from "
                                                      "stdin (and, changing your own, the current one first)."),
                  as_user: str = AS_USER) -> None:
    """Set a new password: an administrator resets anyone's (their tokens are revoked); a
    user changes their own (the current password is asked)."""
    from reunite.security.users import change_own_password, reset_password

    engine, _, actor = acting(as_user)
    if username == actor.username and not actor.can("user:write"):
        old = sys.stdin.readline().rstrip("\r\n") if password_stdin else typer.prompt("Current password",
                                                                                       hide_input=True)
        new = _password(stdin=password_stdin, prompt="New password")
        write(engine, lambda s: change_own_password(s, actor=actor, old_password=old, new_password=new))
    else:
        new = _password(stdin=password_stdin, prompt="New password")
        write(engine, lambda s: reset_password(s, actor=actor, username=username, password=new))
    console.print(f"password changed: {escape(username)} (its tokens and sessions were revoked)", highlight=False)


@user_app.command("roles")
@clean_errors
def user_roles(username: str, role: list[str] = typer.Option(..., "--role", help="The new roles (repeat)."),
               as_user: str = AS_USER) -> None:
    """Replace a user's roles."""
    from reunite.security.users import set_roles

    engine, _, actor = acting(as_user)
    info = write(engine, lambda s: set_roles(s, actor=actor, username=username, roles=role))
    console.print(f"{escape(username)}: {', '.join(info.roles)}", highlight=False)


@user_app.command("totp")
@clean_errors
def user_totp(username: str, remove: bool = typer.Option(False, "--remove", help="Remove the second factor."),
              as_user: str = AS_USER) -> None:
    """Enrol a new TOTP second factor (prints the secret and otpauth:// URI once), or remove it."""
    from reunite.security.users import enrol_totp, remove_totp

    engine, _, actor = acting(as_user)
    if remove:
        write(engine, lambda s: remove_totp(s, actor=actor, username=username))
        console.print(f"second factor removed: {escape(username)}", highlight=False)
        return
    done = write(engine, lambda s: enrol_totp(s, actor=actor, username=username))
    console.print(f"TOTP secret of {escape(username)} (shown once; enter it in an authenticator app):", highlight=False)
    console.print(done.secret, highlight=False)
    console.print(done.uri, highlight=False, soft_wrap=True)


@token_app.command("create")
@clean_errors
def token_create(user: str = typer.Option(None, "--user", help="For another user (needs user:write)."),
                 name: str = typer.Option(None, "--name", help="What the token is for."),
                 days: float = typer.Option(None, "--days", help="Lifetime (default and maximum: REUNITE_TOKEN_DAYS)."),
                 as_user: str = AS_USER) -> None:
    """Create an API bearer token (printed once: keep it secret)."""
    from reunite.security.login import issue_api_token
    from reunite.settings import get_settings

    engine, _, actor = acting(as_user)
    settings = get_settings()
    done = write(engine, lambda s: issue_api_token(s, actor=actor, settings=settings, username=user, name=name,
                                                   days=days))
    err.print(f"token {done.token_id} of {escape(done.actor.username)}, valid until {_when(done.expires_at)} UTC "
              "(use it as 'Authorization: Bearer <token>'; it is not shown again):", highlight=False)
    console.print(done.token, highlight=False)


@token_app.command("list")
@clean_errors
def token_list(user: str = typer.Option(None, "--user", help="Another user's (needs user:read)."),
               all_: bool = typer.Option(False, "--all", help="Also revoked and expired ones."),
               as_user: str = AS_USER) -> None:
    """List tokens and sessions."""
    from reunite.security.login import list_tokens

    engine, _, actor = acting(as_user)
    rows = read(engine, lambda s: list_tokens(s, actor=actor, username=user, include_inactive=all_))
    table = Table(title=f"Tokens of {escape(user or actor.username)}")
    for col in ("id", "kind", "name", "created", "expires", "revoked", "address"):
        table.add_column(col, overflow="fold")
    for t in rows:
        table.add_row(str(t.id), t.kind, escape(t.name or ""), _when(t.created_at), _when(t.expires_at),
                      f"{_when(t.revoked_at)} by {escape(t.revoked_by or '?')}" if t.revoked_at else "",
                      escape(t.address or ""))
    console.print(table)


@token_app.command("revoke")
@clean_errors
def token_revoke(token_id: int = typer.Argument(None, help="The token's id ('reunite user token list')."),
                 user: str = typer.Option(None, "--user", help="Revoke every token of this user (needs user:write)."),
                 as_user: str = AS_USER) -> None:
    """Revoke one token, or every token of a user (--user)."""
    from reunite.security.login import revoke_token
    from reunite.security.users import revoke_user_tokens

    if (token_id is None) == (user is None):
        raise ReuniteError("token_id: give a token id or --user USER (not both)")
    engine, _, actor = acting(as_user)
    if user is not None:
        n = write(engine, lambda s: revoke_user_tokens(s, actor=actor, username=user))
        console.print(f"revoked {n} token(s) of {escape(user)}", highlight=False)
        return
    done = write(engine, lambda s: revoke_token(s, actor=actor, token_id=token_id))
    console.print(f"token {token_id} {'revoked' if done else 'was already revoked'}", highlight=False)


# ---------------------------------------------------------------------------------------------
# audit


@audit_app.command("verify")
@clean_errors
def audit_verify(expect_head: str = typer.Option(None, "--expect-head", help="SEQ:MAC printed earlier by "
                                                 "'reunite audit head' (catches a cut or rewritten end)."),
                 as_user: str = AS_USER) -> None:
    """Recompute the HMAC chain with REUNITE_AUDIT_KEY; exit status 1 at the first broken link."""
    from reunite.audit.service import parse_head, verify_chain
    from reunite.settings import get_settings

    expected = parse_head(expect_head) if expect_head else None
    engine, _, actor = acting(as_user)
    key = get_settings().audit_key
    result = read(engine, lambda s: verify_chain(s, actor=actor, key=key, expected_head=expected))
    if result.ok:
        console.print(f"[green]{escape(result.describe())}[/green]", highlight=False)
        return
    err.print(f"[red]{escape(result.describe())}[/red]", highlight=False)
    raise typer.Exit(1)


@audit_app.command("head")
@clean_errors
def audit_head(as_user: str = AS_USER) -> None:
    """Print the chain's head as SEQ:MAC: record it elsewhere (paper, another system) and
    check later with 'reunite audit verify --expect-head SEQ:MAC'."""
    from reunite.audit.service import chain_head

    engine, _, actor = acting(as_user)
    seq, mac = read(engine, lambda s: chain_head(s, actor=actor))
    console.print(f"{seq}:{mac}", highlight=False)


def _date(value: str | None, option: str) -> date | datetime | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    except ValueError:
        raise ReuniteError(f"{option}: expected a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM, found {value!r}") from None


@audit_app.command("list")
@clean_errors
def audit_list(by: str = typer.Option(None, "--by", help="The acting user."),
               action: str = typer.Option(None, "--action", help="An action, or a prefix ending in '*' (user.*)."),
               entity: str = typer.Option(None, "--entity"), entity_id: str = typer.Option(None, "--entity-id"),
               since: str = typer.Option(None, "--since", help="YYYY-MM-DD"),
               until: str = typer.Option(None, "--until", help="YYYY-MM-DD (the whole day)"),
               oldest: bool = typer.Option(False, "--oldest", help="Oldest first."),
               cursor: str = typer.Option(None, "--cursor"), limit: int = typer.Option(50, "--limit"),
               as_user: str = AS_USER) -> None:
    """List audit entries (newest first)."""
    import json

    from reunite.audit.service import list_entries

    start, end = _date(since, "--since"), _date(until, "--until")
    engine, _, actor = acting(as_user)
    page = read(engine, lambda s: list_entries(s, actor=actor, by=by, action=action, entity=entity,
                                               entity_id=entity_id, since=start, until=end, cursor=cursor,
                                               limit=limit, newest_first=not oldest))
    table = Table(title="Audit log")
    for col in ("seq", "time (UTC)", "actor", "address", "action", "entity", "details"):
        table.add_column(col, overflow="fold", no_wrap=col in ("seq", "action"))
    for e in page.items:
        table.add_row(str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), escape(e.actor), escape(e.address or ""),
                      escape(e.action), escape(f"{e.entity or ''} {e.entity_id or ''}".strip()),
                      escape(json.dumps(e.details, ensure_ascii=False, sort_keys=True)))
    console.print(table)
    _print_next(page.next_cursor, "reunite audit list")


# ---------------------------------------------------------------------------------------------
# jurisdictions and agencies


@jurisdiction_app.command("add")
@clean_errors
def jurisdiction_add(code: str, name: str, parent: str = typer.Option("CN", "--parent", help="The parent's code."),
                     name_zh: str = typer.Option(None, "--name-zh", help="The Chinese name."),
                     as_user: str = AS_USER) -> None:
    """Add a jurisdiction one level below its parent (province, prefecture, county)."""
    from reunite.security.jurisdictions import add_jurisdiction

    engine, _, actor = acting(as_user)
    level = write(engine, lambda s: add_jurisdiction(s, actor=actor, code=code, name=name, parent_code=parent,
                                                     name_zh=name_zh).level)
    console.print(f"added {level} {escape(code)} {escape(name)} under {escape(parent)}", highlight=False)


@jurisdiction_app.command("list")
@clean_errors
def jurisdiction_list(as_user: str = AS_USER) -> None:
    """The jurisdiction tree."""
    from reunite.security.actor import system_actor
    from reunite.security.jurisdictions import list_jurisdictions

    if as_user:
        engine, _, actor = acting(as_user)
    else:
        engine, _ = open_store()
        actor = system_actor()
    rows = read(engine, lambda s: [(r.code, r.name, r.name_zh, r.level, r.path)
                                   for r in list_jurisdictions(s, actor=actor)])
    table = Table(title="Jurisdictions")
    for col in ("code", "name", "中文", "level"):
        table.add_column(col, overflow="fold")
    for code, name, zh, level, path in rows:
        indent = "  " * (path.count("/") - 1)
        table.add_row(f"{indent}{escape(code)}", escape(name), escape(zh or ""), level)
    console.print(table)


@jurisdiction_app.command("agency-add")
@clean_errors
def agency_add(code: str, name: str, jurisdiction: str = typer.Option(..., "--jurisdiction"),
               kind: str = typer.Option(None, "--kind", help="police, lab, welfare or registration"),
               name_zh: str = typer.Option(None, "--name-zh"), as_user: str = AS_USER) -> None:
    """Add an agency (a police bureau, laboratory, welfare institute) in a jurisdiction."""
    from reunite.security.jurisdictions import add_agency

    if kind is not None and kind not in ("police", "lab", "welfare", "registration"):
        raise ReuniteError(f"--kind: expected police, lab, welfare or registration, found {kind!r}")
    engine, _, actor = acting(as_user)
    write(engine, lambda s: add_agency(s, actor=actor, code=code, name=name, jurisdiction_code=jurisdiction,
                                       kind=kind, name_zh=name_zh))
    console.print(f"added agency {escape(code)} in {escape(jurisdiction)}", highlight=False)


@jurisdiction_app.command("agencies")
@clean_errors
def agency_list(jurisdiction: str = typer.Option(None, "--jurisdiction", help="Within this subtree."),
                as_user: str = AS_USER) -> None:
    """List agencies."""
    from reunite.security.actor import system_actor
    from reunite.security.jurisdictions import list_agencies

    if as_user:
        engine, _, actor = acting(as_user)
    else:
        engine, _ = open_store()
        actor = system_actor()
    rows = read(engine, lambda s: [(a.code, a.name, a.name_zh, a.kind, code)
                                   for a, code in list_agencies(s, actor=actor, jurisdiction_code=jurisdiction)])
    table = Table(title="Agencies")
    for col in ("code", "name", "中文", "kind", "jurisdiction"):
        table.add_column(col, overflow="fold")
    for code, name, zh, kind, where in rows:
        table.add_row(escape(code), escape(name), escape(zh or ""), kind or "", escape(where))
    console.print(table)
