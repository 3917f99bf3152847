"""uvicorn's h11 protocol with a deadline on a request's head (issue 15, item 7).

uvicorn closes a connection that stays idle after an answer (``timeout_keep_alive``), but a
client that opens a connection and sends part of a request line or of its headers is kept for as
long as it likes. Here such a connection is closed once ``header_timeout`` seconds pass without
a whole head. The body has its own deadline, in :class:`ltflow.api.middleware.RequestObserver`.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: Seconds a client has to send a request line and its headers.
HEADER_TIMEOUT = 10.0
#: The longest head h11 buffers (uvicorn's default, said here so it is visible): larger is 400.
MAX_HEAD = 16 * 1024


class BoundedH11Protocol(H11Protocol):
    """H11Protocol that closes a connection whose request head does not arrive in time."""

    header_timeout: float = HEADER_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            # Part of a head (the first request's, or the next one's on a kept connection).
            self._arm_head_timer()
        else:
            self._cancel_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        # Still no whole head: nothing was asked, so there is nothing to answer; just close.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def bounded_h11(header_timeout: float = HEADER_TIMEOUT) -> type[BoundedH11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, with this head deadline."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,), {"header_timeout": header_timeout})
