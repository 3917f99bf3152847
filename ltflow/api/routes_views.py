"""Views across teams: the action tracker, the deadlines, the learning library, theme trends.

All of them read the projections; whether something is overdue is decided against the app's
clock at the moment of asking. None of them names a team by its id or case to a reader outside
it (``docs/access.md``): the library and the trends carry no team and no person at all; actions
and deadlines name a team by its view id, and its id, case reference, title and people only to
those the access policy lets inside the team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Security
from pydantic import AwareDatetime

from ltflow.access.policy import Viewer
from ltflow.aggregates import vocabulary as c
from ltflow.api.access import current_viewer
from ltflow.api.auth import TEAMS_READ, bearer_scheme, scoped
from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import ERROR_DOCS
from ltflow.projections import action_tracker, deadlines, learning_library, theme_trends
from ltflow.projections.action_tracker import ActionStatus, ActionView
from ltflow.projections.deadlines import DeadlineView
from ltflow.projections.learning_library import LibraryEntryView
from ltflow.projections.theme_trends import ThemeTrendView

router = APIRouter(
    route_class=scoped(TEAMS_READ),
    dependencies=[Security(bearer_scheme)],
    tags=["views"],
    responses=ERROR_DOCS,
)
Context = Annotated[ApiContext, Depends(get_context)]
Caller = Annotated[Viewer, Depends(current_viewer)]
#: A team's opaque id in these views (``view_id`` of an entry).
ViewId = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z2-7]+$")]
Theme = Annotated[str | None, Query(max_length=200)]
Month = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-03"])]


@router.get("/actions", response_model=list[ActionView], summary="Safety nets across teams")
def list_actions(
    ctx: Context,
    viewer: Caller,
    status: ActionStatus | None = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    team_id: UUID | None = None,
    theme: Theme = None,
    view_id: ViewId = None,
) -> list[ActionView]:
    """Every safety net with owner, due date and status (open, overdue, done, or ended: left
    open when its team ended), soonest due first.
    A team shows by its ``view_id``; its id, case reference and title, and owners by name, only
    to those inside the team (and auditors); ``team_id`` and ``owner`` match nothing else.
    Scope ``teams:read``."""
    return action_tracker.list_actions(
        ctx.views,
        viewer=viewer,
        ids=ctx.view_ids,
        today=ctx.clock().date(),
        status=status,
        owner=owner,
        team_id=team_id,
        theme=theme,
        view_id=view_id,
    )


@router.get("/deadlines", response_model=list[DeadlineView], summary="Upcoming deadlines")
def list_deadlines(
    ctx: Context,
    viewer: Caller,
    until: AwareDatetime | None = None,
    team_id: UUID | None = None,
    kind: Annotated[list[str] | None, Query(max_length=20)] = None,
    view_id: ViewId = None,
) -> list[DeadlineView]:
    """Reflection windows, reminders, sessions and reviews due of active teams, earliest first;
    actionable ones already past are included and flagged ``overdue``. A team shows by its
    ``view_id``; its id, case reference, title and facilitator only to those inside the team
    (and auditors); ``team_id`` matches nothing else. Scope ``teams:read``."""
    now: datetime = ctx.clock()
    return deadlines.list_deadlines(
        ctx.views,
        viewer=viewer,
        ids=ctx.view_ids,
        now=now,
        until=until,
        team_id=team_id,
        kinds=kind or (),
        view_id=view_id,
    )


@router.get("/library", response_model=list[LibraryEntryView], summary="The learning library")
def list_library(
    ctx: Context, theme: Theme = None, trigger: c.Trigger | None = None
) -> list[LibraryEntryView]:
    """What teams chose to share once they communicated their story, most recent month first:
    the learning only, no team id, case, title or person (an entry is named by its
    ``view_id``). Scope ``teams:read``."""
    return learning_library.list_library(ctx.views, ids=ctx.view_ids, theme=theme, trigger=trigger)


@router.get("/trends", response_model=list[ThemeTrendView], summary="Theme trends per month")
def list_trends(
    ctx: Context, theme: Theme = None, since: Month = None, until: Month = None
) -> list[ThemeTrendView]:
    """Teams, learning points and safety nets per theme per month (``YYYY-MM``, inclusive):
    counts only, no team and no person. Scope ``teams:read``."""
    return theme_trends.theme_trends(ctx.views, theme=theme, since=since, until=until)
