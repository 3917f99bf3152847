"""Deadlines: the moments the method's timing sets for active teams.

Sessions that are scheduled but have not started, the reflection window (session 2 may start at
``reflection.opens``, the reminder goes out at ``reflection.reminder``, session 2 must have started
by ``reflection.closes``), the next follow-up review (``review.due``) and the end of the follow-up
period. Rows hold only what the events say; whether a deadline is past is decided when asked,
against the ``now`` the caller passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from pydantic import BaseModel

from ltflow.aggregates import schedule
from ltflow.aggregates.phases import Status
from ltflow.projections.base import Row, Table, TeamProjection, from_iso, iso
from ltflow.projections.team_models import TeamDetailView

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore

#: Deadlines somebody must act on; the others mark a moment (a window opening, a system timer).
ACTIONABLE = frozenset({"session", "reflection.closes", "review.due"})


class Deadline(NamedTuple):
    kind: str
    ref: str
    due_at: datetime

    @property
    def actionable(self) -> bool:
        return self.kind in ACTIONABLE


class DeadlineView(BaseModel):
    """One pending deadline of one team."""

    team_id: UUID
    case_ref: str
    title: str
    facilitator: str
    kind: str
    #: Which one, where a team has several of a kind (session number, review number).
    ref: str
    due_at: datetime
    actionable: bool
    #: An actionable deadline that has passed (as of the ``now`` asked with).
    overdue: bool


def pending_deadlines(view: TeamDetailView) -> list[Deadline]:
    """Every deadline the team still has, earliest first. Pure: no clock."""
    if view.status is not Status.ACTIVE:
        return []
    found = [
        Deadline("session", str(s.session), s.scheduled_at)
        for s in view.sessions
        if s.scheduled_at is not None and s.started_at is None and s.completed_at is None
    ]
    reflection, session_two = (
        view.reflection,
        next((s for s in view.sessions if s.session == 2 and s.started_at is not None), None),
    )
    if reflection is not None and session_two is None:
        found.append(Deadline("reflection.opens", "", reflection.earliest))
        if reflection.reminded_at is None:
            found.append(Deadline("reflection.reminder", "", reflection.reminder_at))
        found.append(Deadline("reflection.closes", "", reflection.latest))
    follow_up = view.follow_up
    if follow_up is not None and follow_up.ended_at is None:
        number = follow_up.reviews_due + 1
        review_at = schedule.review_due_at(follow_up.started_at, view.policy, number)
        if review_at is not None:
            found.append(Deadline("review.due", str(number), review_at))
        found.append(Deadline("follow_up.ends", "", follow_up.ends_at))
    return sorted(found, key=lambda d: (d.due_at, d.kind, d.ref))


def next_deadline(view: TeamDetailView) -> Deadline | None:
    """The earliest deadline somebody must act on, if any."""
    return next((d for d in pending_deadlines(view) if d.actionable), None)


TABLE = Table(
    name="deadlines",
    columns=(
        ("team_id", "TEXT"),
        ("kind", "TEXT"),
        ("ref", "TEXT"),
        ("due_at", "TEXT"),
        ("actionable", "INTEGER"),
        ("case_ref", "TEXT"),
        ("title", "TEXT"),
        ("facilitator", "TEXT"),
    ),
    key=("team_id", "kind", "ref"),
    indexes=(("due_at",),),
)


def deadline_rows(view: TeamDetailView) -> list[Row]:
    team = view.key
    return [
        (
            team,
            d.kind,
            d.ref,
            iso(d.due_at),
            int(d.actionable),
            view.case_ref,
            view.title,
            view.facilitator,
        )
        for d in pending_deadlines(view)
    ]


PROJECTION = TeamProjection(
    name="deadlines",
    table=TABLE,
    rows=deadline_rows,
    description="upcoming reflection windows, reminders, sessions and reviews due",
)


def list_deadlines(
    store: ViewStore,
    *,
    now: datetime,
    until: datetime | None = None,
    team_id: UUID | None = None,
    kinds: Sequence[str] = (),
) -> list[DeadlineView]:
    """Deadlines from ``now`` on (until ``until``), plus actionable ones already passed."""
    where = ["(due_at >= ? OR actionable = 1)"]
    params: list[object] = [iso(now)]
    if until is not None:
        where.append("due_at <= ?")
        params.append(iso(until))
    if team_id is not None:
        where.append("team_id = ?")
        params.append(str(team_id))
    if kinds:
        where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
        params.extend(kinds)
    sql = (
        "SELECT team_id, case_ref, title, facilitator, kind, ref, due_at, actionable "
        f"FROM {store.table(TABLE)} WHERE {' AND '.join(where)} ORDER BY due_at, team_id, kind, ref"
    )
    with store.read() as tx:
        rows = tx.fetchall(sql, params)
    return [_view(row, now) for row in rows]


def _view(row: Row, now: datetime) -> DeadlineView:
    team_id, case_ref, title, facilitator, kind, ref, due_at, actionable = row
    due = from_iso(due_at)
    assert due is not None
    return DeadlineView(
        team_id=UUID(team_id),
        case_ref=case_ref,
        title=title,
        facilitator=facilitator,
        kind=kind,
        ref=ref,
        due_at=due,
        actionable=bool(actionable),
        overdue=bool(actionable) and due < now,
    )
