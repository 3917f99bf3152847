"""The series read model: a series' teams, their phases, and what the series learned over time.

One row per team a series convened (the team detail view's ``series_id``, read from its case
``series-<id>-<slot>``), holding the team's slot, phase and status, and its keep and change
learning points and safety nets. :func:`series_overview` puts a series' rows together, so a
ward sees its own rhythm of learning: how many teams reached which phase, and what each one
kept, changed and set out to do. No person is named here (no participants, no owners).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from ltflow.aggregates.phases import Phase
from ltflow.projections.base import Row, Table, TeamProjection, iso
from ltflow.projections.team_models import TeamDetailView
from ltflow.series.refs import parse_case_ref

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore


class SeriesLearningPoint(BaseModel):
    kind: Literal["keep", "change"]
    text: str
    recorded_at: datetime


class SeriesSafetyNet(BaseModel):
    kind: Literal["micro_action", "experiment"]
    description: str
    status: Literal["open", "done"]
    due: date | None = None
    completed_at: datetime | None = None


class SeriesTeamView(BaseModel):
    """One team of a series, at its slot."""

    team_id: UUID
    case_ref: str
    slot: datetime
    title: str
    phase: Phase
    phase_name: str
    status: str
    convened_at: datetime
    ended_at: datetime | None = None
    active_participants: int
    learning_points: list[SeriesLearningPoint] = Field(default_factory=list)
    safety_nets: list[SeriesSafetyNet] = Field(default_factory=list)


class SeriesOverview(BaseModel):
    """A series' rhythm of learning, over its teams (oldest slot first)."""

    series_id: str
    teams: int
    #: How many of its teams are in each phase now (``"1"`` to ``"7"``).
    by_phase: dict[str, int]
    by_status: dict[str, int]
    keep: int
    change: int
    safety_nets: int
    safety_nets_done: int
    history: list[SeriesTeamView]


TABLE = Table(
    name="series_teams",
    columns=(
        ("team_id", "TEXT"),
        ("series_id", "TEXT"),
        ("slot", "TEXT"),
        ("doc", "TEXT"),
    ),
    key=("team_id",),
    indexes=(("series_id", "slot"),),
)


def team_of_series(view: TeamDetailView) -> SeriesTeamView | None:
    parsed = parse_case_ref(view.case_ref)
    if view.series_id is None or parsed is None:
        return None
    return SeriesTeamView(
        team_id=view.team_id,
        case_ref=view.case_ref,
        slot=parsed[1],
        title=view.title,
        phase=view.phase,
        phase_name=view.phase_name,
        status=view.status.value,
        convened_at=view.convened_at,
        ended_at=view.closed_at or view.abandoned_at,
        active_participants=view.active_participants,
        learning_points=[
            SeriesLearningPoint(kind=lp.kind, text=lp.text, recorded_at=lp.recorded_at)
            for lp in view.learning_points
        ],
        safety_nets=[
            SeriesSafetyNet(
                kind=net.kind,
                description=net.description,
                status=net.status,
                due=net.due,
                completed_at=net.completed_at,
            )
            for net in view.safety_nets
        ],
    )


def series_rows(view: TeamDetailView) -> list[Row]:
    team = team_of_series(view)
    if team is None or view.series_id is None:
        return []
    return [(view.key, view.series_id, iso(team.slot), team.model_dump_json())]


PROJECTION = TeamProjection(
    name="series",
    table=TABLE,
    rows=series_rows,
    description="the teams of each series, their phases, and what each learned",
    depends_on=("ltflow.series.refs",),
)


def series_teams(store: ViewStore, series_id: str) -> list[SeriesTeamView]:
    """A series' teams, oldest slot first."""
    with store.read() as tx:
        rows = tx.fetchall(
            f"SELECT doc FROM {store.table(TABLE)} WHERE series_id = ? ORDER BY slot",
            (series_id,),
        )
    return [SeriesTeamView.model_validate_json(row[0]) for row in rows]


def series_overview(store: ViewStore, series_id: str) -> SeriesOverview:
    """What the series' teams reached and learned, together."""
    teams = series_teams(store, series_id)
    by_phase: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for team in teams:
        by_phase[str(int(team.phase))] = by_phase.get(str(int(team.phase)), 0) + 1
        by_status[team.status] = by_status.get(team.status, 0) + 1
    points = [lp for team in teams for lp in team.learning_points]
    nets = [net for team in teams for net in team.safety_nets]
    return SeriesOverview(
        series_id=series_id,
        teams=len(teams),
        by_phase=by_phase,
        by_status=by_status,
        keep=sum(1 for lp in points if lp.kind == "keep"),
        change=sum(1 for lp in points if lp.kind == "change"),
        safety_nets=len(nets),
        safety_nets_done=sum(1 for net in nets if net.status == "done"),
        history=teams,
    )
