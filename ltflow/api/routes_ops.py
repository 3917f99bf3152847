"""For operators: ``/healthz`` and ``/metrics``; open (no token), like ``/openapi.json``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import ErrorBody, UnavailableError, error_response
from ltflow.projections import quarantine

router = APIRouter(tags=["operations"])
Context = Annotated[ApiContext, Depends(get_context)]
HEALTH_TIMEOUT = timedelta(seconds=2)
#: At most this many quarantined team ids in an answer (the count is always exact).
LISTED_TEAMS = 100
Check = Literal["ok", "degraded", "failing"]


class QuarantineHealth(BaseModel):
    """Teams whose views stopped before an event they cannot fold (`ltflow projections status`)."""

    quarantined: int
    team_ids: list[UUID]


class HealthDetails(BaseModel):
    projections: QuarantineHealth


class Health(BaseModel):
    """Each dependency of the API, and whether it answers.

    ``degraded``: every check answers, but some teams are quarantined: their views stop before
    an event they cannot fold, while every other team's views stay current (``details``).
    """

    status: Literal["ok", "degraded"]
    checks: dict[str, Check]
    details: HealthDetails | None = None


@router.get(
    "/healthz",
    response_model=Health,
    response_model_exclude_none=True,
    summary="Is the API ready to serve?",
    responses={503: {"model": ErrorBody, "description": "`unavailable`, with the failing checks"}},
)
async def healthz(request: Request, ctx: Context) -> Response:
    """Temporal answers, the read models can be queried, the projection service (if here) runs;
    200 ``degraded`` while some teams are quarantined, 503 only when something fails."""
    checks: dict[str, Check] = {
        "temporal": "ok" if await _temporal_ok(ctx) else "failing",
        "views": "ok" if await asyncio.to_thread(_views_ok, ctx) else "failing",
    }
    held = await asyncio.to_thread(_quarantined, ctx) if checks["views"] == "ok" else []
    if ctx.projections is not None:
        checks["projections"] = "failing" if ctx.projections.error is not None else "ok"
    if held and checks.get("projections") != "failing":
        checks["projections"] = "degraded"
    failing = sorted(name for name, check in checks.items() if check == "failing")
    if failing:
        error = UnavailableError(f"Not ready: {', '.join(failing)} failing.", checks=checks)
        return error_response(request, error)
    if not held:
        return JSONResponse(Health(status="ok", checks=checks).model_dump(exclude_none=True))
    details = HealthDetails(
        projections=QuarantineHealth(quarantined=len(held), team_ids=held[:LISTED_TEAMS])
    )
    health = Health(status="degraded", checks=checks, details=details)
    return JSONResponse(health.model_dump(mode="json", exclude_none=True))


async def _temporal_ok(ctx: ApiContext) -> bool:
    try:
        return await ctx.client.client.service_client.check_health(timeout=HEALTH_TIMEOUT)
    except Exception:  # any failure to answer is "failing"; the reason is not for this endpoint
        return False


def _views_ok(ctx: ApiContext) -> bool:
    try:
        with ctx.views.read() as tx:
            return tx.fetchone("SELECT 1") is not None
    except Exception:  # as above
        return False


def _quarantined(ctx: ApiContext) -> list[UUID]:
    """The quarantined teams' ids, longest held first (none where that cannot be read: the
    views check says so)."""
    try:
        return [q.team_id for q in quarantine.listed(ctx.views)]
    except Exception:  # as above
        return []


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(ctx: Context) -> Response:
    """Requests by route and status with their latency, events accepted and rejected, teams in
    quarantine and poison events met."""
    held: int | None
    try:
        held = len(quarantine.listed(ctx.views))
    except Exception:  # the views check of /healthz reports it; the metrics still answer
        held = None
    service = ctx.projections
    ctx.metrics.observe_projections(held, None if service is None else service.runner.poisoned)
    return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)
