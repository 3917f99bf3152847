"""The auditor's reads: a case's stored history, the case as it stood then, and its verification.

They read the event store and the audit trail (never the views), through
:class:`ltflow.audit.service.Audit`, which records every read in the access log before it answers:
the caller's actor, ``channel="http"``, and whom they read for (``X-On-Behalf-Of``) and why
(``X-Audit-Reason``) when they say so. Added to the app only when an audit service is given.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Header, Query, Security
from pydantic import AwareDatetime

from ltflow.api.auth import AUDIT_READ, Principal, bearer_scheme, current_principal, scoped
from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import ERROR_DOCS, ErrorBody
from ltflow.api.routes_teams import TeamPath
from ltflow.audit.access_log import Accessor
from ltflow.audit.point_in_time import By, PointInTime
from ltflow.audit.verify import VerifyReport
from ltflow.eventstore.application import StoredFact

if TYPE_CHECKING:
    from ltflow.audit.service import Audit

router = APIRouter(
    route_class=scoped(AUDIT_READ),
    dependencies=[Security(bearer_scheme)],
    tags=["audit"],
    responses={
        **ERROR_DOCS,
        404: {"model": ErrorBody, "description": "`team_not_found`"},
    },
)
Context = Annotated[ApiContext, Depends(get_context)]
Short = Annotated[str | None, Header(max_length=200)]


def accessor(
    caller: Annotated[Principal, Depends(current_principal)],
    x_on_behalf_of: Short = None,
    x_audit_reason: Annotated[str | None, Header(max_length=1000)] = None,
) -> Accessor:
    """Dependency: who reads, for the access log."""
    return Accessor(
        actor=caller.actor, on_behalf_of=x_on_behalf_of, channel="http", reason=x_audit_reason
    )


Reader = Annotated[Accessor, Depends(accessor)]


def _audit(ctx: ApiContext) -> Audit:
    assert ctx.audit is not None  # these routes are only added with an audit service
    return ctx.audit


@router.get("/teams/{team_id}/history", response_model=list[StoredFact], summary="History")
async def history(team_id: TeamPath, ctx: Context, reader: Reader) -> list[StoredFact]:
    """Every stored event of the case in order, with actor, occurred_at and recorded_at.
    Scope ``audit:read``; the read is logged."""
    return await asyncio.to_thread(_audit(ctx).history, team_id, reader)


@router.get(
    "/teams/{team_id}/state",
    response_model=PointInTime,
    summary="The case as it stood then",
    responses={422: {"model": ErrorBody, "description": "`invalid_query`: no such version"}},
)
async def state(
    team_id: TeamPath,
    ctx: Context,
    reader: Reader,
    at: AwareDatetime | None = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    by: By = "recorded",
) -> PointInTime:
    """The case at ``version=<n>`` or at ``at=<ISO time>`` (by ``recorded`` time, what ltflow knew
    then, or by ``occurred`` business time). Scope ``audit:read``; the read is logged."""
    return await asyncio.to_thread(
        lambda: _audit(ctx).state(team_id, reader, version=version, at=at, by=by)
    )


@router.get("/teams/{team_id}/verify", response_model=VerifyReport, summary="Verify the case")
async def verify(team_id: TeamPath, ctx: Context, reader: Reader) -> VerifyReport:
    """Anchor what is stored, then check the case's events against their hash chain and anchors,
    and its read model against a fresh fold. ``ok`` false lists the findings.
    Scope ``audit:read``; the read is logged."""
    return await asyncio.to_thread(_audit(ctx).verify, team_id, reader)
