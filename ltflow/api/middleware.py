"""One ASGI middleware around every request: a request id, structlog context, metrics, a log line,
and limits on the body: its size (an event is a few kilobytes; nobody needs to send a megabyte)
and the time it may take to arrive (a stalled upload is answered 408 and its connection closed).

The request id is the caller's ``X-Request-ID`` when it is short and plain, otherwise a new one;
it is bound to structlog's context for everything logged during the request (team id too, once
the route is known) and returned in the ``X-Request-ID`` header.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ltflow.api.auth import EVENTS_WRITE
from ltflow.api.metrics import Metrics

log = structlog.get_logger("ltflow.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
UNMATCHED = "unmatched"
#: Bytes; the largest event (20,000 characters of text in a few fields) is far below it.
MAX_BODY = 1 << 20
#: Seconds from a request's head to the end of its body (``Settings.body_timeout``).
BODY_TIMEOUT = 10.0


class RequestObserver:
    """Request id, structlog context, Prometheus metrics and one log line per request."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        max_body: int = MAX_BODY,
        body_timeout: float = BODY_TIMEOUT,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500
        received = 0
        body_done = False
        # The whole body by then, counted from its head: a client trickling a byte now and then
        # would pass a deadline per read, and hold the request (and its buffer) for ever.
        deadline = started + self.body_timeout

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body only a disconnect comes: no deadline on it
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), deadline - time.perf_counter())
            except TimeoutError:
                raise HTTPException(
                    408, f"The body was not sent within {self.body_timeout:g} seconds."
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise HTTPException(413, f"The body is larger than {self.max_body} bytes.")
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, limited_receive, send_with_id)
            finally:
                self._finish(scope, status, time.perf_counter() - started)

    def _finish(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        state: dict[str, Any] = scope.get("state") or {}
        code = state.get("error_code")
        self.metrics.observe_request(scope["method"], template, status, seconds)
        if status >= 400 and getattr(route, "required_scope", None) == EVENTS_WRITE:
            self.metrics.event_rejected(code or str(status))
        principal = state.get("principal")
        team_id = state.get("team_id") or (scope.get("path_params") or {}).get("team_id")
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "route": template,
            "status": status,
            "ms": round(seconds * 1000, 1),
        }
        if team_id is not None:
            fields["team_id"] = str(team_id)
        if principal is not None:
            fields["actor"] = principal.actor
        if code is not None:
            fields["code"] = code
        log.log(logging.WARNING if status >= 500 else logging.INFO, "request", **fields)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex
