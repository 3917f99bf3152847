"""The workflow on the Temporal CLI dev server: restarts, search attributes, hosting."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams
from ltflow.workflows.client import LtflowClient
from ltflow.workflows.learning_team import SEARCH_ATTRIBUTES
from ltflow.workflows.plugin import LtflowPlugin
from ltflow.workflows.runtime import find_binary
from tests.json_client import JsonLtflowClient
from tests.workflows.conftest import RecordingNotifier, Stack

SHORT = {
    "min_reflection": "PT1S",
    "max_reflection": "PT8S",
    "reflection_reminder_before": "PT4S",
    "review_every": "PT2S",
    "follow_up_for": "PT5S",
}


def case(policy: dict[str, str] | None = None) -> dict[str, Any]:
    return narrative.convene(policy=policy, case_ref=f"DEV-{uuid.uuid4().hex[:10]}")


async def send_until(ltflow: LtflowClient, team_id: Any, event_id: str) -> None:
    for step in narrative.steps(narrative_start()):
        await ltflow.send(team_id, step.event, actor="fac-ingrid")
        if step.event["event_id"] == event_id:
            return
    raise KeyError(event_id)


def narrative_start() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def wait_for_types(
    settings: Settings, team_id: Any, wanted: set[str], seconds: float = 30
) -> list[str]:
    """Poll the event store (bounded) until every wanted type is stored."""
    deadline = time.monotonic() + seconds
    app = LearningTeams.from_settings(settings)
    try:
        while True:
            found = [f.type for f in app.history(team_id)]
            if wanted <= set(found) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.25)
    finally:
        app.close()


async def start_dev_server(db: Path, port: int) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        port=port,
        dev_server_existing_path=str(find_binary("temporal")),
        dev_server_database_filename=str(db),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_reflection_timers_still_fire_after_a_dev_server_restart(tmp_path: Path) -> None:
    db, port = tmp_path / "temporal.sqlite3", free_port()
    settings = Settings(
        data_dir=tmp_path, task_queue="restart", min_policy_duration=DEV_POLICY_FLOOR
    )
    env = await start_dev_server(db, port)
    plugin = LtflowPlugin(settings, notifier=RecordingNotifier())
    client = Client(env.client.service_client, namespace="default", plugins=[plugin])
    async with Worker(client, task_queue=settings.task_queue):
        ltflow = JsonLtflowClient(client, settings.task_queue)
        team_id = (await ltflow.open_team(case(SHORT), actor="f")).team_id
        await send_until(ltflow, team_id, "done-1")
    await env.shutdown()  # server and worker down, with the reminder and overdue timers pending

    before = await wait_for_types(settings, team_id, set(), seconds=0)
    assert "reflection.opened" in before
    assert "reflection.reminder_due" not in before
    assert "reflection.overdue" not in before

    env = await start_dev_server(db, port)
    notifier = RecordingNotifier()
    plugin = LtflowPlugin(settings, notifier=notifier)
    client = Client(env.client.service_client, namespace="default", plugins=[plugin])
    try:
        async with Worker(client, task_queue=settings.task_queue):
            found = await wait_for_types(
                settings, team_id, {"reflection.reminder_due", "reflection.overdue"}
            )
            deadline = time.monotonic() + 10
            while len(notifier.sent) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
    finally:
        await env.shutdown()
    assert found.count("reflection.reminder_due") == 1
    assert found.count("reflection.overdue") == 1
    assert "reflection.overdue" in notifier.types()


async def test_an_operator_can_list_teams_by_phase_with_a_search_attribute_query(
    dev_stack: Stack,
) -> None:
    team_id = (await dev_stack.ltflow.open_team(case(), actor="f")).team_id
    await send_until(dev_stack.ltflow, team_id, "done-1")
    wanted = f"learning-team-{team_id}"

    deadline = time.monotonic() + 15
    ids: list[str] = []
    while wanted not in ids and time.monotonic() < deadline:
        ids = [
            wf.id
            async for wf in dev_stack.client.list_workflows(
                "LtflowPhase = 3 AND LtflowTheme = 'medication' AND LtflowTrigger = 'incident'"
            )
        ]
        await asyncio.sleep(0.3)
    assert wanted in ids
    in_phase_one = [wf.id async for wf in dev_stack.client.list_workflows("LtflowPhase = 1")]
    assert wanted not in in_phase_one


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class TheirOwnWorkflow:
    """A workflow of the host's own, next to ltflow on the same worker."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_a_plain_worker_given_only_the_plugin_hosts_a_case(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    client = Client(
        dev_env.client.service_client, namespace="default", plugins=[LtflowPlugin(settings)]
    )
    queue = f"their-queue-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[TheirOwnWorkflow], activities=[greet]):
        ltflow = JsonLtflowClient(client, task_queue=queue)
        team_id = (await ltflow.open_team(case(), actor="f")).team_id
        await send_until(ltflow, team_id, "scope-ok")
        theirs = await client.execute_workflow(
            TheirOwnWorkflow.run, "ward", id=f"theirs-{uuid.uuid4()}", task_queue=queue
        )
    assert theirs == "hello ward"
    found = await wait_for_types(settings, team_id, {"scope.confirmed"}, seconds=0)
    assert found.count("participant.invited") == 5
    assert found[-1] == "phase.entered"
