"""Action tracker: every safety net across teams, with its owner, due date and status.

Status is one of ``open``, ``overdue`` (open, and due before ``today``) or ``done``; ``today`` is
an argument, so the stored rows never depend on when they were written.

A view across teams (:mod:`ltflow.projections.cross_team`): each entry names its team by view
id; the team's id, case reference and title show only to those inside the team (and auditors),
the owner by name only where the policy shows staff by name, else as "the owner". Filtering by
team id or owner matches only entries whose team id or owner the viewer may see.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel

from ltflow.access.policy import Viewer
from ltflow.access.views import THE_OWNER
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
from ltflow.projections.cross_team import Seen, TeamsSeen, ViewIds, roles_doc
from ltflow.projections.team_models import SafetyNetView, TeamDetailView

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore

#: ``ended``: still open when its team was closed or abandoned (no longer anyone's to do).
ActionStatus = Literal["open", "overdue", "done", "ended"]


class ActionView(BaseModel):
    """One safety net (micro-action or experiment) of one team."""

    #: The team's opaque id in the views across teams (never derivable from its case).
    view_id: str
    #: The team's id, case reference and title: only for those inside the team and auditors.
    team_id: UUID | None = None
    case_ref: str | None = None
    title: str | None = None
    theme: str | None = None
    team_status: str
    safety_net_id: str
    kind: str
    description: str
    #: By name where the viewer sees the team's staff by name, else "the owner".
    owner: str
    due: date | None = None
    status: ActionStatus
    defined_at: datetime
    completed_at: datetime | None = None
    outcome: str | None = None


def action_status(net: SafetyNetView, today: date, team_status: str = "active") -> ActionStatus:
    """``done``, ``ended`` (not done when its team ended), ``overdue`` (open and due before
    today) or ``open``."""
    return _status(net.status == "done", net.due, today, team_status)


def _status(done: bool, due: date | None, today: date, team_status: str) -> ActionStatus:
    if done:
        return "done"
    if team_status != "active":
        return "ended"
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
        ("roles", "TEXT"),
    ),
    key=("team_id", "safety_net_id"),
    indexes=(("done", "due"), ("owner",)),
)
_COLUMNS = ", ".join(TABLE.column_names)


def action_rows(view: TeamDetailView) -> list[Row]:
    team, roles = view.key, roles_doc(view)
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
            roles,
        )
        for net in view.safety_nets
    ]


PROJECTION = TeamProjection(
    name="action_tracker",
    table=TABLE,
    rows=action_rows,
    description="every safety net with owner, due date and status",
    depends_on=("ltflow.projections.cross_team", "ltflow.access.views"),
)

_STATUS_SQL: dict[str, str] = {
    "done": "done = 1",
    "ended": "done = 0 AND team_status <> 'active'",
    "overdue": "done = 0 AND team_status = 'active' AND due IS NOT NULL AND due < ?",
    "open": "done = 0 AND team_status = 'active' AND (due IS NULL OR due >= ?)",
}


def list_actions(
    store: ViewStore,
    *,
    viewer: Viewer,
    ids: ViewIds,
    today: date,
    status: ActionStatus | None = None,
    owner: str | None = None,
    team_id: UUID | None = None,
    theme: str | None = None,
    view_id: str | None = None,
) -> list[ActionView]:
    """The safety nets ``viewer`` may see, soonest due first (no due date last)."""
    where: list[str] = []
    params: list[object] = []
    if status is not None:
        where.append(_STATUS_SQL[status])
        if status in ("open", "overdue"):
            params.append(today.isoformat())
    equal, values = equal_filters(
        (("owner", owner), ("theme", theme), ("team_id", None if team_id is None else str(team_id)))
    )
    sql = f"SELECT {_COLUMNS} FROM {store.table(TABLE)}" + where_sql(where + equal)
    with store.read() as tx:
        rows = tx.fetchall(sql, params + values)
    seen_by, found = TeamsSeen(viewer, ids), []
    for row in rows:
        fields = dict(zip(TABLE.column_names, row, strict=True))
        seen = seen_by.seen(fields["team_id"], fields.pop("roles"))
        if _shows(seen, team_id=team_id, owner=owner, view_id=view_id):
            found.append(_view(fields, seen, today))
    # Ties in view-id order: an order by team id would tell an outsider about team ids.
    found.sort(key=lambda a: (a.due is None, a.due or today, a.view_id, a.safety_net_id))
    return found


def _shows(seen: Seen, *, team_id: UUID | None, owner: str | None, view_id: str | None) -> bool:
    """Whether an entry of a team seen so passes the filters. A filter on what the viewer may
    not see matches nothing, exactly as for a team or owner that does not exist."""
    if not seen.listed or (view_id is not None and seen.view_id != view_id):
        return False
    return (team_id is None or seen.inside) and (owner is None or seen.names)


def _view(fields: dict[str, object], seen: Seen, today: date) -> ActionView:
    """An action as this viewer sees it: the team by view id outside it, the owner by role
    where staff do not show by name."""
    if not seen.inside:
        fields.update(team_id=None, case_ref=None, title=None)
    if not seen.names:
        fields["owner"] = THE_OWNER
    due_text = fields["due"]
    due = date.fromisoformat(str(due_text)) if due_text else None
    status = _status(bool(fields.pop("done")), due, today, str(fields["team_status"]))
    return ActionView.model_validate(
        {
            **fields,
            "view_id": seen.view_id,
            "due": due,
            "status": status,
            "defined_at": from_iso(str(fields["defined_at"])),
            "completed_at": from_iso(fields["completed_at"]),  # type: ignore[arg-type]
        }
    )
