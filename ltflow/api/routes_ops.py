"""For operators: ``/healthz`` and ``/metrics``; open (no token), like ``/openapi.json``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import ErrorBody, UnavailableError, error_response

router = APIRouter(tags=["operations"])
Context = Annotated[ApiContext, Depends(get_context)]
HEALTH_TIMEOUT = timedelta(seconds=2)
Check = Literal["ok", "failing"]


class Health(BaseModel):
    """Each dependency of the API, and whether it answers."""

    status: Literal["ok"]
    checks: dict[str, Check]


@router.get(
    "/healthz",
    response_model=Health,
    summary="Is the API ready to serve?",
    responses={503: {"model": ErrorBody, "description": "`unavailable`, with the failing checks"}},
)
async def healthz(request: Request, ctx: Context) -> Response:
    """Temporal answers, the read models can be queried, the projection service (if here) runs."""
    checks: dict[str, Check] = {
        "temporal": "ok" if await _temporal_ok(ctx) else "failing",
        "views": "ok" if await asyncio.to_thread(_views_ok, ctx) else "failing",
    }
    if ctx.projections is not None:
        checks["projections"] = "failing" if ctx.projections.error is not None else "ok"
    failing = sorted(name for name, check in checks.items() if check != "ok")
    if failing:
        error = UnavailableError(f"Not ready: {', '.join(failing)} failing.", checks=checks)
        return error_response(request, error)
    return JSONResponse(Health(status="ok", checks=checks).model_dump())


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


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(ctx: Context) -> Response:
    """Requests by route and status with their latency, events accepted and rejected."""
    return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)
