"""The notification port: how a timer outcome reaches a person (a reminder, an escalation).

Adapters: structured logs (always) and a webhook (when ``LTFLOW_WEBHOOK_URL`` is set). A test may
pass its own :class:`Notifier`; nothing else in ltflow is faked.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from typing import Protocol

import structlog

from ltflow.workflows.payloads import Notification

log = structlog.get_logger("ltflow.workflows.notifications")


class Notifier(Protocol):
    def notify(self, notification: Notification) -> None:
        """Deliver one notification; raise to have the activity retry it."""


class LogNotifier:
    """Writes every notification as one structured log line."""

    def notify(self, notification: Notification) -> None:
        log.info(
            "notification",
            team_id=str(notification.team_id),
            type=notification.type,
            recipient=notification.recipient,
            occurred_at=notification.occurred_at.isoformat(),
            **notification.details,
        )


class WebhookNotifier:
    """POSTs the notification as JSON; a non-2xx answer raises, so Temporal retries it."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    def notify(self, notification: Notification) -> None:
        body = json.dumps(notification.model_dump(mode="json")).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": "ltflow"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook answered {response.status}")


class FanOutNotifier:
    """Delivers to every adapter in turn."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def notify(self, notification: Notification) -> None:
        for notifier in self.notifiers:
            notifier.notify(notification)


def notifier_for(webhook_url: str | None) -> Notifier:
    """The default port: logs, plus the webhook when one is configured."""
    adapters: list[Notifier] = [LogNotifier()]
    if webhook_url:
        adapters.append(WebhookNotifier(webhook_url))
    return FanOutNotifier(adapters)
