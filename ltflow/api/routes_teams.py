"""Teams as the read models show them: never from the aggregate or from Temporal.

What a caller sees of a team follows the access policy (:mod:`ltflow.access.policy`): the team
itself sees what it heard, readers outside it see perspectives and notes only with their
teller's consent and people by role, a person who stands in no relation to a team does not
learn that it exists (404, as for an unknown team). Every read that shows someone's personal
input is logged (NEN 7513), and a participant can ask who read theirs.

The views are eventually consistent. A caller that has just sent an event knows the version the
team reached (the answer to the POST carries it) and can ask ``GET /teams/{id}?min_version=<n>``:
the answer waits (a few seconds at most) until the view has caught up to that version.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, Security
from pydantic import BaseModel

from ltflow.access.policy import OrgRole, Sight, Viewer, may_list_all, sight
from ltflow.access.views import roles_of_view
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import ForbiddenError
from ltflow.api.access import current_viewer, reader, team_as_seen, unknown_team
from ltflow.api.auth import TEAMS_READ, bearer_scheme, scoped
from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import ERROR_DOCS, ErrorBody, InvalidQueryError, UnavailableError
from ltflow.audit.access_log import Accessor
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
Caller = Annotated[Viewer, Depends(current_viewer)]
Reader = Annotated[Accessor, Depends(reader)]
TeamStatus = Literal["active", "closed", "abandoned"]
#: Paging bounds: a page of 10,000 teams is already more than any screen shows, and an offset
#: past 10^9 can match nothing (and, past 2^63, would overflow the database's integer).
MAX_LIMIT = 10_000
MAX_OFFSET = 1_000_000_000


def teams_standing(ctx: ApiContext, viewer: Viewer) -> list[str]:
    """The teams a person stands in (facilitator, participant, sponsor, owner)."""
    table = ctx.views.table(team_detail.TABLE)
    needle = json.dumps(viewer.subject)  # subjects are stored as JSON strings in the doc
    with ctx.views.read() as tx:
        rows = tx.fetchall(
            f"SELECT team_id, doc FROM {table} WHERE doc LIKE ?", (f"%{_like(needle)}%",)
        )
    return [
        str(team_id)
        for team_id, doc in rows
        if sight(viewer, roles_of_view(team_detail.load(doc))) is not Sight.NONE
    ]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@router.get("/teams", response_model=list[TeamOverviewView], summary="List teams")
def list_teams(
    ctx: Context,
    viewer: Caller,
    phase: Annotated[int | None, Query(ge=1, le=7)] = None,
    theme: Annotated[str | None, Query(max_length=200)] = None,
    trigger: c.Trigger | None = None,
    status: TeamStatus | None = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
) -> list[TeamOverviewView]:
    """Teams, newest first, with their next deadline and overdue flags. Scope ``teams:read``.

    A person sees the teams they stand in (facilitator, participant, sponsor, owner of a safety
    net); services, quality officers and auditors see every team.
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
        team_ids=None if may_list_all(viewer) else teams_standing(ctx, viewer),
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
    viewer: Caller,
    accessor: Reader,
    min_version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The team as this caller may see it (``docs/access.md``). Scope ``teams:read``.

    A read that shows anyone's perspective, reflection notes, name or withdrawal reason is
    logged first (``X-On-Behalf-Of`` and ``X-Access-Reason`` go into the log).
    ``min_version``: wait (briefly) until the view includes that version; if it does not catch up
    in time, or too many callers wait already (``LTFLOW_MAX_READ_WAITS``), the answer is the view
    as it is, with its own ``version``.
    """
    found: list[str] = []

    def caught_up() -> bool:
        doc = team_detail.get_team_detail_json(ctx.views, team_id)
        if doc is None:
            return False
        found[:] = [doc]
        return min_version is None or int(json.loads(doc)["version"]) >= min_version

    # An async route: the query runs in a thread, the wait sleeps in the event loop.
    if not await asyncio.to_thread(caught_up) and min_version is not None:
        await ctx.wait_until(caught_up)
    if not found:
        raise unknown_team(team_id)
    doc = found[0]

    def present() -> str:
        stored = team_detail.load(doc)
        # The view keeps personal fields encrypted: decrypted here (``[erased]`` once a key is
        # gone), before the policy decides what this caller sees of them.
        view = team_detail.open_view(stored, ctx.client.keys)
        seen = team_as_seen(ctx, view, viewer, accessor)
        # Shown whole and nothing to decrypt: the stored JSON as it is, not dumped again.
        return doc if seen is stored else seen.model_dump_json()

    # One thread hop for parsing, the policy, the access log and the answer.
    return Response(await asyncio.to_thread(present), media_type="application/json")


class ReadOfInput(BaseModel):
    """One logged read that showed a participant's input."""

    at: datetime
    actor: str
    on_behalf_of: str | None
    channel: str
    action: str


@router.get(
    "/teams/{team_id}/participants/{participant_id}/reads",
    response_model=list[ReadOfInput],
    summary="Who viewed my input",
    responses={404: {"model": ErrorBody, "description": "`team_not_found`"}},
)
def reads_of_input(
    team_id: UUID, participant_id: str, ctx: Context, viewer: Caller, accessor: Reader
) -> list[ReadOfInput]:
    """Every logged read that showed this participant's perspective, notes or name, or read the
    whole case (history, state, export), oldest first. For the participant themselves, privacy
    officers and auditors. Scope ``teams:read``."""
    doc = team_detail.get_team_detail_json(ctx.views, team_id)
    if doc is None:
        raise unknown_team(team_id)
    roles = roles_of_view(team_detail.load(doc))
    seen = sight(viewer, roles)
    if seen is Sight.NONE:
        raise unknown_team(team_id)
    themselves = viewer.is_person and roles.participant_id(viewer.subject) == participant_id
    if not themselves and not viewer.roles & {OrgRole.PRIVACY_OFFICER, OrgRole.AUDITOR}:
        raise ForbiddenError(
            "Who read a participant's input is for that participant, a privacy officer or an "
            "auditor to see.",
            needed_roles=[OrgRole.PRIVACY_OFFICER.value, OrgRole.AUDITOR.value],
        )
    if ctx.audit is None:
        raise UnavailableError("This API has no access log to answer from.")
    entries = ctx.audit.readers_of(team_id, participant_id)
    ctx.audit.record_read(accessor, "reads_of_input", team_id, {"participant": participant_id})
    return [
        ReadOfInput(
            at=e.at,
            actor=e.actor,
            on_behalf_of=e.on_behalf_of,
            channel=e.channel,
            action=e.action,
        )
        for e in entries
    ]
