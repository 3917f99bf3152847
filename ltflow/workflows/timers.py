"""What is due next for a team, and when: the workflow's durable timers, as a pure function.

The workflow sleeps until :func:`next_due` says so, then records the system event it names.
Deterministic ids make a timer that fires twice (a replay, a restart) store one event only.

:func:`next_due` without ``now`` is the timers of runs begun before every deadline had a
reminder (the reflection reminder and overdue, reviews, the end of follow-up). With ``now``
(``workflow.now()``) it also names the reminders of issue 16 (:func:`deadline_reminders`): a
slot's event id is stable (``system:<type>:<key>``) and a slot already in the team's record is
never due again, so each is recorded once; a reminder whose deadline has already passed (a
worker that was down for days) is skipped rather than sent late.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote

from ltflow.aggregates import schedule
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.bounds import shift
from ltflow.aggregates.phases import Phase, Status
from ltflow.aggregates.state import TeamState


@dataclass(frozen=True)
class Due:
    """A system event to record at ``at``."""

    at: datetime
    command: c.Command


#: A scheduled session is reminded of the day before.
SESSION_REMINDER_BEFORE = timedelta(days=1)
#: An open safety net is reminded of at the start of the day before its due date (UTC), is
#: overdue at the start of the day after, and escalated to the sponsor a week after that.
SAFETY_NET_REMINDER_BEFORE = timedelta(days=1)
SAFETY_NET_ESCALATE_AFTER = timedelta(days=7)
#: The follow-up's end is announced a week before, or halfway through a shorter follow-up.
FOLLOW_UP_ENDING_BEFORE = timedelta(days=7)


def next_due(
    state: TeamState, *, now: datetime | None = None, skip: frozenset[str] = frozenset()
) -> Due | None:
    """The earliest timer the team is waiting for, or None when nothing is timed.

    Without ``now``: the timers of runs begun before the reminders of every deadline. With it:
    those and :func:`deadline_reminders`, minus the event ids in ``skip`` (judged inapplicable).
    """
    legacy = _legacy_due(state)
    if now is None:
        return legacy
    candidates = [d for d in [legacy, *deadline_reminders(state, now)] if d is not None]
    candidates = [d for d in candidates if d.command.event_id not in skip]
    return min(candidates, key=lambda d: d.at, default=None)


def _legacy_due(state: TeamState) -> Due | None:
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


def slot_key(text: str) -> str:
    """A safe piece of an event id: no '#' (it marks derived events), no spaces, not too long."""
    quoted = quote(text, safe="")
    return quoted if len(quoted) <= 200 else "h-" + hashlib.sha256(text.encode()).hexdigest()


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def deadline_reminders(state: TeamState, now: datetime) -> list[Due]:
    """Every reminder of issue 16 still to come for the team, in no particular order: none is
    already in its record, none has outlived its deadline at ``now``."""
    if state.status is not Status.ACTIVE:
        return []
    found = [*_session_reminders(state, now), *_prompt(state, now), *_follow_up_ending(state, now)]
    found += _safety_net_deadlines(state, now)
    return [d for d in found if d.command.event_id not in state.processed]


def _session_reminders(state: TeamState, now: datetime) -> list[Due]:
    if state.phase not in c.SessionReminderDue.phases:
        return []
    found: list[Due] = []
    for number, session in sorted(state.sessions.items()):
        at = session.scheduled_at
        if at is None or at <= now or session.started_at or session.completed_at:
            continue
        event_id = f"system:session.reminder_due:{number}:{_stamp(at)}"
        cmd = c.SessionReminderDue(event_id=event_id, session=number, at=at)
        found.append(Due(shift(at, -SESSION_REMINDER_BEFORE), cmd))
    return found


def _prompt(state: TeamState, now: datetime) -> list[Due]:
    earliest = state.reflection_earliest
    if state.phase is not Phase.PROCESSING_TIME or earliest is None or earliest <= now:
        return []
    cmd = c.ReflectionPromptDue(event_id="system:reflection.prompt_due", earliest=earliest)
    return [Due(shift(earliest, -(state.policy.min_reflection / 2)), cmd)]


def _follow_up_ending(state: TeamState, now: datetime) -> list[Due]:
    ends = state.follow_up_ends_at
    if state.phase is not Phase.FOLLOW_UP or ends is None or ends <= now:
        return []
    lead = min(FOLLOW_UP_ENDING_BEFORE, state.policy.follow_up_for / 2)
    cmd = c.FollowUpEndingDue(event_id="system:follow_up.ending_due", ends=ends)
    return [Due(shift(ends, -lead), cmd)]


def _safety_net_deadlines(state: TeamState, now: datetime) -> list[Due]:
    if state.phase not in c.WHILE_SAFETY_NETS_OPEN:
        return []
    found: list[Due] = []
    for net_id, due in sorted(state.safety_net_due.items()):
        if state.safety_nets.get(net_id, True):
            continue  # completed (or unknown)
        key = f"{slot_key(net_id)}:{due.isoformat()}"
        overdue_at = shift(_start_of(due), timedelta(days=1))
        if now < overdue_at:
            found.append(
                Due(
                    shift(_start_of(due), -SAFETY_NET_REMINDER_BEFORE),
                    c.SafetyNetReminderDue(
                        event_id=f"system:safety_net.reminder_due:{key}",
                        safety_net_id=net_id,
                        due=due,
                    ),
                )
            )
        overdue = c.SafetyNetOverdue(
            event_id=f"system:safety_net.overdue:{key}", safety_net_id=net_id, due=due
        )
        found.append(Due(overdue_at, overdue))
        if overdue.event_id in state.processed:  # escalated only after it was found overdue
            escalated = c.SafetyNetEscalated(
                event_id=f"system:safety_net.escalated:{key}",
                safety_net_id=net_id,
                due=due,
                sponsor_id=state.sponsor_id,
            )
            found.append(Due(shift(overdue_at, SAFETY_NET_ESCALATE_AFTER), escalated))
    return found
