"""Signed webhooks (Standard Webhooks) to real HTTP receivers on loopback, from a real worker:
each endpoint verifies with its own secret by the library's own ``Webhook.verify``, gets only
what it subscribed to, and a scheduled session carries an iCalendar file that parses back."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import icalendar
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.config import Settings, parse_webhooks
from ltflow.demo import narrative
from ltflow.eventstore.application import team_id_for
from ltflow.workflows.plugin import LtflowPlugin
from tests.json_client import JsonLtflowClient


@dataclass
class Receiver:
    """One webhook receiver: what arrived, body and headers as sent."""

    url: str
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    answer: int = 204

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for body, _ in self.received]


@contextmanager
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box["r"].received.append((body, dict(self.headers.items())))
            self.send_response(box["r"].answer)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box["r"]
    finally:
        server.shutdown()
        server.server_close()


def secret(seed: str) -> str:
    return "whsec_" + base64.b64encode(seed.encode().ljust(24, b"-")).decode()


async def until(condition: Any, seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


INVITES = [
    {"type": "participant.invited", "event_id": f"inv-{p}", "participant_id": p, "role": "nurse"}
    for p in ("p-anna", "p-bram", "p-chen")
]


async def test_endpoints_receive_signed_messages_they_subscribed_to_with_an_invitation(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    case_ref = f"series-ward-b3-{uuid.uuid4().hex[:8]}"
    team_id = team_id_for(case_ref)
    with receiver() as sessions, receiver() as stranger, receiver() as series:
        config = [
            {
                "name": "sessions",
                "url": sessions.url,
                "secret": secret("sessions"),
                "types": ["session.*"],
                "teams": [str(team_id)],
            },
            {
                "name": "stranger",
                "url": stranger.url,
                "secret": secret("stranger"),
                "teams": [str(uuid.uuid4())],
            },
            {
                "name": "series",
                "url": series.url,
                "secret": secret("series"),
                "types": ["phase.entered"],
                "series": ["ward-b3"],
            },
        ]
        settings = Settings(
            data_dir=tmp_path,
            task_queue=f"tq-{uuid.uuid4().hex[:8]}",
            min_policy_duration=DEV_POLICY_FLOOR,
            webhooks=parse_webhooks(json.dumps(config)),
        )
        plugin = LtflowPlugin(settings)  # the configured notifiers, nothing faked
        client = Client(time_env.client.service_client, plugins=[plugin])
        async with Worker(client, task_queue=settings.task_queue):
            ltflow = JsonLtflowClient(client, settings.task_queue, search_attributes=False)
            await ltflow.open_team(narrative.convene(case_ref=case_ref), actor="f")
            for invite in INVITES:
                await ltflow.send(team_id, invite, actor="f")
            await ltflow.send(team_id, {"type": "scope.confirmed", "event_id": "ok"}, actor="f")
            at = (await time_env.get_current_time() + timedelta(days=3)).replace(microsecond=0)
            scheduled = {
                "type": "session.scheduled",
                "event_id": "sched-1",
                "session": 1,
                "at": at.isoformat(),
            }
            await ltflow.send(team_id, scheduled, actor="f")
            await until(lambda: len(series.received) >= 2 and sessions.received)

    assert stranger.received == []
    assert sessions.types() == ["session.scheduled"]
    assert series.types() == ["phase.entered", "phase.entered"]

    body, headers = sessions.received[0]
    message = Webhook(secret("sessions")).verify(body, headers)
    assert message["data"]["team_id"] == str(team_id)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret("series")).verify(body, headers)  # another endpoint's secret
    for body_, headers_ in series.received:
        assert Webhook(secret("series")).verify(body_, headers_)["type"] == "phase.entered"

    calendar = message["data"]["calendar"]
    assert calendar["content_type"] == "text/calendar"
    parsed = icalendar.Calendar.from_ical(calendar["content"])
    (event,) = parsed.walk("VEVENT")
    assert event.decoded("dtstart") == at
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(hours=2)
    assert str(event["uid"]) == f"ltflow-{team_id}-session-1"
    assert {r["participant_id"] for r in message["data"]["recipients"]} == {
        "p-anna",
        "p-bram",
        "p-chen",
    }
    for personal in ("fac-ingrid", "Double dose", case_ref):
        assert personal not in body.decode()
    assert isinstance(datetime.fromisoformat(message["timestamp"]), datetime)
