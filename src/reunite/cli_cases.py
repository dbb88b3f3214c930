"""``reunite report ...``, ``reunite operation ...``, ``reunite child ...``, ``reunite registration ...``:
the record services of :mod:`reunite.cases` (reports, consent, operations, unidentified
persons, registration checks), acting as ``--as USER``.  Each command parses, calls one
service and prints; searches a change leaves pending run after its commit."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone

import typer
from rich.markup import escape
from rich.table import Table

from reunite.cli_common import AS_USER, acting, console, print_table, err, write
from reunite.errors import ReuniteError

report_app = typer.Typer(help="Missing-child reports, their references and consent.", no_args_is_help=True)
operation_app = typer.Typer(help="Rescue operations.", no_args_is_help=True)
child_app = typer.Typer(help="Unidentified persons: rescued children, children of unclear origin, ...",
                        no_args_is_help=True)
registration_app = typer.Typer(help="Late birth-registration checks.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON.")
CURSOR = typer.Option(None, "--cursor", help="The next_cursor a previous page printed.")
LIMIT = typer.Option(50, "--limit", help="At most this many rows (1 to 500).")
RELATION_NAMES = ("father", "mother", "full_sibling", "half_sibling_paternal", "half_sibling_maternal",
                  "paternal_grandfather", "paternal_grandmother", "maternal_grandfather", "maternal_grandmother",
                  "paternal_uncle", "paternal_aunt", "maternal_uncle", "maternal_aunt")
NO_SEARCH = typer.Option(False, "--no-search", help="Leave the search pending ('reunite search --pending').")


def _date(value: str | None, option: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReuniteError(f"{option}: expected a date YYYY-MM-DD, found {value!r}") from None


#: columns of free text (names, places, verdicts): folded; every other column holds codes,
#: dates or numbers and is never cut or wrapped
FREE_TEXT = frozenset({"child_name", "given_name", "verbal", "name", "notes", "subject", "reason", "comment",
                       "circumstances", "contact", "contact_name", "missing_place_name", "consent_document",
                       "withdrawn_reason", "placement_name", "flags"})
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def when(value) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM`` (UTC); anything else as text."""
    if isinstance(value, str) and _TIMESTAMP.match(value):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def add_columns(table: Table, headers, rows, *, codes) -> None:
    """Columns of ``table``: those in ``codes`` never wrap and are as wide as their longest
    value (a code is never cut); the others fold."""
    from rich.cells import cell_len

    for i, header in enumerate(headers):
        if header in codes:
            width = max([cell_len(str(header))] + [cell_len(str(r[i])) for r in rows])
            table.add_column(header, no_wrap=True, min_width=width)
        else:
            table.add_column(header, overflow="fold")


def _table(title: str | None, columns, items: list[dict]) -> Table:
    rows = [[escape(when(item.get(c))) for c in columns] for item in items]
    table = Table(title=title)
    add_columns(table, columns, rows, codes=[c for c in columns if c not in FREE_TEXT])
    for row in rows:
        table.add_row(*row)
    return table


def _options(work, names: dict[str, str]):
    """Run ``work``; an error naming a service field (``missing_place_code: ...``) names the
    command's option instead (``--missing-place: ...``), same error class."""
    try:
        return work()
    except ReuniteError as exc:
        field, sep, rest = str(exc).partition(": ")
        if not sep or field not in names or type(exc).__init__ is not ReuniteError.__init__:
            raise
        raise type(exc)(f"{names[field]}: {rest}") from None


#: service fields -> options of 'report add'
REPORT_OPTIONS = {"child_sex": "--child-sex", "child_birth_date": "--birth-date",
                  "child_birth_date_latest": "--birth-date-latest", "missing_date": "--missing-date",
                  "missing_place_code": "--missing-place", "missing_place_detail": "--missing-place-detail",
                  "child_name": "--child-name", "contact_name": "--contact-name", "contact": "--contact",
                  "circumstances": "--circumstances", "jurisdiction": "--jurisdiction", "agency": "--agency",
                  "investigator": "--investigator", "family_code": "--family", "missing_code": "--missing-code",
                  "references": "--reference", "relation": "--reference (RELATION)",
                  "sample_code": "--reference (SAMPLE)", "sex": "--reference (SEX)",
                  "consent_document": "--reference (CONSENT_DOCUMENT)"}
#: service fields -> options of 'operation add'
OPERATION_OPTIONS = {"operation_date": "--date", "place_code": "--place", "place_detail": "--place-detail",
                     "suspects_case_number": "--case-number", "name": "--name", "notes": "--notes",
                     "jurisdiction": "--jurisdiction", "agency": "--agency"}


def _print(data: dict, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
        return
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            print_table(_table(key, list(value[0]), value))
        elif isinstance(value, (dict, list)):
            console.print(f"{key}: {escape(json.dumps(value, ensure_ascii=False))}", highlight=False)
        else:
            console.print(f"{key}: {escape(when(value))}", highlight=False)


def _print_page(page, as_json: bool, columns: tuple[str, ...]) -> None:
    if as_json:
        console.print_json(json.dumps({"items": page.items, "next_cursor": page.next_cursor}, ensure_ascii=False,
                                      default=str))
        return
    print_table(_table(None, columns, page.items))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", highlight=False)


def _search(engine, model, actor, no_search: bool) -> None:
    """Run the searches the change left pending (its own and any older ones)."""
    from reunite.cases.intake import complete_pending

    if no_search:
        console.print("the search is left pending: run 'reunite search --pending'")
        return
    try:
        done = complete_pending(engine, model, actor=actor)
    except ReuniteError as exc:
        err.print(f"[yellow]warning:[/yellow] the search could not run ({escape(str(exc))}); it stays pending: "
                  "run 'reunite search --pending'", highlight=False)
        return
    for s in done:
        console.print(f"searched ({s.kind}): {s.num_compared:,} pairs compared, {s.num_candidates:,} candidates "
                      f"with LR >= 1, {s.num_strong:,} ranked first with LR >= 10,000", highlight=False)


def _reference(text: str):
    from reunite.cases.reports import Reference

    parts = text.split(":")
    if len(parts) < 2 or len(parts) > 4:
        raise ReuniteError(f"--reference: expected RELATION:SAMPLE[:SEX[:CONSENT_DOCUMENT]], found {text!r}")
    parts += [None] * (4 - len(parts))
    return Reference(parts[0], parts[1], parts[2] or None, parts[3] or None)


# ----------------------------------------------------------------------------------------
# reports


@report_app.command("add")
def report_add(
    code: str = typer.Argument(..., help="The report's code, unique (also the code of its family pedigree)."),
    child_name: str = typer.Option(None, help="The missing child's name (personal)."),
    child_sex: str = typer.Option("U", help="The missing child's sex: M, F or U (unknown)."),
    birth_date: str = typer.Option(None, help="Date of birth, or the earliest of a range (YYYY-MM-DD)."),
    birth_date_latest: str = typer.Option(None, help="The latest date of birth of a range (YYYY-MM-DD)."),
    missing_date: str = typer.Option(None, help="When the child went missing (YYYY-MM-DD)."),
    missing_place: str = typer.Option(None, help="County code (GB/T 2260) where the child went missing."),
    missing_place_detail: str = typer.Option(None, help="Village, street, ... (personal)."),
    circumstances: str = typer.Option(None, help="What happened (personal)."),
    contact_name: str = typer.Option(None, help="Who reported (personal)."),
    contact: str = typer.Option(None, help="Their telephone or address (personal)."),
    jurisdiction: str = typer.Option(None, help="Owning jurisdiction code (default: yours)."),
    agency: str = typer.Option(None, help="Owning agency code (default: yours)."),
    investigator: str = typer.Option(None, help="Investigating user (default: you)."),
    reference: list[str] = typer.Option(None, "--reference",
                                        help="A family reference, repeated: RELATION:SAMPLE[:SEX[:CONSENT_DOCUMENT]], "
                                             "e.g. father:S-0012 or full_sibling:S-0013:F:form-7. Relations: "
                                             + ", ".join(RELATION_NAMES) + "."),
    family: str = typer.Option(None, help="Link an imported family instead of giving references."),
    missing_code: str = typer.Option(None, help="The linked family's missing person (if it has several)."),
    as_user: str = AS_USER, no_search: bool = NO_SEARCH, as_json: bool = JSON,
) -> None:
    """Register a missing-child report with its family references, and search."""
    from reunite.cases.reports import create_report, show_report

    engine, model, actor = acting(as_user)
    refs = [_reference(r) for r in reference or []]

    def work(s):
        report = create_report(
            s, actor=actor, code=code, child_name=child_name, child_sex=child_sex,
            child_birth_date=_date(birth_date, "--birth-date"),
            child_birth_date_latest=_date(birth_date_latest, "--birth-date-latest"),
            missing_date=_date(missing_date, "--missing-date"), missing_place_code=missing_place,
            missing_place_detail=missing_place_detail, circumstances=circumstances, contact_name=contact_name,
            contact=contact, jurisdiction_code=jurisdiction, agency_code=agency, investigator=investigator,
            references=refs, family_code=family, missing_code=missing_code)
        return report.code

    done = _options(lambda: write(engine, work), REPORT_OPTIONS)
    console.print(f"report {done} registered", highlight=False)
    _search(engine, model, actor, no_search)
    if as_json:
        _print(write(engine, lambda s: show_report(s, done, actor=actor)), True)


@report_app.command("show")
def report_show(code: str, as_user: str = AS_USER, as_json: bool = JSON) -> None:
    """A report (names and contacts only in your jurisdiction; the read is audited)."""
    from reunite.cases.reports import show_report

    engine, _, actor = acting(as_user)
    _print(write(engine, lambda s: show_report(s, code, actor=actor)), as_json)


@report_app.command("list")
def report_list(
    status: str = typer.Option(None), jurisdiction: str = typer.Option(None, help="Reports owned under this code."),
    agency: str = typer.Option(None), missing_from: str = typer.Option(None), missing_to: str = typer.Option(None),
    created_from: str = typer.Option(None), created_to: str = typer.Option(None),
    cursor: str = CURSOR, limit: int = LIMIT, as_user: str = AS_USER, as_json: bool = JSON,
) -> None:
    """Reports, newest first (others' with code, status, agency and jurisdiction only)."""
    from reunite.cases.reports import list_reports

    engine, _, actor = acting(as_user)
    page = write(engine, lambda s: list_reports(
        s, actor=actor, status=status, jurisdiction_code=jurisdiction, agency_code_=agency,
        missing_from=_date(missing_from, "--missing-from"), missing_to=_date(missing_to, "--missing-to"),
        created_from=_date(created_from, "--created-from"), created_to=_date(created_to, "--created-to"),
        cursor=cursor, limit=limit))
    _print_page(page, as_json, ("code", "status", "jurisdiction", "agency", "child_sex", "missing_date",
                                "missing_place", "child_name"))


@report_app.command("close")
def report_close(code: str, reason: str = typer.Option(..., "--reason"), as_user: str = AS_USER) -> None:
    """Close a report (with the reason)."""
    from reunite.cases.reports import close_report

    engine, _, actor = acting(as_user)
    write(engine, lambda s: close_report(s, code, actor=actor, reason=reason))
    console.print(f"report {code} closed", highlight=False)


@report_app.command("status")
def report_status(code: str, status: str, reason: str = typer.Option(None, "--reason"),
                  as_user: str = AS_USER) -> None:
    """Move a report to another status (open, candidate_under_review, identified, closed)."""
    from reunite.cases.reports import set_report_status

    engine, _, actor = acting(as_user)
    write(engine, lambda s: set_report_status(s, code, actor=actor, status=status, reason=reason))
    console.print(f"report {code}: {status}", highlight=False)


@report_app.command("reference-add")
def report_reference_add(
    code: str, relation: str = typer.Option(..., help="Relation to the missing child."),
    sample: str = typer.Option(..., help="The reference's sample code (imported genotypes)."),
    sex: str = typer.Option(None, help="M, F or U (siblings; fixed for the other relations)."),
    consent_document: str = typer.Option(None, help="Reference of the signed consent form."),
    reason: str = typer.Option(None, help="Why (kept with the pedigree's version)."),
    as_user: str = AS_USER, no_search: bool = NO_SEARCH,
) -> None:
    """Add a family reference to a report (the pedigree's earlier version is kept) and search again."""
    from reunite.cases.reports import add_reference

    engine, model, actor = acting(as_user)
    write(engine, lambda s: add_reference(s, code, actor=actor, relation=relation, sample_code=sample, sex=sex,
                                          consent_document=consent_document, reason=reason))
    console.print(f"report {code}: {relation} (sample {sample}) added", highlight=False)
    _search(engine, model, actor, no_search)


@report_app.command("reference-remove")
def report_reference_remove(
    code: str = typer.Argument(..., help="The report's code."),
    sample: str = typer.Option(..., help="The sample code of the reference given by mistake."),
    reason: str = typer.Option(..., "--reason", help="Why (kept with the pedigree's earlier version)."),
    as_user: str = AS_USER, no_search: bool = NO_SEARCH,
) -> None:
    """Remove a reference given by mistake: the sample belongs to nobody again (refused once a
    candidate's LR used it: then 'report consent-withdraw' or 'reunite correct')."""
    from reunite.cases.reports import remove_reference

    engine, model, actor = acting(as_user)
    done = write(engine, lambda s: remove_reference(s, code, actor=actor, sample_code=sample, reason=reason))
    console.print(f"report {escape(done['report'])}: reference {escape(done['person'])} (sample "
                  f"{escape(done['sample'])}) removed; the sample belongs to nobody now", highlight=False)
    if not done["references_left"]:
        console.print("the report has no typed reference left: add one ('reunite report reference-add')",
                      highlight=False)
    _search(engine, model, actor, no_search)


@report_app.command("consent-withdraw")
def report_consent_withdraw(
    code: str, sample: str = typer.Option(..., help="The reference's sample code."),
    reason: str = typer.Option(..., "--reason"), document: str = typer.Option(None, help="The withdrawal form."),
    as_user: str = AS_USER, no_search: bool = NO_SEARCH,
) -> None:
    """Record that a reference withdrew consent: its sample is withdrawn from every search at once."""
    from reunite.cases.consent import withdraw_consent

    engine, model, actor = acting(as_user)
    write(engine, lambda s: withdraw_consent(s, code, actor=actor, sample_code=sample, reason=reason,
                                             document=document))
    console.print(f"report {code}: consent of sample {sample} withdrawn; the sample is no longer searched "
                  "(kept sealed as evidence)", highlight=False)
    _search(engine, model, actor, no_search)


def _given(pairs) -> dict:
    """The options given (not None); an empty text clears the field (None)."""
    return {k: (None if v == "" else v) for k, v in pairs if v is not None}


EDIT_OPTIONS = {**REPORT_OPTIONS, "agency_code": "--agency"}


@report_app.command("edit")
def report_edit(
    code: str = typer.Argument(..., help="The report's code."),
    reason: str = typer.Option(..., "--reason", help="Why (kept with the earlier version)."),
    child_name: str = typer.Option(None, help="The missing child's name (personal)."),
    child_sex: str = typer.Option(None, help="M, F or U."),
    birth_date: str = typer.Option(None, help="Date of birth, or the earliest of a range (YYYY-MM-DD)."),
    birth_date_latest: str = typer.Option(None, help="The latest date of birth of a range (YYYY-MM-DD)."),
    missing_date: str = typer.Option(None, help="When the child went missing (YYYY-MM-DD)."),
    missing_place: str = typer.Option(None, help="County code (GB/T 2260) where the child went missing."),
    missing_place_detail: str = typer.Option(None, help="Village, street, ... (personal)."),
    circumstances: str = typer.Option(None, help="What happened (personal)."),
    contact_name: str = typer.Option(None, help="Who reported (personal)."),
    contact: str = typer.Option(None, help="Their telephone or address (personal)."),
    investigator: str = typer.Option(None, help="Investigating user."),
    agency: str = typer.Option(None, help="Owning agency code."),
    as_user: str = AS_USER, no_search: bool = NO_SEARCH,
) -> None:
    """Change a report's details (only the options given; '' clears one); the earlier version
    is kept with the reason; a change of the child's sex or dates searches the family again."""
    from reunite.cases.reports import SEARCHED_FIELDS, update_report

    engine, model, actor = acting(as_user)
    given = _given((("child_name", child_name), ("child_sex", child_sex),
                    ("child_birth_date", _date(birth_date, "--birth-date")),
                    ("child_birth_date_latest", _date(birth_date_latest, "--birth-date-latest")),
                    ("missing_date", _date(missing_date, "--missing-date")), ("missing_place_code", missing_place),
                    ("missing_place_detail", missing_place_detail), ("circumstances", circumstances),
                    ("contact_name", contact_name), ("contact", contact), ("investigator", investigator),
                    ("agency_code", agency)))
    for option, value in (("child_birth_date", birth_date), ("child_birth_date_latest", birth_date_latest),
                          ("missing_date", missing_date)):
        if value == "":
            given[option] = None
    _options(lambda: write(engine, lambda s: update_report(s, code, actor=actor, reason=reason, **given)),
             EDIT_OPTIONS)
    console.print(f"report {code} updated ({', '.join(EDIT_OPTIONS.get(k, k) for k in given)})", highlight=False)
    if set(SEARCHED_FIELDS) & set(given):
        _search(engine, model, actor, no_search)


@report_app.command("issued")
def report_issued(kind: str = typer.Option(None, help="kinship, operation or statistics."),
                  cursor: str = CURSOR, limit: int = LIMIT, as_user: str = AS_USER, as_json: bool = JSON) -> None:
    """Issued PDF reports, newest first (yours and those of your jurisdiction's records;
    auditors: every one)."""
    from reunite.reports.registry import list_issued

    engine, _, actor = acting(as_user)
    page = write(engine, lambda s: list_issued(s, actor=actor, kind=kind, cursor=cursor, limit=limit))
    _print_page(page, as_json, ("id", "kind", "subject", "language", "issued_by", "issued_at", "sha256"))


# ----------------------------------------------------------------------------------------
# operations


@operation_app.command("add")
def operation_add(
    code: str = typer.Argument(..., help="The operation's code (unique), e.g. OP-2024-BUTUO-01."),
    name: str = typer.Option(None, help="A short name of the operation."),
    operation_date: str = typer.Option(None, "--date", help="When the children were rescued (YYYY-MM-DD)."),
    place: str = typer.Option(None, help="Where: a place code (GB/T 2260), e.g. 513429 for Butuo."),
    place_detail: str = typer.Option(None, help="Village, street, building, ... (free text)."),
    jurisdiction: str = typer.Option(None, help="Owning jurisdiction code (default: yours)."),
    agency: str = typer.Option(None, help="Owning agency code (default: yours)."),
    suspects_case_number: str = typer.Option(None, "--case-number",
                                             help="The criminal case number of the suspects."),
    notes: str = typer.Option(None, help="Notes (free text)."),
    as_user: str = AS_USER,
) -> None:
    """Register a rescue operation; the children rescued are then added with 'reunite child add
    --operation CODE'."""
    from reunite.cases.operations import create_operation

    engine, _, actor = acting(as_user)
    _options(lambda: write(engine, lambda s: create_operation(
        s, actor=actor, code=code, name=name, operation_date=_date(operation_date, "--date"), place_code=place,
        place_detail=place_detail, jurisdiction_code=jurisdiction, agency_code_=agency,
        suspects_case_number=suspects_case_number, notes=notes)), OPERATION_OPTIONS)
    console.print(f"operation {code} registered", highlight=False)


@operation_app.command("show")
def operation_show(code: str, as_user: str = AS_USER, as_json: bool = JSON) -> None:
    """An operation and the children rescued."""
    from reunite.cases.operations import show_operation

    engine, _, actor = acting(as_user)
    _print(write(engine, lambda s: show_operation(s, code, actor=actor)), as_json)


@operation_app.command("list")
def operation_list(jurisdiction: str = typer.Option(None), date_from: str = typer.Option(None),
                   date_to: str = typer.Option(None), cursor: str = CURSOR, limit: int = LIMIT,
                   as_user: str = AS_USER, as_json: bool = JSON) -> None:
    """Rescue operations, newest first."""
    from reunite.cases.operations import list_operations

    engine, _, actor = acting(as_user)
    page = write(engine, lambda s: list_operations(
        s, actor=actor, jurisdiction_code=jurisdiction, date_from=_date(date_from, "--date-from"),
        date_to=_date(date_to, "--date-to"), cursor=cursor, limit=limit))
    _print_page(page, as_json, ("code", "jurisdiction", "agency", "operation_date", "place", "children_count"))


@operation_app.command("edit")
def operation_edit(
    code: str = typer.Argument(..., help="The operation's code."),
    reason: str = typer.Option(..., "--reason", help="Why (kept with the earlier version)."),
    name: str = typer.Option(None, help="A short name of the operation."),
    operation_date: str = typer.Option(None, "--date", help="When the children were rescued (YYYY-MM-DD)."),
    place: str = typer.Option(None, help="Where: a place code (GB/T 2260)."),
    place_detail: str = typer.Option(None, help="Village, street, building, ... (free text)."),
    agency: str = typer.Option(None, help="Owning agency code."),
    suspects_case_number: str = typer.Option(None, "--case-number", help="The criminal case number of the suspects."),
    notes: str = typer.Option(None, help="Notes (free text)."),
    as_user: str = AS_USER,
) -> None:
    """Change a rescue operation (only the options given; '' clears one); the earlier version
    is kept with the reason."""
    from reunite.cases.operations import update_operation

    engine, _, actor = acting(as_user)
    given = _given((("name", name), ("operation_date", _date(operation_date, "--date")), ("place_code", place),
                    ("place_detail", place_detail), ("agency_code_", agency),
                    ("suspects_case_number", suspects_case_number), ("notes", notes)))
    if operation_date == "":
        given["operation_date"] = None
    names = {**OPERATION_OPTIONS, "agency_code_": "--agency"}
    _options(lambda: write(engine, lambda s: update_operation(s, code, actor=actor, reason=reason, **given)), names)
    console.print(f"operation {code} updated ({', '.join(names.get(k, k) for k in given)})", highlight=False)


# ----------------------------------------------------------------------------------------
# unidentified persons


@child_app.command("add")
def child_add(
    code: str, sample: str = typer.Option(..., help="Sample code (imported genotypes)."),
    sex: str = typer.Option("U"), category: str = typer.Option("rescued_child"),
    found_date: str = typer.Option(None), found_place: str = typer.Option(None, help="Place code (GB/T 2260)."),
    found_place_detail: str = typer.Option(None), birth_date: str = typer.Option(None, "--estimated-birth-date"),
    age: float = typer.Option(None, "--estimated-age", help="Estimated age in years when found."),
    placement_kind: str = typer.Option(None), placement_name: str = typer.Option(None),
    jurisdiction: str = typer.Option(None), agency: str = typer.Option(None),
    operation: str = typer.Option(None, help="The rescue operation's code."),
    given_name: str = typer.Option(None, help="A name the child gives (personal)."),
    as_user: str = AS_USER, no_search: bool = NO_SEARCH,
) -> None:
    """Register an unidentified person with their sample, and search them against every family."""
    from reunite.cases.unidentified import create_unidentified

    engine, model, actor = acting(as_user)
    write(engine, lambda s: create_unidentified(
        s, actor=actor, code=code, sample_code=sample, sex=sex, category=category,
        found_date=_date(found_date, "--found-date"), found_place_code=found_place,
        found_place_detail=found_place_detail, estimated_birth_date=_date(birth_date, "--estimated-birth-date"),
        estimated_age=age, placement_kind=placement_kind, placement_name=placement_name,
        jurisdiction_code=jurisdiction, agency_code_=agency, operation_code=operation, given_name=given_name))
    console.print(f"unidentified person {code} registered", highlight=False)
    _search(engine, model, actor, no_search)


@child_app.command("show")
def child_show(code: str, as_user: str = AS_USER, as_json: bool = JSON) -> None:
    """An unidentified person."""
    from reunite.cases.unidentified import show_unidentified

    engine, _, actor = acting(as_user)
    _print(write(engine, lambda s: show_unidentified(s, code, actor=actor)), as_json)


@child_app.command("list")
def child_list(status: str = typer.Option(None), category: str = typer.Option(None),
               jurisdiction: str = typer.Option(None), operation: str = typer.Option(None),
               found_from: str = typer.Option(None), found_to: str = typer.Option(None), cursor: str = CURSOR,
               limit: int = LIMIT, as_user: str = AS_USER, as_json: bool = JSON) -> None:
    """Unidentified persons, newest first."""
    from reunite.cases.unidentified import list_unidentified

    engine, _, actor = acting(as_user)
    page = write(engine, lambda s: list_unidentified(
        s, actor=actor, status=status, category=category, jurisdiction_code=jurisdiction, operation_code=operation,
        found_from=_date(found_from, "--found-from"), found_to=_date(found_to, "--found-to"), cursor=cursor,
        limit=limit))
    _print_page(page, as_json, ("code", "status", "category", "jurisdiction", "agency", "sex", "found_date",
                                "operation", "given_name"))


@child_app.command("place")
def child_place(
    code: str, reason: str = typer.Option(..., "--reason"), placement_kind: str = typer.Option(None),
    placement_name: str = typer.Option(None), given_name: str = typer.Option(None),
    category: str = typer.Option(None), found_date: str = typer.Option(None),
    birth_date: str = typer.Option(None, "--estimated-birth-date"), operation: str = typer.Option(None),
    as_user: str = AS_USER, no_search: bool = NO_SEARCH,
) -> None:
    """Change an unidentified person's placement or details (the earlier version is kept)."""
    from reunite.cases.unidentified import update_unidentified

    engine, model, actor = acting(as_user)
    given = {k: v for k, v in (("placement_kind", placement_kind), ("placement_name", placement_name),
                               ("given_name", given_name), ("category", category),
                               ("found_date", _date(found_date, "--found-date")),
                               ("estimated_birth_date", _date(birth_date, "--estimated-birth-date")),
                               ("operation_code", operation)) if v is not None}
    write(engine, lambda s: update_unidentified(s, code, actor=actor, reason=reason, **given))
    console.print(f"unidentified person {code} updated", highlight=False)
    if {"found_date", "estimated_birth_date"} & set(given):
        _search(engine, model, actor, no_search)


# ----------------------------------------------------------------------------------------
# registration checks


def _lr_text(value) -> str:
    if isinstance(value, (int, float)):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _print_check(data: dict, as_json: bool) -> None:
    """A registration check: a summary, then the per-locus table (``--json``: everything)."""
    if as_json or data.get("restricted"):
        _print(data, as_json)
        return
    parents = data.get("claimed_parents") or {}
    log10 = data.get("log10_lr")
    lines = [("check", data["code"]), ("status", data["status"]), ("child", data.get("child")),
             ("child's given name", data.get("child_given_name")),
             ("registration number", data.get("registration_number")),
             ("claimed father", parents.get("father")), ("claimed mother", parents.get("mother")),
             ("LR", f"{_lr_text(data.get('lr'))} (log10 {log10:.2f})" if isinstance(log10, float)
              else f"{_lr_text(data.get('lr'))} (log10 {log10})"),
             ("verbal", data.get("verbal")), ("threshold", _lr_text(data.get("threshold"))),
             ("inconsistent loci", ", ".join(data.get("inconsistent_loci") or []) or "none"),
             ("jurisdiction", data.get("jurisdiction")), ("agency", data.get("agency")),
             ("created", f"{when(data.get('created_at'))} by {data.get('created_by') or ''}")]
    prov = data.get("provenance") or {}
    if prov:
        lines += [("computed with", f"{prov.get('software', '?')}; frequencies {prov.get('frequency_table', '?')}; "
                                    f"theta {prov.get('theta', '?')}; {prov.get('genetic_model', '')}")]
    for label, value in lines:
        if value not in (None, ""):
            console.print(f"{label}: {escape(str(value))}", highlight=False)
    rows = data.get("loci") or []
    if rows:
        table = Table(title="per locus")
        table.add_column("locus", no_wrap=True, min_width=max(len(r["locus"]) for r in rows))
        for col in ("child", "claimed father", "claimed mother"):
            table.add_column(col, no_wrap=True)
        table.add_column("LR", justify="right", no_wrap=True)
        table.add_column("consistent?", no_wrap=True)
        for r in rows:
            table.add_row(escape(r["locus"]), escape(r["child"] or "-"), escape(r["father"] or "-"),
                          escape(r["mother"] or "-"), _lr_text(r["lr"]), "yes" if r["consistent"] else "NO")
        print_table(table)


@registration_app.command("check")
def registration_check(
    code: str, child_sample: str = typer.Option(..., "--child-sample"),
    father_sample: str = typer.Option(None, "--father-sample"),
    mother_sample: str = typer.Option(None, "--mother-sample"), child_code: str = typer.Option(None),
    child_sex: str = typer.Option("U"), child_given_name: str = typer.Option(None),
    birth_date: str = typer.Option(None, "--birth-date"), registration_number: str = typer.Option(None),
    jurisdiction: str = typer.Option(None), agency: str = typer.Option(None),
    as_user: str = AS_USER, no_search: bool = NO_SEARCH, as_json: bool = JSON,
) -> None:
    """Check a late birth registration: the parentage LR of the claimed father and/or mother."""
    from reunite.cases.registration import run_check, show_check

    engine, model, actor = acting(as_user)

    def work(s):
        row = run_check(s, actor=actor, model=model, code=code, child_sample_code=child_sample,
                        father_sample_code=father_sample, mother_sample_code=mother_sample, child_code=child_code,
                        child_sex=child_sex, child_given_name=child_given_name,
                        estimated_birth_date=_date(birth_date, "--birth-date"),
                        registration_number=registration_number, jurisdiction_code=jurisdiction,
                        agency_code_=agency)
        return row.status

    status = write(engine, work)
    data = write(engine, lambda s: show_check(s, code, actor=actor))
    _print_check(data, as_json)
    if status == "flagged":
        _search(engine, model, actor, no_search)


@registration_app.command("show")
def registration_show(code: str, as_user: str = AS_USER, as_json: bool = JSON) -> None:
    """A registration check: LR, per-locus LRs, inconsistent loci, provenance."""
    from reunite.cases.registration import show_check

    engine, _, actor = acting(as_user)
    _print_check(write(engine, lambda s: show_check(s, code, actor=actor)), as_json)


@registration_app.command("list")
def registration_list(status: str = typer.Option(None), jurisdiction: str = typer.Option(None),
                      created_from: str = typer.Option(None), created_to: str = typer.Option(None),
                      cursor: str = CURSOR, limit: int = LIMIT, as_user: str = AS_USER,
                      as_json: bool = JSON) -> None:
    """Registration checks, newest first."""
    from reunite.cases.registration import list_checks

    engine, _, actor = acting(as_user)
    page = write(engine, lambda s: list_checks(
        s, actor=actor, status=status, jurisdiction_code=jurisdiction,
        created_from=_date(created_from, "--created-from"), created_to=_date(created_to, "--created-to"),
        cursor=cursor, limit=limit))
    _print_page(page, as_json, ("code", "status", "jurisdiction", "agency", "child", "log10_lr", "verbal"))
