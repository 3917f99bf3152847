"""When things fall due under a team's policy: pure arithmetic, one place.

The workflow's timers (:mod:`ltflow.workflows.timers`) and the deadlines read model both ask
here, so what a facilitator sees as due is exactly when the workflow acts. The arithmetic saturates
(:func:`ltflow.aggregates.bounds.shift`): a policy stored before the bounds existed, however
absurd, gives a time far in the future instead of an ``OverflowError`` in a timer, a store
activity or a projection.
"""

from __future__ import annotations

from datetime import datetime

from ltflow.aggregates.bounds import MIN_POLICY_FLOOR, shift
from ltflow.aggregates.vocabulary import Policy


def reflection_window(session_one_completed: datetime, policy: Policy) -> tuple[datetime, datetime]:
    """Earliest and latest start of session 2."""
    return (
        shift(session_one_completed, policy.min_reflection),
        shift(session_one_completed, policy.max_reflection),
    )


def reminder_at(latest: datetime, policy: Policy) -> datetime:
    """When the facilitator is reminded that session 2 has not started yet."""
    return shift(latest, -policy.reflection_reminder_before)


def follow_up_ends_at(started: datetime, policy: Policy) -> datetime:
    return shift(started, policy.follow_up_for)


def review_due_at(started: datetime, policy: Policy, review: int) -> datetime | None:
    """When review number ``review`` (1, 2, ...) falls due, or None when the follow-up period
    ends first (a review due exactly at the end gives way to the end). Reviews never come
    closer than the lowest floor a deployment may set, whatever a policy stored before the
    bounds says, so the timer cannot spin."""
    at = shift(started, max(policy.review_every, MIN_POLICY_FLOOR), review)
    return at if at < follow_up_ends_at(started, policy) else None
