"""What the routes work with: the Temporal client, the read models, the tokens, the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fastapi import Request

from ltflow.aggregates.bounds import DEFAULT_POLICY_FLOOR
from ltflow.api.auth import TokenRegistry
from ltflow.api.metrics import Metrics
from ltflow.api.throttle import RateLimits
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
    metrics: Metrics = field(default_factory=Metrics)
    #: Decides overdue flags and which deadlines are past (wall clock unless a test sets one).
    clock: Callable[[], datetime] = utc_now
    #: The projection service in this process, if any: woken after each accepted event.
    projections: ProjectionService | None = None
    #: The audit service, if installed (history, point-in-time state, verification).
    audit: Audit | None = None
    #: How long ``GET /teams/{id}?min_version=`` waits for the read model to catch up.
    read_wait: float = 5.0
    #: The deployment's shortest policy duration for a new team (``Settings.policy_floor``).
    policy_floor: timedelta = DEFAULT_POLICY_FLOOR
    #: The rate limits per client and their counts (``Settings.rate_limit_*``).
    limits: RateLimits = field(default_factory=RateLimits)

    def wake_projections(self) -> None:
        """The event store changed: let the views catch up now instead of at the next poll."""
        if self.projections is not None:
            self.projections.wake()

    def wait_until(self, ready: Callable[[], bool], timeout: float | None = None) -> bool:
        """Poll ``ready`` (a read-model query) until it holds or ``timeout`` passes."""
        deadline = time.monotonic() + (self.read_wait if timeout is None else timeout)
        self.wake_projections()
        while not ready():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True


def get_context(request: Request) -> ApiContext:
    """Dependency: the app's :class:`ApiContext`."""
    context: ApiContext = request.app.state.ltflow
    return context
