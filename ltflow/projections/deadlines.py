"""Deadlines: the moments the method's timing sets for active teams.

Sessions that are scheduled but have not started, the reflection window (session 2 may start at
``reflection.opens``, the reminder goes out at ``reflection.reminder``, session 2 must have started
by ``reflection.closes``), the next follow-up review (``review.due``) and the end of the follow-up
period. Rows hold only what the events say; whether a deadline is past is decided when asked,
against the ``now`` the caller passes.

A view across teams (:mod:`ltflow.projections.cross_team`): each deadline names its team by
view id; the team's id, case reference and title show only to those inside the team (and
auditors), the facilitator by name only where the policy shows staff by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from pydantic import BaseModel

from ltflow.access.policy import Viewer
from ltflow.access.views import THE_FACILITATOR
from ltflow.aggregates import schedule
from ltflow.aggregates.phases import Status
from ltflow.projections.base import Row, Table, TeamProjection, from_iso, iso
from ltflow.projections.cross_team import Seen, TeamsSeen, ViewIds, roles_doc
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

    #: The team's opaque id in the views across teams (never derivable from its case).
    view_id: str
    #: The team's id, case reference and title: only for those inside the team and auditors.
    team_id: UUID | None = None
    case_ref: str | None = None
    title: str | None = None
    #: By name where the viewer sees the team's staff by name, else "the facilitator".
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
        ("roles", "TEXT"),
    ),
    key=("team_id", "kind", "ref"),
    indexes=(("due_at",),),
)


def deadline_rows(view: TeamDetailView) -> list[Row]:
    team, roles = view.key, roles_doc(view)
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
            roles,
        )
        for d in pending_deadlines(view)
    ]


PROJECTION = TeamProjection(
    name="deadlines",
    table=TABLE,
    rows=deadline_rows,
    description="upcoming reflection windows, reminders, sessions and reviews due",
    depends_on=("ltflow.projections.cross_team", "ltflow.access.views"),
)


def list_deadlines(
    store: ViewStore,
    *,
    viewer: Viewer,
    ids: ViewIds,
    now: datetime,
    until: datetime | None = None,
    team_id: UUID | None = None,
    kinds: Sequence[str] = (),
    view_id: str | None = None,
) -> list[DeadlineView]:
    """The deadlines ``viewer`` may see from ``now`` on (until ``until``), plus actionable ones
    already passed, earliest first. ``team_id`` matches only teams whose id the viewer sees."""
    seen_by, found = TeamsSeen(viewer, ids), []
    for row in _select(store, now, until, team_id, kinds):
        seen = seen_by.seen(row[0], row[-1])
        if not seen.listed or (view_id is not None and seen.view_id != view_id):
            continue
        if team_id is not None and not seen.inside:  # matches nothing: no way to probe
            continue
        found.append(_view(row, seen, now))
    # Ties in view-id order: an order by team id would tell an outsider about team ids.
    found.sort(key=lambda d: (d.due_at, d.view_id, d.kind, d.ref))
    return found


def _select(
    store: ViewStore,
    now: datetime,
    until: datetime | None,
    team_id: UUID | None,
    kinds: Sequence[str],
) -> list[Row]:
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
        "SELECT team_id, case_ref, title, facilitator, kind, ref, due_at, actionable, roles "
        f"FROM {store.table(TABLE)} WHERE {' AND '.join(where)}"
    )
    with store.read() as tx:
        return tx.fetchall(sql, params)


def _view(row: Row, seen: Seen, now: datetime) -> DeadlineView:
    team_id, case_ref, title, facilitator, kind, ref, due_at, actionable, _roles = row
    due = from_iso(due_at)
    assert due is not None
    inside = seen.inside
    return DeadlineView(
        view_id=seen.view_id,
        team_id=UUID(team_id) if inside else None,
        case_ref=case_ref if inside else None,
        title=title if inside else None,
        facilitator=facilitator if seen.names else THE_FACILITATOR,
        kind=kind,
        ref=ref,
        due_at=due,
        actionable=bool(actionable),
        overdue=bool(actionable) and due < now,
    )
