"""Theme trends: teams, learning points and safety nets per theme per month.

Each team stores its own contribution (one row per month it added something in, by business
time, UTC months); the query sums them. A team without a theme counts under theme None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from ltflow.projections.base import Row, Table, TeamProjection, month_of
from ltflow.projections.team_models import TeamDetailView

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore

_NO_THEME = ""


class ThemeTrendView(BaseModel):
    """What was learned under one theme in one month."""

    theme: str | None
    month: str
    teams: int
    learning_points: int
    safety_nets: int


TABLE = Table(
    name="theme_trends",
    columns=(
        ("team_id", "TEXT"),
        ("month", "TEXT"),
        ("theme", "TEXT"),
        ("teams", "INTEGER"),
        ("learning_points", "INTEGER"),
        ("safety_nets", "INTEGER"),
    ),
    key=("team_id", "month"),
    indexes=(("theme", "month"),),
)


def trend_rows(view: TeamDetailView) -> list[Row]:
    counts: dict[str, list[int]] = {month_of(view.convened_at): [1, 0, 0]}
    for lp in view.learning_points:
        counts.setdefault(month_of(lp.recorded_at), [0, 0, 0])[1] += 1
    for net in view.safety_nets:
        counts.setdefault(month_of(net.defined_at), [0, 0, 0])[2] += 1
    theme = view.theme or _NO_THEME
    return [(view.key, month, theme, *counts[month]) for month in sorted(counts)]


PROJECTION = TeamProjection(
    name="theme_trends",
    table=TABLE,
    rows=trend_rows,
    description="teams, learning points and safety nets per theme per month",
)


def theme_trends(
    store: ViewStore,
    *,
    theme: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[ThemeTrendView]:
    """Totals per theme and month (``since``/``until`` are inclusive ``YYYY-MM``)."""
    where, params = [], []
    if theme is not None:
        where.append("theme = ?")
        params.append(theme)
    if since is not None:
        where.append("month >= ?")
        params.append(since)
    if until is not None:
        where.append("month <= ?")
        params.append(until)
    sql = (
        "SELECT theme, month, SUM(teams), SUM(learning_points), SUM(safety_nets) "
        f"FROM {store.table(TABLE)}"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " GROUP BY theme, month ORDER BY theme, month"
    with store.read() as tx:
        rows = tx.fetchall(sql, params)
    return [
        ThemeTrendView(
            theme=row[0] or None,
            month=row[1],
            teams=int(row[2]),
            learning_points=int(row[3]),
            safety_nets=int(row[4]),
        )
        for row in rows
    ]
