"""A stalled client holds nothing for long (issue 15, item 7): a body that stops arriving is
answered 408 ``request_timeout`` and its connection closed; a head that stops arriving is closed;
meanwhile the server answers others. Loopback only, a handful of connections, seconds at most."""

from __future__ import annotations

import asyncio
import json
import time

from ltflow.api import create_app
from ltflow.api.server import running
from ltflow.config import Settings
from tests.api.conftest import TOKENS, WRITER, Api

DEADLINE = 1.0
CUT_OFF_WITHIN = 5.0


async def _stalled(url: str, head: bytes) -> tuple[float, bytes]:
    """Send ``head`` (and nothing more) on a fresh connection; what came back until it closed."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    try:
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), CUT_OFF_WITHIN)  # up to EOF
        return time.monotonic() - started, answer
    finally:
        writer.close()


async def test_stalled_body_and_stalled_head_are_cut_off(api: Api) -> None:
    settings = Settings(data_dir=api.stack.settings.data_dir).with_changes(body_timeout=DEADLINE)
    app = create_app(
        settings, client=api.stack.ltflow, views=api.projections.runner.store, tokens=TOKENS
    )
    body_head = (
        "POST /teams HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {WRITER}\r\nContent-Length: 5000\r\n\r\n" + '{"type": "te'
    ).encode()
    partial_head = b"GET /teams HTTP/1.1\r\nHost: test\r\nAuthoriz"
    async with running(app, header_timeout=DEADLINE) as live:
        stalls = [
            asyncio.create_task(_stalled(live.url, body_head)),
            asyncio.create_task(_stalled(live.url, partial_head)),
        ]
        await asyncio.sleep(0.2)
        # Others are answered while the stalled ones wait.
        other = await api.http.get(f"{live.url}/healthz")
        assert other.status_code in (200, 503)  # answered, whatever it says
        (body_took, body_answer), (head_took, head_answer) = await asyncio.gather(*stalls)
    assert body_took < CUT_OFF_WITHIN
    status_line, _, rest = body_answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", body_answer
    assert b"connection: close" in rest.lower(), body_answer
    error = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert error["code"] == "request_timeout", error
    assert error["message"].endswith("."), error
    # A head that never completes gets no answer (nothing was asked): the connection is closed.
    assert head_took < CUT_OFF_WITHIN
    assert head_answer == b""
