"""Team overview: one line per team, for lists and dashboards; filters by phase, theme, trigger.

Overdue flags are decided when asked, against the ``now`` the caller passes: the stored row holds
the team's next actionable deadline and the earliest due date of its open safety nets.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel

from ltflow.projections.base import (
    Row,
    Table,
    TeamProjection,
    equal_filters,
    from_iso,
    iso,
    iso_date,
    where_sql,
)
from ltflow.projections.deadlines import next_deadline
from ltflow.projections.team_models import TeamDetailView

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore


class OverdueFlags(BaseModel):
    """What has run late for a team."""

    #: Session 2 did not start within the reflection period (the workflow recorded it).
    reflection: bool = False
    #: The team's next actionable deadline has passed.
    deadline: bool = False
    #: At least one open safety net is past its due date.
    safety_nets: bool = False


class TeamOverviewView(BaseModel):
    """One team in a list."""

    team_id: UUID
    case_ref: str
    title: str
    trigger: str
    theme: str | None = None
    phase: int
    phase_name: str
    status: str
    participants: int
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None
    open_safety_nets: int
    overdue: OverdueFlags
    convened_at: datetime
    updated_at: datetime
    version: int


TABLE = Table(
    name="team_overview",
    columns=(
        ("team_id", "TEXT"),
        ("case_ref", "TEXT"),
        ("title", "TEXT"),
        ("trigger", "TEXT"),
        ("theme", "TEXT"),
        ("phase", "INTEGER"),
        ("phase_name", "TEXT"),
        ("status", "TEXT"),
        ("participants", "INTEGER"),
        ("next_deadline_at", "TEXT"),
        ("next_deadline_kind", "TEXT"),
        ("open_safety_nets", "INTEGER"),
        ("earliest_open_due", "TEXT"),
        ("reflection_overdue", "INTEGER"),
        ("convened_at", "TEXT"),
        ("updated_at", "TEXT"),
        ("version", "INTEGER"),
    ),
    key=("team_id",),
    indexes=(("phase",), ("theme",), ("trigger",), ("convened_at",)),
)
_COLUMNS = ", ".join(TABLE.column_names)


def overview_rows(view: TeamDetailView) -> list[Row]:
    deadline = next_deadline(view)
    open_nets = [n for n in view.safety_nets if n.status == "open"]
    dues = [n.due for n in open_nets if n.due is not None]
    reflection_overdue = view.reflection is not None and view.reflection.overdue_at is not None
    return [
        (
            view.key,
            view.case_ref,
            view.title,
            view.trigger,
            view.theme,
            int(view.phase),
            view.phase_name,
            view.status.value,
            view.active_participants,
            iso(deadline.due_at) if deadline else None,
            deadline.kind if deadline else None,
            len(open_nets),
            iso_date(min(dues)) if dues else None,
            int(reflection_overdue),
            iso(view.convened_at),
            iso(view.updated_at),
            view.version,
        )
    ]


PROJECTION = TeamProjection(
    name="team_overview",
    table=TABLE,
    rows=overview_rows,
    description="one line per team: phase, participants, next deadline, overdue flags",
    depends_on=("ltflow.projections.deadlines",),
)


def list_teams(
    store: ViewStore,
    *,
    now: datetime,
    phase: int | None = None,
    theme: str | None = None,
    trigger: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    team_ids: Collection[str] | None = None,
) -> list[TeamOverviewView]:
    """Teams, newest first, filtered; ``now`` decides the overdue flags. ``team_ids``: only
    these teams (the ones a viewer may see)."""
    where, params = equal_filters(
        (("phase", phase), ("theme", theme), ("trigger", trigger), ("status", status))
    )
    if team_ids is not None:
        if not team_ids:
            return []
        where.append(f"team_id IN ({', '.join('?' for _ in team_ids)})")
        params += list(team_ids)
    sql = f"SELECT {_COLUMNS} FROM {store.table(TABLE)}" + where_sql(where)
    sql += " ORDER BY convened_at DESC, team_id"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    with store.read() as tx:
        rows = tx.fetchall(sql, params)
    return [_view(row, now) for row in rows]


def get_team_overview(store: ViewStore, team_id: UUID, *, now: datetime) -> TeamOverviewView | None:
    with store.read() as tx:
        row = tx.fetchone(
            f"SELECT {_COLUMNS} FROM {store.table(TABLE)} WHERE team_id = ?", (str(team_id),)
        )
    return None if row is None else _view(row, now)


def _view(row: Row, now: datetime) -> TeamOverviewView:
    values = dict(zip(TABLE.column_names, row, strict=True))
    deadline_at = from_iso(values["next_deadline_at"])
    earliest_due = values.pop("earliest_open_due")
    flags = OverdueFlags(
        reflection=bool(values.pop("reflection_overdue")),
        deadline=deadline_at is not None and deadline_at < now,
        safety_nets=earliest_due is not None and earliest_due < now.date().isoformat(),
    )
    return TeamOverviewView.model_validate({**values, "overdue": flags})
