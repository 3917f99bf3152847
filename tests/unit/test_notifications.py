"""The notification port's adapters: a structured log line, and a webhook POST."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from uuid import uuid4

import pytest

from ltflow.workflows.notifications import (
    FanOutNotifier,
    LogNotifier,
    WebhookNotifier,
    notifier_for,
)
from ltflow.workflows.payloads import Notification


def note() -> Notification:
    return Notification(
        team_id=uuid4(),
        type="reflection.overdue",
        occurred_at=datetime(2026, 3, 16, 9, tzinfo=UTC),
        recipient="fac-ingrid",
        details={"latest": "2026-03-16T09:00:00Z"},
    )


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any], dict[str, int]]]:
    received: list[Any] = []
    answer = {"status": 204}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(answer["status"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, answer
    server.shutdown()


def test_the_webhook_receives_the_notification_as_json(
    webhook: tuple[str, list[Any], dict[str, int]],
) -> None:
    url, received, _ = webhook
    n = note()
    WebhookNotifier(url).notify(n)
    assert received == [n.model_dump(mode="json")]


def test_a_failing_webhook_raises_so_the_activity_retries(
    webhook: tuple[str, list[Any], dict[str, int]],
) -> None:
    url, _, answer = webhook
    answer["status"] = 503
    with pytest.raises(Exception, match="503"):
        WebhookNotifier(url).notify(note())


def test_the_default_port_logs_and_posts_when_a_webhook_is_set(
    webhook: tuple[str, list[Any], dict[str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    url, received, _ = webhook
    port = notifier_for(url)
    assert isinstance(port, FanOutNotifier)
    assert [type(a) for a in port.notifiers] == [LogNotifier, WebhookNotifier]
    port.notify(note())
    assert len(received) == 1
    assert [type(a) for a in notifier_for(None).notifiers] == [LogNotifier]  # type: ignore[attr-defined]
