"""The workflow sandbox, minus a per-payload detour.

The SDK's sandboxed runner answers two bookkeeping questions for every payload sequence it
encodes or decodes around an activation: which serialization context applies (the workflow's,
or a pending activity's) and which external-store context. It answers them by entering the
sandbox: compiling a two-line code string with ``exec`` and swapping the sandbox's import
machinery in and out, about a tenth of a millisecond each time, a dozen times per phase event.
Measured with py-spy on a worker at full load, that was a quarter of the worker's CPU time.

The answers are plain lookups in the workflow instance's own bookkeeping (its info, its pending
activities, child workflows and external signals); no workflow code runs and nothing is
imported. :class:`DirectContextRunner` is the SDK's :class:`SandboxedWorkflowRunner` in every
other respect (same restrictions, same determinism checks, the workflow still runs inside the
sandbox) and asks the instance directly. Where it cannot reach the instance (a different SDK
layout) or the question concerns a Nexus operation (whose context may come from user code), it
takes the SDK's own path.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from temporalio.api.enums.v1.command_type_pb2 import CommandType
from temporalio.converter import SerializationContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

try:  # the SDK's sandboxed instance, whose two lookups go the long way round
    from temporalio.worker.workflow_sandbox._runner import _Instance as _SandboxedInstance
except ImportError:  # pragma: no cover - another SDK layout: the plain runner is used
    _SandboxedInstance = None  # type: ignore[assignment,misc]

_NEXUS = CommandType.COMMAND_TYPE_SCHEDULE_NEXUS_OPERATION
_IN_SANDBOX = "__temporal_in_sandbox"


@dataclasses.dataclass(frozen=True)
class DirectContextRunner(SandboxedWorkflowRunner):
    """:class:`SandboxedWorkflowRunner` whose instances answer the serialization-context
    lookups without entering the sandbox (see the module docstring)."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        if _SandboxedInstance is None:  # pragma: no cover - see the import above
            return super().create_instance(det)
        return _DirectContextInstance(det, self.runner_class, self.restrictions)


if _SandboxedInstance is not None:

    class _DirectContextInstance(_SandboxedInstance):
        def _inner(self, command_info: Any) -> Any:
            """The workflow instance inside the sandbox, when it may be asked directly."""
            if command_info is not None and command_info.command_type == _NEXUS:
                return None
            in_sandbox = self.globals_and_locals.get(_IN_SANDBOX)
            return getattr(in_sandbox, "instance", None)

        def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
            inner = self._inner(command_info)
            if inner is None:
                return super().get_serialization_context(command_info)
            context: SerializationContext | None = inner.get_serialization_context(command_info)
            return context

        def get_external_store_context(self, command_info: Any) -> Any:
            inner = self._inner(command_info)
            if inner is None:
                return super().get_external_store_context(command_info)
            return inner.get_external_store_context(command_info)
