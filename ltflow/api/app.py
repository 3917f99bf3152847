"""The app factory: one FastAPI app over a Temporal client (the intake) and the read models."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from ltflow import __version__
from ltflow.api import (
    routes_codec,
    routes_events,
    routes_ops,
    routes_series,
    routes_teams,
    routes_views,
)
from ltflow.api.auth import TokenRegistry, registry_for
from ltflow.api.context import ApiContext, utc_now
from ltflow.api.errors import install_error_handlers
from ltflow.api.identity import IdentityVerifier
from ltflow.api.metrics import Metrics
from ltflow.api.middleware import RequestObserver
from ltflow.api.throttle import RateLimits
from ltflow.config import Settings
from ltflow.projections.cross_team import ViewIds, view_ids_for
from ltflow.projections.store import ViewStore
from ltflow.workflows.client import LtflowClient

if TYPE_CHECKING:
    from ltflow.audit.service import Audit
    from ltflow.projections.service import ProjectionService

log = structlog.get_logger("ltflow.api")

DESCRIPTION = """\
The HTTP API of ltflow (contract section 4). Phase events go to each team's durable workflow;
reads come from the read models, which follow the event store within moments.

Every request except `/healthz`, `/metrics` and `/openapi.json` needs `Authorization: Bearer
<token>`: a service token, or a person's OpenID Connect access token when an issuer is
configured. Each endpoint names the scope it needs (`events:write`, `teams:read`, `audit:read`).
Errors are `{"code", "message", "details"}` with the contract's codes.
"""


def create_app(
    settings: Settings,
    *,
    client: LtflowClient,
    views: ViewStore,
    audit: Audit | None = None,
    tokens: TokenRegistry | Mapping[str, Any] | None = None,
    projections: ProjectionService | None = None,
    clock: Callable[[], datetime] = utc_now,
    metrics: Metrics | None = None,
    identities: IdentityVerifier | None = None,
    view_ids: ViewIds | None = None,
) -> FastAPI:
    """The ltflow HTTP API.

    ``client`` reaches the workflows; ``views`` is the read-model store. ``tokens`` defaults to
    ``settings.api_tokens`` (a mapping, see :mod:`ltflow.api.auth`); with none configured every
    request that needs a scope is answered 401. ``projections``, when the projection service
    runs in this process, is woken after each accepted event so the views follow at once.
    ``audit`` is the audit service; its routes are added when it is given. ``identities``
    verifies people's OpenID Connect tokens; it defaults to the one ``settings.oidc_*``
    configure (none without an issuer). ``view_ids`` default to the configured key's
    (:func:`~ltflow.projections.cross_team.view_ids_for`): without one the app is not made
    (``MissingViewIdKeyError``).
    """
    ids = view_ids if view_ids is not None else view_ids_for(settings)
    registry = registry_for(settings, tokens)
    if identities is None:
        identities = IdentityVerifier.from_settings(settings, reserved_actors=registry.actors)
    if identities is not None:
        log.info("oidc identities", issuer=identities.issuer, audience=identities.audience)
    elif not len(registry):
        log.warning("no API tokens configured: every request that needs a scope gets 401")
    context = ApiContext(
        client=client,
        views=views,
        tokens=registry,
        view_ids=ids,
        metrics=metrics or Metrics(),
        clock=clock,
        projections=projections,
        audit=audit,
        policy_floor=settings.policy_floor,
        limits=RateLimits(settings.rate_limit_auth_failures, settings.rate_limit_writes),
        max_read_waits=settings.max_read_waits,
        identities=identities,
    )
    # /docs and /redoc from assets shipped in a package (fastapi-offline), not from a CDN: the
    # docs work offline, and a page of ours loads no script from a host we do not control. The
    # validator is off too, which would otherwise send the spec's address to swagger.io.
    app = FastAPIOffline(
        title="ltflow",
        version=__version__,
        description=DESCRIPTION,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.ltflow = context
    install_error_handlers(app)
    app.add_middleware(RequestObserver, metrics=context.metrics, body_timeout=settings.body_timeout)
    for router in (
        routes_events.router,
        routes_teams.router,
        routes_views.router,
        routes_ops.router,
        routes_codec.decode_router,
        routes_codec.encode_router,
        routes_series.router,
    ):
        app.include_router(router)
    origins = list(settings.codec_cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            allow_credentials=True,
        )
    if audit is not None:
        from ltflow.api import routes_audit  # the audit package is only needed with an audit

        app.include_router(routes_audit.router)
    return app
