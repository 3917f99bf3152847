"""The plugin's sandbox runner: the SDK's sandbox, with the serialization-context lookups
answered without re-entering it (``ltflow/sandbox.py``), and the same answers as the SDK's."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from temporalio.converter import ActivitySerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance as SandboxedInstance

from ltflow.demo import narrative
from ltflow.workflows import plugin
from ltflow.workflows.sandbox import DirectContextRunner, _DirectContextInstance
from tests.workflows.conftest import Stack


async def run_a_case(stack: Stack) -> None:
    team_id = (
        await stack.ltflow.open_team(
            narrative.convene(case_ref=f"SBX-{uuid.uuid4().hex[:8]}"), actor="f"
        )
    ).team_id
    for pid in ("p-a", "p-b", "p-c"):
        event = {"type": "participant.invited", "event_id": f"i-{pid}", "participant_id": pid,
                 "role": "nurse"}  # fmt: skip
        await stack.ltflow.send(team_id, event, actor="f")
    await stack.ltflow.send(team_id, {"type": "scope.confirmed", "event_id": "s"}, actor="f")
    again = await stack.ltflow.send(
        team_id, {"type": "scope.confirmed", "event_id": "s"}, actor="f"
    )
    assert again.version == 7  # convened, phase 1, three invitations, scope, phase 2


def test_the_plugin_keeps_the_sandbox_and_adds_its_pass_throughs() -> None:
    ours = plugin._with_passthrough(None)
    assert type(ours) is DirectContextRunner
    assert isinstance(ours, SandboxedWorkflowRunner)
    assert "ltflow.aggregates" in ours.restrictions.passthrough_modules

    hosts = SandboxedWorkflowRunner(runner_class=UnsandboxedWorkflowRunner)
    adopted = plugin._with_passthrough(hosts)
    assert type(adopted) is DirectContextRunner
    assert adopted.runner_class is UnsandboxedWorkflowRunner

    @dataclasses.dataclass(frozen=True)
    class HostsOwn(SandboxedWorkflowRunner):
        pass

    kept = plugin._with_passthrough(HostsOwn(restrictions=SandboxRestrictions.default))
    assert type(kept) is HostsOwn
    assert "ltflow.aggregates" in kept.restrictions.passthrough_modules  # type: ignore[attr-defined]

    unsandboxed = UnsandboxedWorkflowRunner()
    assert plugin._with_passthrough(unsandboxed) is unsandboxed


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
    """Every lookup the worker makes, answered both ways: directly, and through the sandbox."""
    seen: list[tuple[str, Any, Any]] = []

    class Checking(_DirectContextInstance):
        def get_serialization_context(self, command_info: Any) -> Any:
            direct = super().get_serialization_context(command_info)
            slow = SandboxedInstance.get_serialization_context(self, command_info)
            seen.append(("serialization", direct, slow))
            return direct

        def get_external_store_context(self, command_info: Any) -> Any:
            direct = super().get_external_store_context(command_info)
            slow = SandboxedInstance.get_external_store_context(self, command_info)
            seen.append(("external store", direct, slow))
            return direct

    class CheckingRunner(DirectContextRunner):
        def create_instance(self, det: WorkflowInstanceDetails) -> Any:
            return Checking(det, self.runner_class, self.restrictions)

    monkeypatch.setattr(plugin, "DirectContextRunner", CheckingRunner)
    return seen


async def test_the_direct_lookups_give_the_sdks_answers(
    checked: list[tuple[str, Any, Any]],
    time_env: WorkflowEnvironment,
    stack_factory: Any,
) -> None:
    async with stack_factory(time_env, search_attributes=False) as stack:
        await run_a_case(stack)
    assert checked, "the worker asked for contexts"
    assert all(direct == via_sandbox for _, direct, via_sandbox in checked), [
        c for c in checked if c[1] != c[2]
    ]
    local = [d for kind, d, _ in checked if isinstance(d, ActivitySerializationContext)]
    assert {(c.activity_type, c.is_local) for c in local} >= {("ltflow.store_event", True)}
    assert {kind for kind, _, _ in checked} == {"serialization", "external store"}


async def test_the_lookups_no_longer_enter_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, time_env: WorkflowEnvironment, stack_factory: Any
) -> None:
    entered: list[str] = []
    original = SandboxedInstance._run_code

    def counting(self: Any, code: str, **extra: Any) -> None:
        entered.append(code)
        original(self, code, **extra)

    monkeypatch.setattr(SandboxedInstance, "_run_code", counting)
    async with stack_factory(time_env, search_attributes=False) as stack:
        await run_a_case(stack)
    assert any("activate" in code for code in entered), "the workflow still runs in the sandbox"
    assert not [code for code in entered if "context" in code]
