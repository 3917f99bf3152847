"""Every answer that is not a success, in the contract's shape (section 3):
``{"code": ..., "message": <one sentence>, "details": {...}}``.

Domain errors keep their own code and status. FastAPI's own validation answer is replaced: a bad
body is ``invalid_event`` (422) naming the field, a team id that is no UUID is ``team_not_found``
(there is no such team), a bad query parameter is ``invalid_query`` (422).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import ForbiddenError as ForbiddenError
from ltflow.aggregates.errors import (
    InvalidEventError,
    LtflowError,
    TeamNotFoundError,
)

log = structlog.get_logger("ltflow.api")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    code: str
    message: str
    details: dict[str, Any] = {}


class UnauthenticatedError(LtflowError):
    """No bearer token, or one that is not configured."""

    code = "unauthenticated"


class InvalidQueryError(LtflowError):
    """A query parameter is malformed (the body of an event is ``invalid_event``); the same code
    as the audit's question that cannot be answered as asked."""

    code = "invalid_query"


class UnavailableError(LtflowError):
    """Temporal did not answer in time; a retry with the same ``event_id`` is safe."""

    code = "unavailable"


class RateLimitedError(LtflowError):
    """A client went over a rate limit; ``details.retry_after`` (and ``Retry-After``) says when
    to try again."""

    code = "rate_limited"


class RequestTimeoutError(LtflowError):
    """The client did not send its whole body in time (a stalled upload holds no worker)."""

    code = "request_timeout"


class NotFoundError(LtflowError):
    """No such endpoint."""

    code = "not_found"


class MethodNotAllowedError(LtflowError):
    """The endpoint exists, but not for this HTTP method."""

    code = "method_not_allowed"


class BadRequestError(LtflowError):
    """A request the HTTP layer could not take apart (any other 4xx from Starlette)."""

    code = "bad_request"


class InternalError(LtflowError):
    """A failure inside ltflow; logged with the request id."""

    code = "internal_error"


#: The HTTP status of each error code (contract section 3, and the HTTP layer's own codes).
STATUS_BY_CODE: dict[str, int] = {
    "invalid_event": 422,
    "invalid_query": 422,
    "wrong_phase": 409,
    "rule_violated": 409,
    "idempotency_conflict": 409,
    "version_conflict": 409,
    "team_not_found": 404,
    # A fault on ltflow's side an operator repairs (``ltflow team repair``), not the sender's:
    # a 5xx, so monitoring sees it; the same event_id may be sent again once repaired.
    "team_unavailable": 503,
    "repair_refused": 409,
    "not_found": 404,
    "unauthenticated": 401,
    "forbidden": 403,
    "method_not_allowed": 405,
    "unavailable": 503,
    "bad_request": 400,
    "rate_limited": 429,
    "request_timeout": 408,
    "internal_error": 500,
}


def status_for(error: LtflowError) -> int:
    """The HTTP status that answers ``error`` (400 for a code this table does not know)."""
    return STATUS_BY_CODE.get(error.code, 400)


def error_response(request: Request, error: LtflowError, status: int | None = None) -> JSONResponse:
    """The contract's error body; the code is kept on the request for logs and metrics."""
    request.state.error_code = error.code
    status = status or status_for(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    retry_after = error.details.get("retry_after")
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    if status == 408:
        # The rest of the body may still come: the connection cannot carry another request.
        headers["Connection"] = "close"
    return JSONResponse(error.to_dict(), status_code=status, headers=headers)


# --- request validation ---------------------------------------------------------------------

_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def from_validation(exc: RequestValidationError, body_type: str | None = None) -> LtflowError:
    """Turn FastAPI's validation errors into the one error the contract names for them.

    ``body_type`` names the event a body is taken as when it does not say (``team.convened``).
    """
    errors: Sequence[Any] = exc.errors()
    if any(list(e.get("loc", ()))[:2] == ["path", "team_id"] for e in errors):
        return TeamNotFoundError("No Learning Team has this id (a team id is a UUID).")
    body = [e for e in errors if list(e.get("loc", ()))[:1] == ["body"]]
    if body:
        return _invalid_body(body, exc.body, body_type)
    problems = [_problem(list(e.get("loc", ()))[1:], e) for e in errors]
    first = problems[0] if problems else {"field": "", "problem": "invalid"}
    return InvalidQueryError(
        f"The query parameter '{first['field']}' is invalid: {_sentence(first['problem'])}",
        problems=problems,
    )


def _invalid_body(errors: Sequence[Any], body: Any, body_type: str | None) -> InvalidEventError:
    first = errors[0]
    loc = list(first.get("loc", ()))[1:]
    kind = first.get("type")
    if kind == "json_invalid":
        where = f" near character {int(loc[0]) + 1}" if loc and isinstance(loc[0], int) else ""
        return InvalidEventError(f"The body is not valid JSON{where}.")
    if not loc and kind == "missing":
        return InvalidEventError("The request has no body; send the event as a JSON object.")
    if not loc and kind in ("model_attributes_type", "dict_type", "model_type"):
        return InvalidEventError("The body must be a JSON object with the event's fields.")
    if kind in _TAG_ERRORS:
        return _bad_type(body)
    tag = body.get("type", body_type) if isinstance(body, dict) else None
    problems = [_problem(_field_loc(list(e.get("loc", ()))[1:], tag), e) for e in errors]
    what = f"{tag} event" if isinstance(tag, str) and tag in c.ALL_TYPES else "event"
    head = problems[0]
    where = f" at '{head['field']}'" if head["field"] else ""
    return InvalidEventError(
        f"The {what} is invalid{where}: {_sentence(head['problem'])}", problems=problems
    )


def _bad_type(body: Any) -> InvalidEventError:
    tag = body.get("type") if isinstance(body, dict) else None
    if tag is None:
        return InvalidEventError(
            "The event has no 'type'; name one of the phase event types.",
            expected=sorted(c.SENDER_TYPES),
        )
    if isinstance(tag, str):
        try:
            c.check_sendable(tag)
        except InvalidEventError as error:
            return error
    if tag == "team.convened":
        return InvalidEventError("'team.convened' opens a team: send it to POST /teams.")
    shown = tag if isinstance(tag, str) and len(tag) <= 80 else "that"
    return InvalidEventError(
        f"'{shown}' is not a phase event type ltflow knows.", expected=sorted(c.SENDER_TYPES)
    )


def _field_loc(loc: list[Any], tag: object) -> list[Any]:
    # The discriminated union puts the event type first; it is no field of the event.
    return loc[1:] if tag is not None and loc[:1] == [tag] else loc


def _problem(loc: list[Any], error: Any) -> dict[str, str]:
    return {"field": ".".join(str(p) for p in loc), "problem": str(error.get("msg", "invalid"))}


def _sentence(text: str) -> str:
    return text if text.endswith(".") else f"{text}."


# --- handlers ---------------------------------------------------------------------------------


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through :func:`error_response`."""

    async def on_domain(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LtflowError)
        return error_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        opening = request.method == "POST" and request.url.path.rstrip("/") == "/teams"
        body_type = "team.convened" if opening else None
        return error_response(request, from_validation(exc, body_type))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error_response(
                request,
                MethodNotAllowedError(f"{request.method} is not allowed on {request.url.path}."),
            )
        if exc.status_code == 404:
            return error_response(
                request, NotFoundError(f"There is no endpoint {request.method} {request.url.path}.")
            )
        if exc.status_code == 413:
            error = InvalidEventError(f"{exc.detail} No event is that large.")
            return error_response(request, error, 413)
        if exc.status_code == 408:
            return error_response(request, RequestTimeoutError(_sentence(str(exc.detail))))
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot even decode (not UTF-8, say): malformed JSON.
            return error_response(
                request, InvalidEventError("The body is not valid JSON (it must be UTF-8 text).")
            )
        return error_response(request, BadRequestError(_sentence(str(exc.detail))), exc.status_code)

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("temporal unavailable", error=str(exc))
        return error_response(
            request,
            UnavailableError(
                "The workflow service did not answer in time; sending the same event again "
                "(same event_id) is safe."
            ),
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(
            request, InternalError("Something went wrong inside ltflow; it has been logged.")
        )

    app.add_exception_handler(LtflowError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RPCError, on_unavailable)
    app.add_exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError, on_unavailable)
    app.add_exception_handler(Exception, on_unexpected)


#: The error answers an endpoint documents in OpenAPI, by status.
ERROR_DOCS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "`unauthenticated`: no or bad bearer token"},
    403: {"model": ErrorBody, "description": "`forbidden`: the token lacks the scope"},
    429: {
        "model": ErrorBody,
        "description": "`rate_limited`: too many failed authentications from this address, or "
        "writes with this token; `Retry-After` says when to try again",
    },
    422: {
        "model": ErrorBody,
        "description": "`invalid_event` (a body) / `invalid_query` (a parameter)",
    },
}
INTAKE_DOCS: dict[int | str, dict[str, Any]] = {
    **ERROR_DOCS,
    404: {"model": ErrorBody, "description": "`team_not_found`"},
    409: {
        "model": ErrorBody,
        "description": "`wrong_phase`, `rule_violated`, `idempotency_conflict`, `version_conflict`",
    },
    503: {
        "model": ErrorBody,
        "description": "`unavailable`: retry with the same event_id; `team_unavailable`: the "
        "team's workflow stopped and must be repaired (`ltflow team repair`)",
    },
}
