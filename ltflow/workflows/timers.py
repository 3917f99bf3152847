"""What is due next for a team, and when: the workflow's durable timers, as a pure function.

The workflow sleeps until :func:`next_due` says so, then records the system event it names.
Deterministic ids make a timer that fires twice (a replay, a restart) store one event only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ltflow.aggregates import schedule
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.phases import Phase, Status
from ltflow.aggregates.state import TeamState


@dataclass(frozen=True)
class Due:
    """A system event to record at ``at``."""

    at: datetime
    command: c.Command


def next_due(state: TeamState) -> Due | None:
    """The earliest timer the team is waiting for, or None when nothing is timed."""
    if state.status is not Status.ACTIVE:
        return None
    if state.phase is Phase.PROCESSING_TIME:
        return _reflection_due(state)
    if state.phase is Phase.FOLLOW_UP and state.follow_up_started_at is not None:
        return _follow_up_due(state)
    return None


def _reflection_due(state: TeamState) -> Due | None:
    latest = state.reflection_latest
    if latest is None:
        return None
    if not state.reflection_reminded:
        return Due(
            schedule.reminder_at(latest, state.policy),
            c.ReflectionReminderDue(event_id="system:reflection.reminder_due", latest=latest),
        )
    if not state.reflection_overdue:
        return Due(
            latest,
            c.ReflectionOverdue(
                event_id="system:reflection.overdue", latest=latest, facilitator=state.facilitator
            ),
        )
    return None


def _follow_up_due(state: TeamState) -> Due:
    started = state.follow_up_started_at
    assert started is not None
    review = state.reviews_due + 1
    review_at = schedule.review_due_at(started, state.policy, review)
    if review_at is not None:
        open_criteria = sorted(cid for cid, met in state.criteria.items() if not met)
        return Due(
            review_at,
            c.ReviewDue(
                event_id=f"system:review.due:{review}", review=review, criteria=open_criteria
            ),
        )
    ends = schedule.follow_up_ends_at(started, state.policy)
    return Due(ends, c.FollowUpEnded(event_id="system:follow_up.ended", outcome="period_ended"))
