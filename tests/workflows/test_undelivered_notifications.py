"""A notification port that is down for good never fails a case (issue 15, second defect).

Before the fix, the reminder's notification exhausted its retries and failed the workflow: the
overdue escalation was never recorded, and every later event was refused as team_not_found.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates.state import Phase
from ltflow.demo import narrative
from ltflow.workflows.learning_team import workflow_id_for
from ltflow.workflows.payloads import Notification
from ltflow.workflows.undelivered import UndeliveredLog
from tests.workflows.test_learning_team_workflow import run_until, types


class DownNotifier:
    """A webhook that never answers: every attempt raises."""

    def __init__(self) -> None:
        self.attempts = 0

    def notify(self, notification: Notification) -> None:
        self.attempts += 1
        raise ConnectionError("webhook unreachable")


async def test_an_undeliverable_notification_is_recorded_and_the_case_carries_on(
    time_env: WorkflowEnvironment, stack_factory: Any
) -> None:
    down = DownNotifier()
    async with stack_factory(time_env, search_attributes=False, notifier=down) as stack:
        case_ref = f"VIM-{uuid.uuid4().hex[:10]}"
        team_id = (
            await stack.ltflow.open_team(narrative.convene(case_ref=case_ref), actor="f")
        ).team_id
        await run_until(stack, time_env, team_id, "done-1")

        # Past the reminder (day 12) and the overdue escalation (day 14), and past every one of
        # the notifications' retries (about two and a half hours each).
        await time_env.sleep(timedelta(days=15))

        handle = stack.client.get_workflow_handle(workflow_id_for(team_id))
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        history = stack.app().history(team_id)
        overdue = [f for f in history if f.type == "reflection.overdue"]
        assert len(overdue) == 1
        assert overdue[0].actor == "system"
        assert down.attempts >= 2 * 20  # both notifications, every attempt

        late = await stack.ltflow.send(
            team_id, {"type": "session.started", "event_id": "s2", "session": 2}, actor="f"
        )
        assert late.phase is Phase.SESSION_TWO
        assert types(stack, team_id)[-1] == "phase.entered"

        undelivered = UndeliveredLog.from_settings(stack.settings)
        try:
            pending = undelivered.pending()
        finally:
            undelivered.close()
        timed = [e for e in pending if e.notification.type.startswith("reflection.")]
        assert [(e.notification.team_id, e.notification.type) for e in timed] == [
            (team_id, "reflection.prompt_due"),
            (team_id, "reflection.reminder_due"),
            (team_id, "reflection.overdue"),
        ]
        assert timed[2].notification.recipient == "facilitator"  # a role, never a name
        assert "webhook unreachable" in pending[1].error


async def test_a_notification_being_retried_holds_up_no_later_timer(
    time_env: WorkflowEnvironment, stack_factory: Any
) -> None:
    """The reminder's notification retries for hours; the overdue escalation 16 s later still
    fires on time (before the fix it waited for the reminder's last attempt)."""
    short = {
        "min_reflection": "PT1S",
        "max_reflection": "PT20S",
        "reflection_reminder_before": "PT16S",
    }
    down = DownNotifier()
    async with stack_factory(time_env, search_attributes=False, notifier=down) as stack:
        body = narrative.convene(case_ref=f"VIM-{uuid.uuid4().hex[:10]}", policy=short)
        team_id = (await stack.ltflow.open_team(body, actor="f")).team_id
        await run_until(stack, time_env, team_id, "done-1")
        await time_env.sleep(timedelta(minutes=10))

        history = stack.app().history(team_id)
        opened = next(f for f in history if f.type == "reflection.opened")
        overdue = [f for f in history if f.type == "reflection.overdue"]
        assert len(overdue) == 1, "the escalation waits for the reminder's notification"
        latest = datetime.fromisoformat(opened.payload["latest"])
        assert timedelta(0) <= overdue[0].occurred_at - latest < timedelta(seconds=5)
