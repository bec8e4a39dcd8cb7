"""Every failure of the API is one JSON object, in the shape OpenAI's clients already read:

    {"error": {"message": "...", "type": "invalid_request_error", "code": "...", "param": ...}}

`ApiError` is what the routes raise; `install_error_handlers` renders it, FastAPI's validation
errors (422, naming the field), HTTP errors (404, 405), ragqa's own expected failures and
anything unexpected (500, without a traceback) in that one shape.
"""

from __future__ import annotations

import json
import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.services.access import AccessDenied, AccessError
from ingest.core.errors import RagqaError

log = logging.getLogger("ragqa.api")
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|list\[.*\]|dict\[.*\]|[A-Z]\w*)$")

# The OpenAI error type of each status (clients branch on it).
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error",
          413: "invalid_request_error", 415: "invalid_request_error",
          422: "invalid_request_error", 429: "rate_limit_error", 500: "server_error",
          503: "server_error", 504: "timeout_error"}


class ApiError(Exception):
    """An HTTP error with a message a client can act on."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None,
                 **details) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.details = details

    def body(self) -> dict:
        return error_body(self.status, self.message, code=self.code, param=self.param,
                          **self.details)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(status: int, message: str, *, code: str | None = None, param: str | None = None,
               **details) -> dict:
    return {"error": {"message": message, "type": _TYPES.get(status, "server_error"),
                      "code": code, "param": param, **details}}


def validation_error(exc: RequestValidationError) -> ApiError:
    """422 naming the first bad field (`messages.0.content`), or where the JSON breaks."""
    err = exc.errors()[0]
    # Without "body", and without the member a union was tried as ("content.str").
    loc = [str(p) for p in err.get("loc", ()) if p != "body" and not _UNION_MEMBER.match(str(p))]
    if err.get("type") == "json_invalid":
        where = err.get("ctx", {}).get("error", "")
        return ApiError(422, f"the request body is not valid JSON ({where})",
                        code="invalid_json")
    field = ".".join(loc) or "body"
    message = err.get("msg", "invalid value")
    if err.get("type") == "missing":
        message = "this field is required"
    elif "input" in err and err.get("type") != "extra_forbidden":
        message += f" (got {json.dumps(err['input'], ensure_ascii=False, default=str)[:80]})"
    return ApiError(422, f"{field}: {message}", code="invalid_value", param=field)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response()

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.status_code)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        return ApiError(exc.status_code, message, headers=dict(exc.headers or {})).response()

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> JSONResponse:
        return ApiError(403, str(exc), code=exc.code).response()

    @app.exception_handler(AccessError)
    async def _access(request: Request, exc: AccessError) -> JSONResponse:
        return ApiError(400, str(exc), code=type(exc).__name__).response()

    @app.exception_handler(RagqaError)
    async def _ragqa(request: Request, exc: RagqaError) -> JSONResponse:
        return ApiError(500, str(exc), code=type(exc).__name__).response()

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("ragqa serve: unexpected error in %s %s", request.method, request.url.path)
        return ApiError(500, f"internal error ({exc.__class__.__name__}); see the server log",
                        code="internal_error").response()
