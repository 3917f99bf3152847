"""Serving the API: uvicorn in the running event loop, next to the Temporal client, the projection
service and (for ``ltflow dev``) a worker.

:func:`running` starts uvicorn on a host and port (0: a free one) and yields where it listens; the
tests use it too. :func:`serve` is what ``ltflow api`` (and ``ltflow dev``) run.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI
from temporalio.worker import Worker

from ltflow.api.app import create_app
from ltflow.api.auth import TokenRegistry, ephemeral_token, registry_for
from ltflow.api.bounded import HEADER_TIMEOUT, MAX_HEAD, bounded_h11
from ltflow.audit.anchorer import AnchorService
from ltflow.audit.service import Audit
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.projections.cross_team import view_ids_for
from ltflow.projections.service import ProjectionService
from ltflow.projections.store import ViewStore
from ltflow.workflows.client import LtflowClient
from ltflow.workflows.naming import workflow_ids_for
from ltflow.workflows.runtime import temporal_client

log = structlog.get_logger("ltflow.api")
#: Seconds an idle kept-alive connection is kept (uvicorn's default, stated).
KEEP_ALIVE = 5


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: whoever embeds it decides when it stops (the
    worker, the projections and the Temporal client must stop with it, in order)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class LiveServer:
    """A running uvicorn server."""

    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]


@asynccontextmanager
async def running(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    header_timeout: float = HEADER_TIMEOUT,
) -> AsyncIterator[LiveServer]:
    """Serve ``app`` with uvicorn in this event loop until the block ends.

    A request's head must arrive within ``header_timeout`` seconds and be at most 16 KiB; an
    idle kept-alive connection is closed after 5 s (the body's deadline is the middleware's).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        http=bounded_h11(header_timeout),
        h11_max_incomplete_event_size=MAX_HEAD,
        timeout_keep_alive=KEEP_ALIVE,
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name="ltflow-api")
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
            raise RuntimeError(f"The API could not listen on {host}:{port}.")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(f"http://{host}:{bound}", server, task)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    tokens: TokenRegistry | Mapping[str, Any] | None = None,
    with_worker: bool = False,
    run_projections: bool = True,
    on_ready: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the API (``ltflow api``) until SIGINT/SIGTERM (or ``stop``), then shut down cleanly.

    It connects to the configured Temporal, or the data dir's running embedded dev server
    (``with_worker``, the one-machine stack of ``ltflow dev``, starts one when none runs), runs the
    projection service in a thread so the read models follow the event store, and with
    ``with_worker`` (``ltflow dev``) a worker too. ``run_projections=False`` leaves the views to
    a separate ``ltflow projections run`` (several API processes need only one). With no tokens
    configured and a worker here (the one-machine stack) it makes a token with every scope and
    says it through ``on_ready``. The view id key is the configured one; the one-machine stack
    makes its own in the data dir when none is configured, ``ltflow api`` refuses to start.
    """
    view_ids = view_ids_for(settings, create=with_worker)
    registry = registry_for(settings, tokens)
    if not len(registry) and with_worker:
        registry, token = ephemeral_token()
        on_ready(f"No LTFLOW_API_TOKENS set: use 'Authorization: Bearer {token}' (all scopes).")
    async with AsyncExitStack() as stack:
        events = LearningTeams.from_settings(settings)
        stack.callback(events.close)
        projections: ProjectionService | None = None
        if run_projections:
            projections = ProjectionService.from_settings(settings, events).start()
            views = projections.runner.store
        else:
            views = ViewStore.from_settings(settings)
        stack.callback(views.close)
        if projections is not None:
            stack.callback(projections.stop)
        audit = Audit.from_settings(settings, events)
        stack.callback(audit.close)
        # Anchor new events into the hash chain every few seconds: tampering before anchoring is
        # the one window the chain cannot see, so keep it short.
        anchorer = AnchorService(audit, interval=5.0).start()
        stack.callback(anchorer.stop)
        client = await stack.enter_async_context(
            temporal_client(settings, start_embedded=with_worker)  # the one-machine stack
        )
        if with_worker:
            await stack.enter_async_context(Worker(client, task_queue=settings.task_queue))
        app = create_app(
            settings,
            # The event store's participant keys: personal fields enter Temporal encrypted.
            client=LtflowClient(
                client,
                settings.task_queue,
                keys=events.keys,
                workflow_ids=workflow_ids_for(settings),
            ),
            views=views,
            tokens=registry,
            projections=projections,
            audit=audit,
            view_ids=view_ids,
        )
        live = await stack.enter_async_context(
            running(app, host, port, header_timeout=settings.header_timeout)
        )
        on_ready(f"ltflow API listening on {live.url} (OpenAPI at {live.url}/docs)")
        await _until_stopped(live, stop or _stop_on_signals())
    log.info("api stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _until_stopped(live: LiveServer, stop: asyncio.Event) -> None:
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiter, live.task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if live.task.done():
        live.task.result()  # uvicorn stopped by itself: say why
