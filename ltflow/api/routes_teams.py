"""Teams as the read models show them: never from the aggregate or from Temporal.

The views are eventually consistent. A caller that has just sent an event knows the version the
team reached (the answer to the POST carries it) and can ask ``GET /teams/{id}?min_version=<n>``:
the answer waits (a few seconds at most) until the view has caught up to that version.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, Security

from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import TeamNotFoundError
from ltflow.api.auth import TEAMS_READ, bearer_scheme, scoped
from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import ERROR_DOCS, ErrorBody, InvalidQueryError
from ltflow.projections import team_detail, team_overview
from ltflow.projections.team_models import TeamDetailView
from ltflow.projections.team_overview import TeamOverviewView

router = APIRouter(
    route_class=scoped(TEAMS_READ),
    dependencies=[Security(bearer_scheme)],
    tags=["teams"],
    responses=ERROR_DOCS,
)
Context = Annotated[ApiContext, Depends(get_context)]
TeamStatus = Literal["active", "closed", "abandoned"]
#: Paging bounds: a page of 10,000 teams is already more than any screen shows, and an offset
#: past 10^9 can match nothing (and, past 2^63, would overflow the database's integer).
MAX_LIMIT = 10_000
MAX_OFFSET = 1_000_000_000


@router.get("/teams", response_model=list[TeamOverviewView], summary="List teams")
def list_teams(
    ctx: Context,
    phase: Annotated[int | None, Query(ge=1, le=7)] = None,
    theme: Annotated[str | None, Query(max_length=200)] = None,
    trigger: c.Trigger | None = None,
    status: TeamStatus | None = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
) -> list[TeamOverviewView]:
    """Teams, newest first, with their next deadline and overdue flags. Scope ``teams:read``.

    ``limit`` (at most 10,000) and ``offset`` (at most 10^9) page; ``offset`` needs ``limit``.
    """
    if offset is not None and limit is None:
        # Without a page size an offset used to be silently ignored: refuse it instead, so a
        # caller paging by offset alone learns at once rather than reading page 1 forever.
        raise InvalidQueryError(
            "The query parameter 'offset' pages only with 'limit': send both.",
            problems=[{"field": "offset", "problem": "needs 'limit'"}],
        )
    return team_overview.list_teams(
        ctx.views,
        now=ctx.clock(),
        phase=phase,
        theme=theme,
        trigger=trigger,
        status=status,
        limit=limit,
        offset=offset or 0,
    )


@router.get(
    "/teams/{team_id}",
    response_model=TeamDetailView,
    summary="One team in detail",
    responses={404: {"model": ErrorBody, "description": "`team_not_found`"}},
)
async def get_team(
    team_id: UUID,
    ctx: Context,
    min_version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The team as its facilitator sees it. Scope ``teams:read``.

    ``min_version``: wait (briefly) until the view includes that version; if it does not catch up
    in time, or too many callers wait already (``LTFLOW_MAX_READ_WAITS``), the answer is the view
    as it is, with its own ``version``.
    """
    found: list[str] = []  # the stored view, and it with its personal fields decrypted
    keys = ctx.client.keys

    def caught_up() -> bool:
        doc = team_detail.get_team_detail_json(ctx.views, team_id)
        if doc is None:
            return False
        if not found or found[0] != doc:  # decrypted once per version, in the query's thread
            found[:] = [doc, team_detail.open_detail_json(doc, keys)]
        return min_version is None or int(json.loads(doc)["version"]) >= min_version

    # An async route: the query runs in a thread, the wait sleeps in the event loop.
    if not await asyncio.to_thread(caught_up) and min_version is not None:
        await ctx.wait_until(caught_up)
    if not found:
        raise TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
    # The view is stored as the JSON of TeamDetailView, its personal fields encrypted: served
    # with them decrypted (``[erased]`` for an erased participant).
    return Response(found[1], media_type="application/json")
