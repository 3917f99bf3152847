"""The command line's doors: no one sends as ``system``; an operator repairs a stopped team."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ltflow import cli
from ltflow.demo import narrative
from ltflow.workflows.learning_team import workflow_id_for

INVITE = json.dumps(
    {"type": "participant.invited", "event_id": "i-1", "participant_id": "p-1", "role": "nurse"}
)


@pytest.mark.parametrize("actor", ["system", "System", "", "fac\ningrid"], ids=repr)
@pytest.mark.parametrize("command", ["open", "send"])
def test_the_cli_refuses_system_and_blank_actors_as_a_usage_error(
    command: str,
    actor: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Were the actor let through, the command would fail to connect here, not start a server.
    monkeypatch.setenv("LTFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LTFLOW_TEMPORAL_ADDRESS", "127.0.0.1:9")
    body = json.dumps(narrative.convene(case_ref="CLI-ACTOR")) if command == "open" else INVITE
    target = [str(uuid.uuid4())] if command == "send" else []
    # Refused before anything is read or connected: no Temporal is running for this test.
    code = cli.main(["team", command, *target, body, "--actor", actor])
    assert code == cli.USAGE
    err = capsys.readouterr().err
    assert "--actor" in err
    assert err.strip().endswith(".")


def test_an_erasure_cannot_be_recorded_as_system(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LTFLOW_DATA_DIR", str(tmp_path))
    argv = ["participant", "erase", str(uuid.uuid4()), "p-1", "--actor", "system"]
    assert cli.main(argv) == cli.USAGE
    assert "reserved for ltflow's own timers" in capsys.readouterr().err


async def test_ltflow_team_repair_restarts_a_terminated_team(
    dev_env: WorkflowEnvironment,
    stack_factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with stack_factory(dev_env, search_attributes=True) as stack:
        body = narrative.convene(case_ref=f"CLI-REP-{uuid.uuid4().hex[:8]}")
        team_id = (await stack.ltflow.open_team(body, actor="fac-ingrid")).team_id
        address = dev_env.client.service_client.config.target_host
        monkeypatch.setenv("LTFLOW_TEMPORAL_ADDRESS", address)
        monkeypatch.setenv("LTFLOW_DATA_DIR", str(stack.settings.data_dir))  # its payload key
        monkeypatch.setenv("LTFLOW_TASK_QUEUE", stack.settings.task_queue)

        def repair() -> int:
            return cli.main(["team", "repair", str(team_id)])

        assert await asyncio.to_thread(repair) == cli.FAILED  # running: nothing to repair
        assert "needs no repair: it is running." in capsys.readouterr().err

        await stack.client.get_workflow_handle(workflow_id_for(team_id)).terminate(reason="test")
        assert await asyncio.to_thread(repair) == cli.OK
        assert "last run was terminated" in capsys.readouterr().out
        summary = await stack.ltflow.send(team_id, json.loads(INVITE), actor="fac-ingrid")
        assert summary.version == 3
