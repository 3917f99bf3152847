"""The HTTP API served for real, the way ``ltflow dev`` composes it: uvicorn on a free port of
127.0.0.1, a Temporal server from PyPI (dev server or time-skipping), a worker with
``LtflowPlugin``, the projection service and the audit service, all on a SQLite store."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from ltflow.api import create_app
from ltflow.api.server import running
from ltflow.audit.service import Audit
from ltflow.eventstore.application import LearningTeams, StoredFact
from ltflow.projections.cross_team import view_ids_for
from ltflow.projections.service import ProjectionService
from tests.workflows import conftest as workflow_fixtures
from tests.workflows.conftest import Stack, make_stack_factory

# The real Temporal servers of the workflow tests, shared by name (pytest finds fixtures here).
dev_env = workflow_fixtures.dev_env
time_env = workflow_fixtures.time_env
stack_factory = workflow_fixtures.stack_factory

WRITER = "writer-0f3c9a7e5d1b4c2a8e6f"
READER = "reader-7a1d3e5f9b2c4d6e8f0a"
AUDITOR = "auditor-5e2b8c1f4a7d0e3b6c9f"
INTAKE_ONLY = "intake-3b6e9c2f5a8d1e4b7c0a"
TOKENS: dict[str, Any] = {
    WRITER: {
        "actor": "incident-system",
        "scopes": ["events:write", "teams:read", "teams:abandon", "participants:erase"],
    },
    READER: {"actor": "dashboard", "scopes": ["teams:read"]},
    # Configured by digest, so the configuration need not hold the secret.
    "sha256:" + hashlib.sha256(AUDITOR.encode()).hexdigest(): {
        "actor": "auditor-ann",
        "scopes": ["audit:read"],
    },
    INTAKE_ONLY: {"actor": "intake-bot", "scopes": ["events:write"]},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    """A running API, its stack, and the ways a test looks behind it."""

    url: str
    #: Authenticated as the writer (actor ``incident-system``).
    http: httpx.AsyncClient
    stack: Stack
    events: LearningTeams
    projections: ProjectionService
    app: FastAPI

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until the read models include every stored event."""
        target = self.events.recorder.max_notification_id() or 0
        self.projections.wake()
        done = await asyncio.to_thread(self.projections.wait_for, target, timeout)
        assert done, f"the read models did not reach notification {target} in {timeout} s"

    def stored(self, team_id: UUID | str) -> list[StoredFact]:
        """The team's events as the event store holds them."""
        return self.events.history(UUID(str(team_id)))

    def last_notification(self) -> int:
        return self.events.recorder.max_notification_id() or 0


@asynccontextmanager
async def serve_api(
    env: WorkflowEnvironment, factory: Callable[..., Any], *, search_attributes: bool
) -> AsyncIterator[Api]:
    async with factory(env, search_attributes=search_attributes) as stack:
        view_ids_for(stack.settings, create=True)  # as 'ltflow dev' does, in its data dir
        events = LearningTeams.from_settings(stack.settings)
        projections = ProjectionService.from_settings(
            stack.settings, events, poll_interval=0.05
        ).start()
        audit = Audit.from_settings(stack.settings, events)
        app = create_app(
            # The suite sends many bad tokens and writes from one address: far above the limits
            # (test_rate_limits checks them on apps of its own).
            stack.settings.with_changes(
                rate_limit_auth_failures="100000/minute", rate_limit_writes="100000/minute"
            ),
            client=stack.ltflow,
            views=projections.runner.store,
            tokens=TOKENS,
            projections=projections,
            audit=audit,
        )
        try:
            async with (
                running(app) as live,
                httpx.AsyncClient(base_url=live.url, headers=bearer(WRITER), timeout=30) as http,
            ):
                yield Api(live.url, http, stack, events, projections, app)
        finally:
            projections.stop()
            projections.runner.store.close()
            audit.close()
            events.close()


@pytest.fixture(scope="session")
async def api(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One API on the Temporal dev server for the whole run; tests use their own case refs."""
    data_dir: Path = tmp_path_factory.mktemp("api")
    async with serve_api(dev_env, make_stack_factory(data_dir), search_attributes=True) as live:
        yield live


@pytest.fixture
async def ts_api(time_env: WorkflowEnvironment, stack_factory: Callable[..., Any]) -> Any:
    """An API on the time-skipping server: days and weeks pass with ``time_env.sleep``."""
    async with serve_api(time_env, stack_factory, search_attributes=False) as live:
        yield live
