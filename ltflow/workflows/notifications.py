"""The notification port: how what happens to a team reaches a person.

What is worth telling (:func:`notices_after`, :func:`timer_notice`): every reminder and
escalation the timers record, every phase entered, the follow-up's criteria met, a session
scheduled (with an iCalendar invitation), the team closed or abandoned. Each names its recipients
by role, resolved to ids (:func:`recipients_for`), and carries ids, times and numbers only: no
name, no story. These functions are pure; the workflow calls them.

Adapters: structured logs (always), the signed Standard Webhooks endpoints of ``LTFLOW_WEBHOOKS``
(:mod:`ltflow.workflows.webhooks`) and the unsigned single URL of ``LTFLOW_WEBHOOK_URL``. A test
may pass its own :class:`Notifier`; nothing else in ltflow is faked.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import structlog

from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.phases import Phase
from ltflow.aggregates.state import TeamState
from ltflow.workflows.payloads import Notification, Recipient

if TYPE_CHECKING:
    from ltflow.config import WebhookEndpoint

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
        # case_ref is for subscriptions by series only; readers outside a team never see it.
        body = json.dumps(notification.model_dump(mode="json", exclude={"case_ref"})).encode()
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


def notifier_for(webhook_url: str | None, webhooks: Sequence[WebhookEndpoint] = ()) -> Notifier:
    """The default port: logs, plus the signed endpoints and the single URL when configured."""
    adapters: list[Notifier] = [LogNotifier()]
    if webhooks:
        from ltflow.workflows.webhooks import StandardWebhookNotifier

        adapters.append(StandardWebhookNotifier(webhooks))
    if webhook_url:
        adapters.append(WebhookNotifier(webhook_url))
    return FanOutNotifier(adapters)


# --- what is worth telling, and to whom (pure: the workflow calls these) -----------------------

Role = Literal["facilitator", "participant", "owner", "sponsor"]
_EVERYONE: tuple[Role, ...] = ("facilitator", "participant", "sponsor")
#: Who each notification is for, by role.
ROLES: dict[str, tuple[Role, ...]] = {
    "session.scheduled": ("facilitator", "participant"),
    "session.reminder_due": ("facilitator", "participant"),
    "reflection.prompt_due": ("participant",),
    "reflection.reminder_due": ("facilitator",),
    "reflection.overdue": ("facilitator", "sponsor"),
    "review.due": ("facilitator", "owner"),
    "safety_net.reminder_due": ("owner", "facilitator"),
    "safety_net.overdue": ("owner", "facilitator"),
    "safety_net.escalated": ("sponsor", "facilitator", "owner"),
    "follow_up.ending_due": ("facilitator", "sponsor"),
    "follow_up.ended": _EVERYONE,
    "phase.entered": ("facilitator", "participant"),
    "team.closed": _EVERYONE,
    "team.abandoned": _EVERYONE,
}
#: The only detail fields a notification carries: ids, numbers, times, dates, fixed words.
SAFE_DETAILS = frozenset(
    {
        "session",
        "at",
        "latest",
        "earliest",
        "ends",
        "review",
        "criteria",
        "outcome",
        "safety_net_id",
        "due",
        "sponsor_id",
        "phase",
        "name",
    }
)


def recipients_for(state: TeamState, type_: str, details: dict[str, Any]) -> list[Recipient]:
    """The recipients of a notification of ``type_``, by role, as ids."""
    found: list[Recipient] = []
    for role in ROLES.get(type_, ("facilitator",)):
        if role == "facilitator":
            found += [Recipient(role=role, subject=s) for s in state.facilitator_ids]
        elif role == "sponsor" and state.sponsor_id:
            found.append(Recipient(role=role, subject=state.sponsor_id))
        elif role == "participant":
            found += [
                Recipient(role=role, participant_id=pid, subject=state.subjects.get(pid))
                for pid in state.active_participants
            ]
        elif role == "owner":
            net = details.get("safety_net_id")
            nets = [net] if net else [n for n, done in state.safety_nets.items() if not done]
            owners = sorted({state.owner_ids[n] for n in nets if n in state.owner_ids})
            found += [Recipient(role=role, subject=s) for s in owners]
    return found


def notice(
    state: TeamState, type_: str, event_id: str, at: datetime, details: dict[str, Any]
) -> Notification:
    """One notification about the team as it stands in ``state``."""
    safe = {k: val for k, val in details.items() if k in SAFE_DETAILS}
    return Notification(
        team_id=state.team_id,
        type=type_,
        occurred_at=at,
        recipient=state.facilitator_ids[0] if state.facilitator_ids else "facilitator",
        details=safe,
        event_id=event_id,
        recipients=recipients_for(state, type_, safe),
        case_ref=state.case_ref,
        version=state.version,
    )


def timer_notice(state: TeamState, cmd: v.Command, at: datetime) -> Notification:
    """The notification of a timer's event (a reminder, an overdue, an escalation)."""
    details = cmd.model_dump(mode="json", exclude={"type", "event_id", "occurred_at"})
    return notice(state, cmd.type, cmd.event_id, at, details)


def notices_after(
    cmd: v.Command, before: TeamState, after: TeamState, at: datetime
) -> list[Notification]:
    """What recording ``cmd`` (which moved ``before`` to ``after``) is worth telling, besides
    the timer's own notification: a session scheduled, criteria met, a phase entered, the end."""
    found: list[Notification] = []
    if isinstance(cmd, v.SessionScheduled):
        details = {"session": cmd.session, "at": cmd.at.isoformat()}
        found.append(notice(after, cmd.type, cmd.event_id, at, details))
    met = isinstance(cmd, v.ReviewRecorded) and after.phase is Phase.COMMUNICATE
    if met and before.phase is Phase.FOLLOW_UP:
        ended = f"{cmd.event_id}#follow-up-ended"
        found.append(notice(after, "follow_up.ended", ended, at, {"outcome": "criteria_met"}))
    if after.phase is not before.phase:
        details = {"phase": int(after.phase), "name": after.phase.label}
        entered = f"{cmd.event_id}#phase-{int(after.phase)}"
        found.append(notice(after, "phase.entered", entered, at, details))
    if after.status is not before.status and cmd.type in ("team.closed", "team.abandoned"):
        found.append(notice(after, cmd.type, cmd.event_id, at, {}))
    return found
