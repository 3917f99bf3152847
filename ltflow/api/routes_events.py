"""The intake: open a team, send a phase event. Both go to the team's workflow through Temporal.

The body types are the vocabulary's own pydantic models, so OpenAPI shows the phase events as a
union discriminated by ``type``. FastAPI rejects malformed bodies before any I/O; the workflow's
validator rejects what the rulebook forbids before anything is stored. The answer is the team's
summary after the event, so a sender never needs to read the (eventually consistent) views.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response, Security

from ltflow.access import policy
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.bounds import check_policy_floor
from ltflow.aggregates.state import TeamSummary
from ltflow.api.access import viewer_of
from ltflow.api.auth import EVENTS_WRITE, Principal, bearer_scheme, current_principal, scoped
from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import INTAKE_DOCS, ErrorBody

router = APIRouter(
    route_class=scoped(EVENTS_WRITE),
    dependencies=[Security(bearer_scheme)],
    tags=["intake"],
    responses=INTAKE_DOCS,
)
Caller = Annotated[Principal, Depends(current_principal)]
Context = Annotated[ApiContext, Depends(get_context)]


@router.post(
    "/teams",
    status_code=201,
    response_model=TeamSummary,
    summary="Open a Learning Team for a case",
    responses={
        200: {"model": TeamSummary, "description": "The case had this team already (same body)"},
        409: {"model": ErrorBody, "description": "`idempotency_conflict`: other content"},
    },
)
async def open_team(
    convene: c.TeamConvened, request: Request, response: Response, caller: Caller, ctx: Context
) -> TeamSummary:
    """A ``team.convened`` body: 201 with the new team, 200 if this case has it already.

    Scope ``events:write``. The team id derives from ``case_ref``; the same body again is safe.
    Every policy duration lies between the deployment's floor and two years.
    """
    # Judged here, before any I/O, with this deployment's floor (the worker judges it again).
    check_policy_floor(convene.policy, ctx.policy_floor)
    viewer = viewer_of(caller)
    policy.check_convene(viewer, convene)
    if viewer.is_person and convene.facilitator_id is None:
        # A person who opens a team without naming its facilitator facilitates it.
        convene = convene.model_copy(update={"facilitator_id": viewer.subject})
    opened = await ctx.client.open_team_result(convene, actor=caller.actor)
    summary = opened.summary
    request.state.team_id = str(summary.team_id)
    response.status_code = 201 if opened.created else 200
    response.headers["Location"] = f"/teams/{summary.team_id}"
    ctx.metrics.event_accepted(convene.type)
    ctx.wake_projections()
    return summary


@router.post(
    "/teams/{team_id}/events",
    response_model=TeamSummary,
    summary="Send one phase event to a team",
)
async def send_event(
    team_id: UUID, event: c.SenderEvent, caller: Caller, ctx: Context
) -> TeamSummary:
    """One phase event; the answer is the team's summary after it. Scope ``events:write``.

    A repeat of an ``event_id`` with the same content stores nothing and returns the first answer.
    Who may send which event follows the access policy (``docs/access.md``): ``forbidden`` with
    the role that would be needed, and nothing stored.
    """
    summary = await ctx.client.send(team_id, event, actor=caller.actor, viewer=viewer_of(caller))
    ctx.metrics.event_accepted(event.type)
    ctx.wake_projections()
    return summary
