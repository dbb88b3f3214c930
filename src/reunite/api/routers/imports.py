"""/api/v1/imports: upload genotype, family and unidentified-person files; list import batches.

An upload is written to a temporary file and read by the same importer as ``reunite import``
(same validation, same report).  A rejected file gives 422 with every problem by file and
line (``problems``: ``{"file", "line", "message"}``); nothing is imported.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path as FilePath
from typing import Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from reunite.api.deps import get_engine, get_model, reader, requires
from reunite.api.errors import error_body
from reunite.api.index_cache import index_cache
from reunite.cases import intake
from reunite.errors import AuthenticationError, Conflict, NotFound, PermissionDenied, ReuniteError
from reunite.security.actor import Actor
from reunite.store.db import StoreError

router = APIRouter(prefix="/imports", tags=["imports"])

MAX_UPLOAD_BYTES = 200 * 2**20  # an upload larger than this is refused (413)
MAX_CONTROL_BYTES = 2**20
Kind = Literal["genotypes", "families", "unidentified"]
_PROBLEM = re.compile(r"^(?P<file>.*?):(?P<line>\d+): (?P<message>.*)$", re.S)
_OPTION = re.compile(r"^--([\w-]+): (.*)$", re.S)
_SAFE_NAME = re.compile(r"[^\w.\-]+", re.UNICODE)


class SearchSummaryOut(BaseModel):
    kind: str
    searched: int
    pairs_compared: int
    candidates: int
    strong_first: int
    skipped_sex: int
    skipped_age: int
    skipped_loci: int
    updated: int
    superseded: int
    flagged: list[str]
    new_candidate_ids: list[int]


def summary_out(s) -> SearchSummaryOut:
    return SearchSummaryOut(kind=s.kind, searched=len(s.subject_ids), pairs_compared=s.num_compared,
                            candidates=s.stored, strong_first=s.num_strong, skipped_sex=s.skipped_sex,
                            skipped_age=s.skipped_age, skipped_loci=s.skipped_loci, updated=s.updated,
                            superseded=s.superseded, flagged=s.flagged, new_candidate_ids=s.new_candidate_ids)


class ImportOut(BaseModel):
    batch_id: int | None
    kind: str
    file: str
    file_sha256: str | None
    rows: int
    records: int
    notes: list[str]
    warnings: list[str]
    report: dict
    searches: list[SearchSummaryOut]
    search_error: str | None
    identity_flags_updated: int


class BatchOut(BaseModel):
    id: int
    kind: str
    file: str
    rows: int
    created_at: datetime | None
    file_sha256: str | None
    created_by: str | None


class BatchDetail(BatchOut):
    report: dict | None


class BatchPage(BaseModel):
    items: list[BatchOut]
    next_cursor: str | None


def _upload_name(upload: UploadFile | None, default: str) -> str:
    """The uploaded file's own name, without folders and odd characters (for the import's record)."""
    raw = FilePath((upload.filename if upload is not None else "") or default).name
    name = _SAFE_NAME.sub("_", raw).strip("._")[:100]
    return name or default


def _save(upload: UploadFile, folder: FilePath, name: str, *, limit: int, field: str) -> FilePath:
    """Copy an upload to ``folder/name``; over ``limit`` bytes: 413 (raised as _TooLarge)."""
    path = folder / name
    size = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(2**20):
            size += len(chunk)
            if size > limit:
                raise _TooLarge(f"{field}: the file is larger than {limit / 2**20:,.0f} MiB; split it into "
                                "smaller files and import them one by one")
            out.write(chunk)
    return path


class _TooLarge(Exception):
    pass


def _problem(text: str, name: str) -> dict:
    """One problem as ``{"file", "line", "field", "message"}`` (``field``: the option it is
    about, e.g. ``encoding``; else ``file``)."""
    m = _PROBLEM.match(text)
    if m:
        return {"file": m.group("file") or name, "line": int(m.group("line")), "field": "file",
                "message": m.group("message")}
    option = _OPTION.match(text)
    if option:
        return {"file": name, "line": None, "field": option.group(1).replace("-", "_"), "message": option.group(2)}
    file, sep, rest = text.partition(": ")
    if sep and file == name:
        text = rest
    return {"file": name, "line": None, "field": "file", "message": text}


def _rejected(exc: ReuniteError, temp: str, name: str) -> JSONResponse:
    """A rejected file as 422: the message and every problem, the upload's name standing for
    the temporary file's path."""
    message = str(exc).replace(temp + "/", "").replace(temp, "")
    texts = [t.replace(temp + "/", "").replace(temp, "") for t in getattr(exc, "problems", None) or []]
    problems = [_problem(t, name) for t in texts] or [_problem(message, name)]
    return JSONResponse(error_body("rejected", message, field=problems[0]["field"], problems=problems),
                        status_code=422)


@router.post("/{kind}", response_model=ImportOut, status_code=201,
             responses={413: {"description": "the file is too large"},
                        422: {"description": "the file was rejected: every problem by file and line"}})
def import_upload(
    kind: Kind = Path(description="genotypes, families or unidentified"),
    file: UploadFile = File(description="the file, as 'reunite import <kind>' reads it"),
    search: bool = Form(True, description="families, unidentified: search the new records now"),
    encoding: str | None = Form(None, max_length=32, description="the file's encoding (default: detected)"),
    lenient: bool = Form(False, description="leave out unknown columns (reported) instead of rejecting the file"),
    strict: bool = Form(False, description="genotypes: a run export whole or not at all"),
    lab: str | None = Form(None, max_length=128, description="genotypes: the laboratory"),
    controls: UploadFile | None = File(None, description="genotypes: CSV 'kind,pattern' of ladders and controls"),
    control_profiles: UploadFile | None = File(None, description="genotypes: CSV 'control,locus,allele1,allele2'"),
    actor: Actor = Depends(requires("data:import")),
    engine=Depends(get_engine),
    model=Depends(get_model),
    cache=Depends(index_cache),
):
    """Import a file (as ``reunite import genotypes|families|unidentified``), then search the
    new families or unidentified persons (``search``)."""
    name = _upload_name(file, f"{kind}.csv")
    with tempfile.TemporaryDirectory(prefix="reunite-upload-") as temp:
        folder = FilePath(temp)
        try:
            path = _save(file, folder, name, limit=MAX_UPLOAD_BYTES, field="file")
            extra = {}
            for option, upload in (("controls", controls), ("control_profiles", control_profiles)):
                if upload is not None:
                    sub = folder / option
                    sub.mkdir()
                    extra[option] = _save(upload, sub, _upload_name(upload, f"{option}.csv"),
                                          limit=MAX_CONTROL_BYTES, field=option)
        except _TooLarge as exc:
            return JSONResponse(error_body("too_large", str(exc)), status_code=413)
        try:
            out = intake.import_file(engine, model, kind, path, actor=actor, search=search, encoding=encoding,
                                     lenient=lenient, strict=strict, lab=lab, name=name, index=cache, **extra)
        except (PermissionDenied, AuthenticationError, NotFound, Conflict, StoreError):
            raise
        except ReuniteError as exc:  # a bad file, a bad option: 422 with the problems
            return _rejected(exc, temp, name)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    report = out.report
    return ImportOut(batch_id=report.batch_id, kind=kind, file=name, file_sha256=report.file_sha256,
                     rows=report.num_rows, records=report.num_records, notes=list(report.notes),
                     warnings=list(report.warnings), report=report.details or {},
                     searches=[summary_out(s) for s in out.searches], search_error=out.search_error,
                     identity_flags_updated=out.reflagged)


def _batch(b) -> dict:
    created = b.created_at
    if created is not None and created.tzinfo is None:  # SQLite keeps no offset; stored in UTC (date-time needs one)
        created = created.replace(tzinfo=timezone.utc)
    return {"id": b.id, "kind": b.kind, "file": b.source, "rows": b.num_rows, "created_at": created,
            "file_sha256": b.file_sha256, "created_by": b.created_by}


@router.get("", response_model=BatchPage)
def list_batches(
    kind: Kind | None = Query(None),
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=500),
    actor: Actor = Depends(requires("data:import")),
    session=Depends(reader),
):
    """Import batches, newest first."""
    page = intake.list_imports(session, actor=actor, kind=kind, cursor=cursor, limit=limit)
    return {"items": [_batch(b) for b in page.items], "next_cursor": page.next_cursor}


@router.get("/{batch_id}", response_model=BatchDetail)
def get_batch(
    batch_id: int = Path(ge=1, le=2**62),
    actor: Actor = Depends(requires("data:import")),
    session=Depends(reader),
):
    """One import batch with its report (imported, skipped and rejected samples, warnings)."""
    b = intake.get_import(session, actor=actor, batch_id=batch_id)
    return {**_batch(b), "report": b.report}
