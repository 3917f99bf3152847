"""``LtflowPlugin``: host ltflow in any Temporal worker with one line.

    client = await Client.connect("localhost:7233", plugins=[LtflowPlugin(settings)])
    worker = Worker(client, task_queue="ltflow")   # the worker picks the plugin up from its client

It adds the workflow, the activities (bound to the configured event store and notification port),
the pydantic data converter, a thread pool for the synchronous activities, and the sandbox
pass-throughs for ltflow's pure modules. ltflow's own worker uses this very plugin.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Self, cast

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, EncodingPayloadConverter, PayloadCodec
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.keyring import load_or_create_key_file, parse_keys
from ltflow.series.activities import SeriesActivities
from ltflow.series.workflow import SeriesConveneWorkflow
from ltflow.workflows.activities import LtflowActivities
from ltflow.workflows.codec import REFUSED, EncryptionCodec, with_host_codec
from ltflow.workflows.failures import LtflowFailureConverter, PayloadRefusedError
from ltflow.workflows.learning_team import LearningTeamWorkflow
from ltflow.workflows.naming import workflow_ids_for
from ltflow.workflows.notifications import Notifier, notifier_for
from ltflow.workflows.sandbox import DirectContextRunner
from ltflow.workflows.undelivered import UndeliveredLog

#: Modules the workflow sandbox shares with the host instead of re-importing them per run: the
#: pure modules the workflow uses, and (for a host whose own workflow files import ltflow) the
#: rest of ltflow and the libraries that cannot be imported twice. Never the workflow module.
PASSTHROUGH_MODULES = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "cryptography",
    "eventsourcing",
    "structlog",
    "psycopg",
    "psycopg_pool",
    "ltflow.aggregates",
    "ltflow.config",
    "ltflow.privacy",
    "ltflow.series.activities",
    "ltflow.series.model",
    "ltflow.series.payloads",
    "ltflow.series.rhythm",
    "ltflow.store",
    "ltflow.workflows.activities",
    "ltflow.workflows.client",
    "ltflow.workflows.codec",
    "ltflow.workflows.failures",
    "ltflow.workflows.notifications",
    "ltflow.workflows.payloads",
    "ltflow.workflows.plugin",
    "ltflow.workflows.runtime",
    "ltflow.workflows.sandbox",
    "ltflow.workflows.timers",
    "ltflow.workflows.undelivered",
)
DEFAULT_ACTIVITY_THREADS = 16


class RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads the codec's refusal of a payload it cannot open as the error it stands for, so the
    update that carried it is rejected (and a run started with it fails at once)."""

    @property
    def encoding(self) -> str:
        return REFUSED.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None  # it never encodes a value

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        raise PayloadRefusedError(payload.metadata.get("refused", b"").decode(errors="replace"))


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """The SDK's pydantic payload converter, built once per process.

    The worker wraps a new :class:`DataConverter` around every workflow activation (twice: to
    decode it and to encode its completion), and every new data converter builds a new payload
    converter: a serializer and a type-adapter cache thrown away a moment later. The converter
    holds no per-use state (its caches are thread-safe), so every "new" one here is the same.
    """

    _shared: ClassVar[SharedPydanticPayloadConverter | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __new__(cls) -> Self:
        shared = cls.__dict__.get("_shared")
        if shared is None:
            with cls._lock:
                shared = cls.__dict__.get("_shared")
                if shared is None:
                    shared = super().__new__(cls)
                    PydanticPayloadConverter.__init__(shared)
                    shared._set_converters(*shared.converters.values(), RefusedPayloadConverter())
                    cls._shared = shared
        return cast("Self", shared)

    def __init__(self) -> None:  # built once, in __new__
        pass


def _data_converter(codec: PayloadCodec) -> Callable[[DataConverter | None], DataConverter]:
    def configure(existing: DataConverter | None) -> DataConverter:
        # Payloads become pydantic JSON encrypted by ltflow's codec (around the host's own codec,
        # if it set one), and failure messages and stack traces travel inside the encrypted
        # payloads too, so the server never holds plaintext.
        base = existing or DataConverter.default
        return dataclasses.replace(
            base,
            payload_converter_class=SharedPydanticPayloadConverter,
            payload_codec=with_host_codec(base.payload_codec, codec),
            failure_converter_class=LtflowFailureConverter,
        )

    return configure


def payload_codec(settings: Settings, *, accept_plaintext: bool = False) -> EncryptionCodec:
    """The codec for these settings: configured keys, or the data dir's key file."""
    if settings.payload_keys:
        keys = parse_keys(settings.payload_keys)
    else:
        keys = load_or_create_key_file(settings.payload_key_file)
    return EncryptionCodec(keys, accept_plaintext=accept_plaintext)


def _with_passthrough(existing: WorkflowRunner | None) -> WorkflowRunner:
    """The sandbox with ltflow's pass-throughs; the SDK's own sandboxed runner becomes
    :class:`~ltflow.workflows.sandbox.DirectContextRunner` (the same sandbox, a cheaper lookup); a
    host's own subclass or another runner is kept as it is, with the pass-throughs added."""
    if existing is None:
        return DirectContextRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        )
    if type(existing) in (SandboxedWorkflowRunner, DirectContextRunner):
        assert isinstance(existing, SandboxedWorkflowRunner)
        return DirectContextRunner(
            restrictions=existing.restrictions.with_passthrough_modules(*PASSTHROUGH_MODULES),
            runner_class=existing.runner_class,
        )
    if isinstance(existing, SandboxedWorkflowRunner):
        return dataclasses.replace(
            existing,
            restrictions=existing.restrictions.with_passthrough_modules(*PASSTHROUGH_MODULES),
        )
    return existing


class LtflowPlugin(SimplePlugin):
    """A Temporal client and worker plugin that adds everything ltflow needs.

    ``accept_plaintext_payloads`` is for a Replayer of histories recorded before payload
    encryption only (see :class:`~ltflow.workflows.codec.EncryptionCodec`): a worker or client
    with it would let anyone who reaches Temporal write without the payload key.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        notifier: Notifier | None = None,
        app_factory: Callable[[], LearningTeams] | None = None,
        accept_plaintext_payloads: bool = False,
    ) -> None:
        self.settings = settings or Settings.from_env()
        factory = app_factory or (lambda: LearningTeams.from_settings(self.settings))
        self.ltflow_activities = LtflowActivities(
            factory,
            notifier or notifier_for(self.settings.webhook_url, self.settings.webhooks),
            policy_floor=self.settings.policy_floor,
            undelivered_factory=lambda: UndeliveredLog.from_settings(self.settings),
        )
        self._executors: list[ThreadPoolExecutor] = []
        self.codec = payload_codec(self.settings, accept_plaintext=accept_plaintext_payloads)
        super().__init__(
            "ltflow.LtflowPlugin",
            data_converter=_data_converter(self.codec),
            activities=[*self.ltflow_activities.all(), *self._series_activities().all()],
            workflows=[LearningTeamWorkflow, SeriesConveneWorkflow],
            workflow_runner=_with_passthrough,
            run_context=self._run_context,
        )

    def _series_activities(self) -> SeriesActivities:
        # The participant keys of the worker's own event store (opened on first use).
        # And the deployment's workflow names (``docs/access.md``): a series opens teams too.
        return SeriesActivities(
            keys=lambda: self.ltflow_activities.app.keys,
            workflow_ids=workflow_ids_for(self.settings),
        )

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        config = super().configure_worker(config)
        client = config.get("client")
        if client is not None:
            converter = client.data_converter
            if not issubclass(converter.payload_converter_class, PydanticPayloadConverter):
                raise ValueError(
                    "LtflowPlugin must configure the client too: pass it to Client.connect("
                    "..., plugins=[LtflowPlugin(settings)]) and the worker picks it up."
                )
        if config.get("activity_executor") is None:
            # Sized to the worker's own activity limit, so no activity waits for a thread.
            threads = config.get("max_concurrent_activities") or DEFAULT_ACTIVITY_THREADS
            executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ltflow")
            self._executors.append(executor)
            config["activity_executor"] = executor
        return config

    @asynccontextmanager
    async def _run_context(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for executor in self._executors:
                executor.shutdown(wait=False, cancel_futures=True)
            self._executors.clear()
            self.ltflow_activities.close()
