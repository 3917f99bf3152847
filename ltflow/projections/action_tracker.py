"""Action tracker: every safety net across teams, with its owner, due date and status.

Status is one of ``open``, ``overdue`` (open, and due before ``today``) or ``done``; ``today`` is
an argument, so the stored rows never depend on when they were written.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal
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
from ltflow.projections.team_models import SafetyNetView, TeamDetailView

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore

ActionStatus = Literal["open", "overdue", "done"]


class ActionView(BaseModel):
    """One safety net (micro-action or experiment) of one team."""

    team_id: UUID
    case_ref: str
    title: str
    theme: str | None = None
    team_status: str
    safety_net_id: str
    kind: str
    description: str
    owner: str
    due: date | None = None
    status: ActionStatus
    defined_at: datetime
    completed_at: datetime | None = None
    outcome: str | None = None


def action_status(net: SafetyNetView, today: date) -> ActionStatus:
    """``done``, ``overdue`` (open and due before today) or ``open``."""
    return _status(net.status == "done", net.due, today)


def _status(done: bool, due: date | None, today: date) -> ActionStatus:
    if done:
        return "done"
    return "overdue" if due is not None and due < today else "open"


TABLE = Table(
    name="action_tracker",
    columns=(
        ("team_id", "TEXT"),
        ("safety_net_id", "TEXT"),
        ("case_ref", "TEXT"),
        ("title", "TEXT"),
        ("theme", "TEXT"),
        ("team_status", "TEXT"),
        ("kind", "TEXT"),
        ("description", "TEXT"),
        ("owner", "TEXT"),
        ("due", "TEXT"),
        ("done", "INTEGER"),
        ("defined_at", "TEXT"),
        ("completed_at", "TEXT"),
        ("outcome", "TEXT"),
    ),
    key=("team_id", "safety_net_id"),
    indexes=(("done", "due"), ("owner",)),
)
_COLUMNS = ", ".join(TABLE.column_names)


def action_rows(view: TeamDetailView) -> list[Row]:
    team = view.key
    return [
        (
            team,
            net.safety_net_id,
            view.case_ref,
            view.title,
            view.theme,
            view.status.value,
            net.kind,
            net.description,
            net.owner,
            iso_date(net.due),
            int(net.status == "done"),
            iso(net.defined_at),
            iso(net.completed_at),
            net.outcome,
        )
        for net in view.safety_nets
    ]


PROJECTION = TeamProjection(
    name="action_tracker",
    table=TABLE,
    rows=action_rows,
    description="every safety net with owner, due date and status",
)

_STATUS_SQL: dict[str, str] = {
    "done": "done = 1",
    "overdue": "done = 0 AND due IS NOT NULL AND due < ?",
    "open": "done = 0 AND (due IS NULL OR due >= ?)",
}


def list_actions(
    store: ViewStore,
    *,
    today: date,
    status: ActionStatus | None = None,
    owner: str | None = None,
    team_id: UUID | None = None,
    theme: str | None = None,
) -> list[ActionView]:
    """Safety nets across teams, soonest due first (no due date last)."""
    where: list[str] = []
    params: list[object] = []
    if status is not None:
        where.append(_STATUS_SQL[status])
        if status != "done":
            params.append(today.isoformat())
    equal, values = equal_filters(
        (("owner", owner), ("theme", theme), ("team_id", None if team_id is None else str(team_id)))
    )
    sql = f"SELECT {_COLUMNS} FROM {store.table(TABLE)}" + where_sql(where + equal)
    params += values
    sql += " ORDER BY due IS NULL, due, team_id, safety_net_id"
    with store.read() as tx:
        rows = tx.fetchall(sql, params)
    return [_view(row, today) for row in rows]


def _view(row: Row, today: date) -> ActionView:
    v = dict(zip(TABLE.column_names, row, strict=True))
    due = date.fromisoformat(v["due"]) if v["due"] else None
    status = _status(bool(v.pop("done")), due, today)
    return ActionView.model_validate(
        {
            **v,
            "due": due,
            "status": status,
            "defined_at": from_iso(v["defined_at"]),
            "completed_at": from_iso(v["completed_at"]),
        }
    )
