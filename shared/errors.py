"""problem+json errors (RFC 9457): one exception type, one renderer for every error."""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

import psycopg
import psycopg_pool
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logging import request_id_var

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Answered by every route of a service's API: a body over the limit (413), bad input (422), the
# database out or its pools dry (503, Retry-After). Routes add their own (problem_responses).
EVERY_ROUTE = (413, 422, 503)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: each status answered as a problem+json document."""
    return {
        status: {"description": HTTPStatus(status).phrase, "content": {PROBLEM_JSON: {}}}
        for status in statuses
    }


class AppError(Exception):
    """Something went wrong."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    type: ClassVar[str] = "about:blank"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        # The docstring is the default message, as in procrastinate's exceptions.
        self.detail = detail or (self.__doc__ or self.title).strip()
        self.headers = headers or {}
        super().__init__(self.detail)


class NotFound(AppError):
    """The resource does not exist."""

    status = 404
    title = "Not found"


class Conflict(AppError):
    """The resource is not in a state that allows this."""

    status = 409
    title = "Conflict"


class Unauthorized(AppError):
    """Authentication is required."""

    status = 401
    title = "Unauthorized"


class Forbidden(AppError):
    """This request is not allowed."""

    status = 403
    title = "Forbidden"


class DatabaseUnavailable(AppError):
    """The database is unavailable; try again shortly."""

    status = 503
    title = "Service unavailable"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": extra.pop("type", "about:blank"),
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id_var.get(),
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem(exc.status, exc.title, exc.detail, headers=exc.headers, type=exc.type)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's 400 for a JSON body that is not UTF-8: bad input like any malformed JSON,
        # so the same 422 every route documents (found by schemathesis: tests/contract).
        return problem(422, "Validation failed", "The body is not UTF-8 JSON.")
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    return problem(exc.status_code, title, str(exc.detail), headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return problem(422, "Validation failed", "The request is not valid.", errors=errors)


async def _outage(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", exc.__class__.__name__)
    return problem(
        503,
        DatabaseUnavailable.title,
        DatabaseUnavailable.__doc__ or "",
        headers={"Retry-After": "2"},
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # Input the routes' types should have refused (shared.validation) and Postgres did: the
    # client's mistake, not ours. Logged, as each one is a gap in a route's validation.
    logger.warning("database refused a value: %s", type(getattr(exc, "orig", exc)).__name__)
    return problem(422, "Validation failed", "A value in the request cannot be stored.")


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Only connection-level failures are an outage; anything else is a bug and a 500.
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return await _outage(request, exc)
    if isinstance(exc, DataError) or isinstance(getattr(exc, "orig", None), psycopg.DataError):
        return await _data_error(request, exc)
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return problem(500, "Internal server error", "An unexpected error occurred.")


def install_error_handlers(app: FastAPI) -> None:
    """Render every error, validation and outages included, as problem+json."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(psycopg.DataError, _data_error)
    app.add_exception_handler(psycopg.OperationalError, _outage)
    app.add_exception_handler(psycopg_pool.PoolTimeout, _outage)
    # SQLAlchemy's pool exhausted (every connection busy for pool_timeout): overload, a 503.
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _outage)
    app.add_exception_handler(Exception, _unexpected_error)
