"""`POST /v1/indexes/{name}/documents`: files uploaded as multipart/form-data (field `files`,
repeatable), checked, saved beside the index and ingested; the answer is the ingest report.

    $ curl -H "Authorization: Bearer $KEY" -F files=@report.pdf -F files=@notes.md \\
          http://127.0.0.1:8000/v1/indexes/team/documents

The checks are the chat UI's (`app.services.uploads`): a name is cut to its last path component and
cleaned, so '../../etc/passwd.md' is saved as 'passwd.md' in `team.uploads/`. A request
larger than `api_upload_max_mb` is 413; a file of a kind ingestion cannot read is 415, with
the supported kinds. Files that ingestion then fails on (empty, corrupt, a scan without a
text layer) are listed with the same reasons as `ragqa ingest` gives.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from fastapi import Request
from starlette.datastructures import UploadFile

from app.api.errors import ApiError
from app.api.state import ServerState
from app.services import build
from app.services.access import Grants
from app.services.changes import IndexChanges
from app.services.uploads import Upload, UploadPolicy, UploadRejected, sanitize_filename
from ingest.store import IndexLockedError

MAX_FILES = 100
# Multipart framing around the files (boundaries, part headers) on top of their bytes.
_FRAMING = 256 * 2**10
# A client still sending a too-large body is read to its end (and the bytes dropped) up to this
# factor of the limit, so that it reads the 413 instead of a reset connection.
_DRAIN_FACTOR = 4


async def upload_documents(state: ServerState, name: str, request: Request,
                           caller: Grants) -> dict:
    directory = state.index_dir(name)
    if not isinstance(directory, Path):
        raise ApiError(409, f"index {name!r} lives in PostgreSQL: ingest with `ragqa ingest "
                       "PATH --index URL`; uploads are kept beside an index folder",
                       code="uploads_unsupported")
    policy = UploadPolicy(max_bytes=state.settings.api.api_upload_max_mb * 2**20)
    uploads = await _read_files(request, policy.max_bytes + _FRAMING)
    for upload in uploads:
        _check(upload, policy)

    def ingest():  # in a worker thread: the embedder may load, ingesting takes seconds
        ingestor = build.make_ingestor(state.settings, directory)
        return IndexChanges(caller, directory, state.accounts).upload(uploads, ingestor, policy)

    try:
        result = await anyio.to_thread.run_sync(ingest)
    except IndexLockedError as exc:
        raise ApiError(409, str(exc), code="index_locked") from None
    report = result.report
    body = {"index": name,
            "ingested": report.ingested if report else [],
            "unchanged": report.unchanged if report else [],
            "failed": [{"source": f.source, "reason": f.reason} for f in result.failures],
            "chunks_added": report.chunks_added if report else 0,
            "chunks_removed": report.chunks_removed if report else 0,
            "seconds": round(report.seconds, 3) if report else 0.0}
    if not body["ingested"] and not body["unchanged"]:
        reasons = "; ".join(f"{f['source']}: {f['reason']}" for f in body["failed"])
        raise ApiError(422, f"no file could be ingested ({reasons})", code="ingest_failed",
                       report=body)
    return body


def _check(upload: Upload, policy: UploadPolicy) -> None:
    """The request-level refusals: a name with nothing usable (422), a kind ingestion cannot
    read (415), a file over the limit (413). An empty file is left to the report."""
    try:
        safe = sanitize_filename(upload.name)
    except UploadRejected as exc:
        raise ApiError(422, f"file name {upload.name!r}: {exc.reason}", code="bad_file_name",
                       param="files") from None
    suffix = Path(safe).suffix.lower()
    if suffix not in policy.allowed_suffixes:
        kind = f"type {suffix}" if suffix else "a file without an extension"
        raise ApiError(415, f"{upload.name}: {kind} is not supported; supported kinds: "
                       f"{', '.join(policy.allowed_suffixes)}", code="unsupported_file_type",
                       param="files", supported=list(policy.allowed_suffixes))
    if len(upload.data) > policy.max_bytes:
        raise _too_large(policy.max_bytes, upload.name)


async def _read_files(request: Request, limit: int) -> list[Upload]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "send the files as multipart/form-data in the field 'files'",
                       code="unsupported_media_type")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit * _DRAIN_FACTOR:
        raise _too_large(limit - _FRAMING)
    limited = Request(request.scope, _limited_receive(request.receive, limit))
    async with limited.form(max_files=MAX_FILES, max_fields=10) as form:
        parts = [*form.getlist("files"), *form.getlist("file")]
        uploads = [Upload(part.filename or "", await part.read()) for part in parts
                   if isinstance(part, UploadFile)]
    if not uploads:
        raise ApiError(422, "files: no file was sent; send them in the multipart field "
                       "'files'", code="invalid_value", param="files")
    return uploads


def _limited_receive(receive, limit: int):
    """`receive` that stops a body at `limit` bytes with a 413 (a chunked body has no length
    to check in advance)."""
    seen = 0

    async def limited():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                await _drain(receive, message, limit * _DRAIN_FACTOR - seen)
                raise _too_large(limit - _FRAMING)
        return message

    return limited


async def _drain(receive, message: dict, budget: int) -> None:
    with anyio.move_on_after(10):
        while message.get("more_body") and budget > 0:
            message = await receive()
            budget -= len(message.get("body", b""))


def _too_large(max_bytes: int, name: str | None = None) -> ApiError:
    what = f"{name} is" if name else "the upload is"
    return ApiError(413, f"{what} over the limit of {max_bytes / 2**20:g} MB "
                    "(api_upload_max_mb)", code="upload_too_large")
