"""What the routes work with: the Temporal client, the read models, the tokens and identities,
the clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fastapi import Request

from ltflow.aggregates.bounds import DEFAULT_POLICY_FLOOR
from ltflow.api.auth import TokenRegistry
from ltflow.api.identity import IdentityVerifier
from ltflow.api.metrics import Metrics
from ltflow.api.throttle import RateLimits
from ltflow.projections.cross_team import ViewIds
from ltflow.projections.store import ViewStore
from ltflow.workflows.client import LtflowClient

if TYPE_CHECKING:
    from ltflow.audit.service import Audit
    from ltflow.projections.service import ProjectionService


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiContext:
    """Everything a request may need; one per app, on ``app.state.ltflow``."""

    client: LtflowClient
    views: ViewStore
    tokens: TokenRegistry
    #: The teams' opaque ids in the views across teams (``Settings.view_id_key``).
    view_ids: ViewIds
    metrics: Metrics = field(default_factory=Metrics)
    #: Decides overdue flags and which deadlines are past (wall clock unless a test sets one).
    clock: Callable[[], datetime] = utc_now
    #: The projection service in this process, if any: woken after each accepted event.
    projections: ProjectionService | None = None
    #: The audit service, if installed (history, point-in-time state, verification).
    audit: Audit | None = None
    #: How long ``GET /teams/{id}?min_version=`` waits for the read model to catch up.
    read_wait: float = 5.0
    #: At most this many such waits at once (``Settings.max_read_waits``); beyond, no wait.
    max_read_waits: int = 32
    _read_waits: int = field(default=0, init=False, repr=False)
    #: The deployment's shortest policy duration for a new team (``Settings.policy_floor``).
    policy_floor: timedelta = DEFAULT_POLICY_FLOOR
    #: The rate limits per client and their counts (``Settings.rate_limit_*``).
    limits: RateLimits = field(default_factory=RateLimits)
    #: People's OpenID Connect access tokens (``LTFLOW_OIDC_*``); None: service tokens only.
    identities: IdentityVerifier | None = None

    def wake_projections(self) -> None:
        """The event store changed: let the views catch up now instead of at the next poll."""
        if self.projections is not None:
            self.projections.wake()

    async def wait_until(self, ready: Callable[[], bool], timeout: float | None = None) -> bool:
        """Poll ``ready`` (a read-model query) until it holds or ``timeout`` passes; False at
        once when ``max_read_waits`` callers already wait.

        The wait sleeps in the event loop and runs each poll in a thread only for the query:
        a waiter holds no worker thread, so waiters cannot starve other requests (a sync route
        that slept here held one of the 40 threads for the whole wait).
        """
        if self._read_waits >= self.max_read_waits:
            return False
        # One event loop: the count needs no lock.
        self._read_waits += 1
        try:
            deadline = time.monotonic() + (self.read_wait if timeout is None else timeout)
            self.wake_projections()
            while not await asyncio.to_thread(ready):
                if time.monotonic() >= deadline:
                    return False
                await asyncio.sleep(0.05)
            return True
        finally:
            self._read_waits -= 1


def get_context(request: Request) -> ApiContext:
    """Dependency: the app's :class:`ApiContext`."""
    context: ApiContext = request.app.state.ltflow
    return context
