"""Notifications from a team's workflow: sent in the background, recorded when undeliverable.

A webhook that is down must never fail a case, nor hold up its timers and events. Sending runs
as a task beside the workflow's loop, with bounded retries (:data:`NOTIFY_RETRY`); when every
attempt has failed, the notification is logged and stored as undelivered
(:mod:`ltflow.workflows.undelivered`) for an operator to list and send again, and the case goes
on. Workflow code: deterministic, no I/O of its own.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ltflow.workflows.activities import LtflowActivities
    from ltflow.workflows.payloads import Notification, UndeliveredNotification

#: About two and a half hours of attempts; then the notification is recorded as undelivered.
NOTIFY_RETRY = RetryPolicy(maximum_attempts=20, maximum_interval=timedelta(minutes=10))
NOTIFY_TIMEOUT = timedelta(seconds=30)
#: Recording is a local store write, retried until it succeeds (it is idempotent).
RECORD_TIMEOUT = timedelta(seconds=30)
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100), maximum_interval=timedelta(seconds=5)
)


async def send(note: Notification) -> None:
    """Send through the notification activity; raises ``ActivityError`` once it gives up."""
    await workflow.execute_activity_method(
        LtflowActivities.send_notification,
        note,
        start_to_close_timeout=NOTIFY_TIMEOUT,
        retry_policy=NOTIFY_RETRY,
    )


async def deliver(note: Notification) -> None:
    """Send ``note``; once every attempt has failed, record it as undelivered."""
    try:
        await send(note)
    except ActivityError as error:
        reason = str(error.cause or error)
        workflow.logger.warning(
            "notification undelivered",
            extra={"team_id": str(note.team_id), "type": note.type, "error": reason},
        )
        await workflow.execute_local_activity_method(
            LtflowActivities.record_undelivered,
            UndeliveredNotification(notification=note, error=reason),
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )


class Deliveries:
    """The notifications one workflow run is sending in the background."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, note: Notification) -> None:
        """Begin delivering ``note`` beside the workflow's loop."""
        task = asyncio.create_task(deliver(note))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finished(self) -> None:
        """Wait until every delivery is done: one still under way would be lost with the run
        (before continue-as-new, or the workflow's end)."""
        await workflow.wait_condition(lambda: not self._tasks)
