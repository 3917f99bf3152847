"""Outbound webhooks that follow the Standard Webhooks spec, one secret per endpoint.

Each notification becomes one message ``{"type", "timestamp", "data"}`` signed by the
``standardwebhooks`` library (headers ``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), and goes to every endpoint of ``LTFLOW_WEBHOOKS`` whose subscriptions take
it (:meth:`ltflow.config.WebhookEndpoint.takes`). The message id is derived from the team and the
event, so a retry sends the same id and a receiver can drop the repeat; an endpoint that took a
message is not sent it again when another endpoint's failure makes the activity retry. A session
scheduled carries its invitation as an iCalendar file (:func:`session_invitation`).

The body holds ids, types, times and numbers only (:mod:`ltflow.workflows.notifications` keeps
nothing else): recipients by role as subjects and participant ids, never a name or a story. This
module runs in activities (it does I/O), never in workflow code.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import structlog
from standardwebhooks.webhooks import Webhook

from ltflow.config import WebhookEndpoint
from ltflow.workflows.payloads import Notification

log = structlog.get_logger("ltflow.workflows.webhooks")

#: An invitation's length: the method's sessions take about two hours.
SESSION_LENGTH = timedelta(hours=2)
#: How many (message, endpoint) deliveries a process remembers, to skip on a retry.
REMEMBERED = 10_000


def message_id(note: Notification) -> str:
    """The stable ``webhook-id`` of a notification: the same on every attempt and retry."""
    about = note.event_id or f"{note.type}@{note.occurred_at.isoformat()}"
    digest = hashlib.sha256(f"{note.team_id}:{note.type}:{about}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def message(note: Notification) -> dict[str, Any]:
    """The Standard Webhooks payload of a notification."""
    data: dict[str, Any] = {
        "team_id": str(note.team_id),
        "event_id": note.event_id or None,
        "occurred_at": note.occurred_at.isoformat(),
        "recipients": [r.model_dump(mode="json", exclude_none=True) for r in note.recipients],
        "details": note.details,
    }
    if note.type == "session.scheduled":
        data["calendar"] = {
            "filename": f"session-{note.details.get('session')}.ics",
            "content_type": "text/calendar",
            "content": session_invitation(note).decode(),
        }
    return {"type": note.type, "timestamp": note.occurred_at.isoformat(), "data": data}


def session_invitation(note: Notification) -> bytes:
    """An iCalendar file for a scheduled session, for a calendar to import. Its UID is the
    team's session, so a rescheduling replaces the invitation (a higher SEQUENCE)."""
    number = int(note.details["session"])
    start = datetime.fromisoformat(str(note.details["at"])).astimezone(UTC)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//ltflow//Learning Team sessions//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"ltflow-{note.team_id}-session-{number}")
    event.add("dtstamp", note.occurred_at.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", start + SESSION_LENGTH)
    event.add("sequence", note.version or 0)
    event.add("summary", f"Learning Team session {number}")
    calendar.add_component(event)
    return bytes(calendar.to_ical())


class StandardWebhookNotifier:
    """Signs and POSTs each notification to the endpoints that take it; raises while any
    endpoint has not answered 2xx, so Temporal retries (only those endpoints)."""

    def __init__(
        self,
        endpoints: Sequence[WebhookEndpoint],
        *,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.clock = clock
        self._signers = {e.name: Webhook(e.secret) for e in self.endpoints}
        self._delivered: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def notify(self, notification: Notification) -> None:
        msg_id = message_id(notification)
        body: str | None = None
        failed: list[str] = []
        for endpoint in self.endpoints:
            team = str(notification.team_id)
            if not endpoint.takes(notification.type, team, notification.case_ref):
                continue
            if self._was_delivered(msg_id, endpoint.name):
                continue
            body = body or json.dumps(message(notification), separators=(",", ":"))
            try:
                self._post(endpoint, msg_id, body)
            except Exception as exc:  # any failure of one endpoint: the others still get it
                failed.append(endpoint.name)
                log.warning(
                    "webhook failed", endpoint=endpoint.name, webhook_id=msg_id, error=str(exc)
                )
            else:
                self._remember(msg_id, endpoint.name)
        if failed:
            raise RuntimeError(f"webhook endpoints did not take it: {', '.join(failed)}")

    def _post(self, endpoint: WebhookEndpoint, msg_id: str, body: str) -> None:
        sent_at = self.clock().astimezone(UTC)
        signature = self._signers[endpoint.name].sign(msg_id, sent_at, body)
        request = urllib.request.Request(
            endpoint.url,
            data=body.encode(),
            headers={
                "Content-Type": "application/json",
                "User-Agent": "ltflow",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": signature,
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"answered {response.status}")

    def _was_delivered(self, msg_id: str, endpoint: str) -> bool:
        with self._lock:
            return (msg_id, endpoint) in self._delivered

    def _remember(self, msg_id: str, endpoint: str) -> None:
        with self._lock:
            self._delivered[(msg_id, endpoint)] = None
            while len(self._delivered) > REMEMBERED:
                self._delivered.popitem(last=False)
