"""Real Temporal servers from PyPI: the time-skipping test server and the CLI dev server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.keys import key_store_for
from ltflow.workflows.client import LtflowClient
from ltflow.workflows.learning_team import SEARCH_ATTRIBUTES
from ltflow.workflows.notifications import Notifier
from ltflow.workflows.payloads import Notification
from ltflow.workflows.plugin import LtflowPlugin
from ltflow.workflows.runtime import find_binary
from tests.json_client import JsonLtflowClient


class RecordingNotifier:
    """The one test double: the notification port, recording what it was asked to deliver."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self._lock = threading.Lock()

    def notify(self, notification: Notification) -> None:
        with self._lock:
            self.sent.append(notification)

    def types(self) -> list[str]:
        with self._lock:
            return [n.type for n in self.sent]


@dataclass
class Stack:
    """A worker with ltflow on its own task queue and data dir, and the ways to look at it."""

    client: Client
    ltflow: LtflowClient
    settings: Settings
    notifier: RecordingNotifier
    plugin: LtflowPlugin

    def app(self) -> LearningTeams:
        return self.plugin.ltflow_activities.app


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping server per test: a leftover workflow's timer, with its worker gone,
    would otherwise hold the shared clock still."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_binary("temporal-test-server"))
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_binary("temporal")),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


StackFactory = Callable[..., "AsyncIterator[Stack]"]


def make_stack_factory(
    tmp_path: Path,
) -> Callable[..., object]:
    @asynccontextmanager
    async def stack(
        env: WorkflowEnvironment,
        *,
        search_attributes: bool,
        app_factory: Callable[[], LearningTeams] | None = None,
        data_dir: Path | None = None,
        notifier: Notifier | None = None,
    ) -> AsyncIterator[Stack]:
        settings = Settings(
            data_dir=data_dir or tmp_path,
            task_queue=f"tq-{uuid.uuid4().hex[:8]}",
            # The development floor, as in ``ltflow dev``: tests use second-long policies.
            min_policy_duration=DEV_POLICY_FLOOR,
        )
        recording = RecordingNotifier()
        plugin = LtflowPlugin(settings, notifier=notifier or recording, app_factory=app_factory)
        client = Client(env.client.service_client, namespace=env.client.namespace, plugins=[plugin])
        # The sender's client holds the installation's participant keys, as the API and the
        # CLI do: personal fields enter Temporal encrypted.
        keys = key_store_for(settings)
        try:
            async with Worker(client, task_queue=settings.task_queue):
                yield Stack(
                    client=client,
                    ltflow=JsonLtflowClient(
                        client,
                        settings.task_queue,
                        search_attributes=search_attributes,
                        keys=keys,
                    ),
                    settings=settings,
                    notifier=recording,
                    plugin=plugin,
                )
        finally:
            keys.close()

    return stack


@pytest.fixture
def stack_factory(tmp_path: Path) -> Callable[..., object]:
    return make_stack_factory(tmp_path)


@pytest.fixture
async def ts_stack(
    time_env: WorkflowEnvironment, stack_factory: Callable[..., object]
) -> AsyncIterator[Stack]:
    """ltflow on the time-skipping server (no custom search attributes there)."""
    async with stack_factory(time_env, search_attributes=False) as stack:  # type: ignore[operator]
        yield stack


@pytest.fixture
async def dev_stack(
    dev_env: WorkflowEnvironment, stack_factory: Callable[..., object]
) -> AsyncIterator[Stack]:
    """ltflow on the Temporal CLI dev server, with search attributes."""
    async with stack_factory(dev_env, search_attributes=True) as stack:  # type: ignore[operator]
        yield stack
