"""``/series``: Learning Teams convened on a rhythm (docs/rhythm.md).

Changing a series needs ``events:write`` (and, for a person, the organisation role
``facilitator`` or ``quality_officer``, as opening a team does); reading needs ``teams:read``.
A series is read by services, quality officers, auditors and privacy officers, and by the
people it names (its facilitator, sponsor and default participants); to anyone else it is
unknown (404, as for a series that does not exist). The schedule comes from Temporal (the
record of the series), its teams and what they learned from the series read model.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, Security
from pydantic import AwareDatetime, BaseModel

from ltflow.access.policy import Viewer, check_convene, may_list_all
from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.errors import InvalidEventError
from ltflow.api.access import current_viewer, viewer_of
from ltflow.api.auth import (
    EVENTS_WRITE,
    TEAMS_READ,
    Principal,
    bearer_scheme,
    current_principal,
    scoped,
)
from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import ERROR_DOCS
from ltflow.projections import series as series_view
from ltflow.series.client import SeriesClient, SeriesInfo, SeriesNotFoundError
from ltflow.series.model import SERIES_ID, SeriesDefinition, convene_for, parse_series

writes = APIRouter(
    route_class=scoped(EVENTS_WRITE),
    dependencies=[Security(bearer_scheme)],
    tags=["series"],
    responses=ERROR_DOCS,
)
reads = APIRouter(
    route_class=scoped(TEAMS_READ),
    dependencies=[Security(bearer_scheme)],
    tags=["series"],
    responses=ERROR_DOCS,
)
Context = Annotated[ApiContext, Depends(get_context)]
Caller = Annotated[Principal, Depends(current_principal)]
Reader = Annotated[Viewer, Depends(current_viewer)]
SeriesId = Annotated[str, Path(pattern=f"^{SERIES_ID}$")]
#: The body is read as JSON and judged by :func:`parse_series` (one judgement, naming the field);
#: OpenAPI still shows its schema.
SERIES_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A series (docs/rhythm.md)",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SeriesDefinition"}}
        },
    }
}


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InvalidEventError("The body is not valid JSON.") from None


class PauseBody(BaseModel):
    note: v.Text


class ResumeBody(BaseModel):
    note: v.Text | None = None


class BackfillBody(BaseModel):
    start: AwareDatetime
    end: AwareDatetime


class SeriesDetail(BaseModel):
    """A series: its definition and schedule (Temporal), and what its teams learned."""

    schedule: SeriesInfo
    learned: series_view.SeriesOverview


def _series(ctx: ApiContext) -> SeriesClient:
    return SeriesClient(ctx.client.client, ctx.client.task_queue)


def _judged(body: dict[str, Any], caller: Principal, ctx: ApiContext) -> SeriesDefinition:
    """The body as a series, judged before anything is scheduled: its fields, and whether the
    caller may convene its teams (a person who names no facilitator facilitates them)."""
    series = parse_series(body, floor=ctx.policy_floor, now=ctx.clock())
    viewer = viewer_of(caller)
    check_convene(viewer, convene_for(series, datetime.now(UTC)))
    template = series.template
    if viewer.is_person and template.facilitator_id is None:
        template = template.model_copy(update={"facilitator_id": viewer.subject})
    return series.model_copy(update={"template": template, "changed_by": caller.actor})


def _may_read(viewer: Viewer, series: SeriesDefinition) -> bool:
    if may_list_all(viewer):
        return True
    named = {
        series.template.facilitator_id,
        series.sponsor.sponsor_id if series.sponsor else None,
        *(p.subject for p in series.participants),
    }
    return viewer.subject in named - {None}


def _unknown(series_id: str) -> SeriesNotFoundError:
    return SeriesNotFoundError(f"No series with id {series_id!r}.", series_id=series_id)


async def _changeable(ctx: ApiContext, caller: Principal, series_id: str) -> SeriesClient:
    """The series client, once the caller may change this series (as convening its teams)."""
    client = _series(ctx)
    info = await client.show(series_id)
    check_convene(viewer_of(caller), convene_for(info.series, datetime.now(UTC)))
    return client


async def _readable(ctx: ApiContext, viewer: Viewer, series_id: str) -> SeriesInfo:
    info = await _series(ctx).show(series_id)
    if not _may_read(viewer, info.series):
        raise _unknown(series_id)
    return info


@writes.post(
    "/series",
    status_code=201,
    response_model=SeriesInfo,
    summary="Create a series",
    openapi_extra=SERIES_BODY,
)
async def create_series(
    request: Request, response: Response, caller: Caller, ctx: Context
) -> SeriesInfo:
    """201 with the new series and its next runs; 200 for the same definition again; 409
    ``idempotency_conflict`` for another under the same id. Bad input: 422, nothing scheduled."""
    info, created = await _series(ctx).create(_judged(await _json(request), caller, ctx))
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/series/{info.series.series_id}"
    return info


@writes.put(
    "/series/{series_id}",
    response_model=SeriesInfo,
    summary="Change a series",
    openapi_extra=SERIES_BODY,
)
async def update_series(
    series_id: SeriesId, request: Request, caller: Caller, ctx: Context
) -> SeriesInfo:
    """The whole definition again (the id in the path); a pause and its note stay."""
    body = await _json(request)
    if isinstance(body, dict):
        body = {**body, "series_id": series_id}
    series = _judged(body, caller, ctx)
    return await _series(ctx).update(series)


@writes.post("/series/{series_id}/pause", response_model=SeriesInfo, summary="Pause a series")
async def pause_series(
    series_id: SeriesId, body: PauseBody, caller: Caller, ctx: Context
) -> SeriesInfo:
    """No team is convened until it is resumed; the note says why."""
    return await (await _changeable(ctx, caller, series_id)).pause(series_id, body.note)


@writes.post("/series/{series_id}/resume", response_model=SeriesInfo, summary="Resume a series")
async def resume_series(
    series_id: SeriesId, caller: Caller, ctx: Context, body: ResumeBody | None = None
) -> SeriesInfo:
    """Convene again from the next slot; the slots missed meanwhile wait for a backfill."""
    client = await _changeable(ctx, caller, series_id)
    return await client.resume(series_id, body.note if body else None)


@writes.post(
    "/series/{series_id}/backfill", response_model=SeriesInfo, summary="Convene missed slots"
)
async def backfill_series(
    series_id: SeriesId, body: BackfillBody, caller: Caller, ctx: Context
) -> SeriesInfo:
    """Convene the slots between start and end; a slot that has its team opens nothing."""
    client = await _changeable(ctx, caller, series_id)
    return await client.backfill(series_id, body.start, body.end)


@writes.delete("/series/{series_id}", status_code=204, summary="Delete a series")
async def delete_series(series_id: SeriesId, caller: Caller, ctx: Context) -> Response:
    """Stop the series; the teams it convened stay as they are (and so does its read model)."""
    await (await _changeable(ctx, caller, series_id)).delete(series_id)
    return Response(status_code=204)


@reads.get("/series", response_model=list[SeriesInfo], summary="List series")
async def list_series(ctx: Context, viewer: Reader) -> list[SeriesInfo]:
    """Every series the caller may read, with its next runs (none while paused)."""
    return [info for info in await _series(ctx).list() if _may_read(viewer, info.series)]


@reads.get("/series/{series_id}", response_model=SeriesDetail, summary="One series")
async def get_series(series_id: SeriesId, ctx: Context, viewer: Reader) -> SeriesDetail:
    """The definition, pause and note, next runs and recent slots (a skipped slot with the
    team that held it back), and what its teams learned."""
    info = await _readable(ctx, viewer, series_id)
    learned = await asyncio.to_thread(series_view.series_overview, ctx.views, series_id)
    return SeriesDetail(schedule=info, learned=learned)


@reads.get(
    "/series/{series_id}/teams",
    response_model=list[series_view.SeriesTeamView],
    summary="A series' teams",
)
async def series_teams(
    series_id: SeriesId, ctx: Context, viewer: Reader
) -> list[series_view.SeriesTeamView]:
    """Its teams, oldest slot first: phase, status, keep and change points, safety nets. Those
    who read every team also read the teams of a deleted series."""
    try:
        await _readable(ctx, viewer, series_id)
    except SeriesNotFoundError:
        if not may_list_all(viewer):
            raise
    return await asyncio.to_thread(series_view.series_teams, ctx.views, series_id)


router = APIRouter()
router.include_router(writes)
router.include_router(reads)
