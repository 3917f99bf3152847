"""The read models ltflow keeps, the team fold first (every other one derives from it)."""

from __future__ import annotations

from ltflow.projections import (
    action_tracker,
    deadlines,
    learning_library,
    series,
    team_detail,
    team_overview,
    theme_trends,
)
from ltflow.projections.base import TeamProjection

PROJECTIONS: tuple[TeamProjection, ...] = (
    team_detail.PROJECTION,
    team_overview.PROJECTION,
    action_tracker.PROJECTION,
    deadlines.PROJECTION,
    learning_library.PROJECTION,
    theme_trends.PROJECTION,
    series.PROJECTION,
)
PROJECTION_NAMES: tuple[str, ...] = tuple(p.name for p in PROJECTIONS)
