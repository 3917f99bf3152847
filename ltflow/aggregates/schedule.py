"""When things fall due under a team's policy: pure arithmetic, one place.

The workflow's timers (:mod:`ltflow.workflows.timers`) and the deadlines read model both ask
here, so what a facilitator sees as due is exactly when the workflow acts.
"""

from __future__ import annotations

from datetime import datetime

from ltflow.aggregates.vocabulary import Policy


def reflection_window(session_one_completed: datetime, policy: Policy) -> tuple[datetime, datetime]:
    """Earliest and latest start of session 2."""
    return (
        session_one_completed + policy.min_reflection,
        session_one_completed + policy.max_reflection,
    )


def reminder_at(latest: datetime, policy: Policy) -> datetime:
    """When the facilitator is reminded that session 2 has not started yet."""
    return latest - policy.reflection_reminder_before


def follow_up_ends_at(started: datetime, policy: Policy) -> datetime:
    return started + policy.follow_up_for


def review_due_at(started: datetime, policy: Policy, review: int) -> datetime | None:
    """When review number ``review`` (1, 2, ...) falls due, or None when the follow-up period
    ends first (a review due exactly at the end gives way to the end)."""
    at = started + policy.review_every * review
    return at if at < follow_up_ends_at(started, policy) else None
