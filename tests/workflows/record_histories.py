"""Record workflow histories for the replay test: ``python -m tests.workflows.record_histories``.

Run it when the workflow changes on purpose (behind ``workflow.patched``), and commit the new
files next to the old ones: old histories must keep replaying.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.workflows.learning_team import workflow_id_for
from ltflow.workflows.notifications import Notifier
from ltflow.workflows.payloads import Notification
from ltflow.workflows.plugin import LtflowPlugin
from ltflow.workflows.runtime import find_binary
from tests.json_client import JsonLtflowClient

HERE = Path(__file__).parent / "histories"
#: The payload key the histories are recorded and replayed with (test data, not a secret):
#: payloads in a history are encrypted as a worker's are.
HISTORY_PAYLOAD_KEY = "bHRmbG93LXJlY29yZGVkLWhpc3Rvcmllcy10ZXN0a2U="


class DownNotifier:
    """A notification port that never delivers: every attempt raises."""

    def notify(self, notification: Notification) -> None:
        raise ConnectionError("webhook unreachable")


async def record(
    name: str, until: str, extra_sleep: timedelta | None = None, notifier: Notifier | None = None
) -> Path:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_binary("temporal-test-server"))
    )
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp()), task_queue="record", payload_keys=HISTORY_PAYLOAD_KEY
    )
    client = Client(env.client.service_client, plugins=[LtflowPlugin(settings, notifier=notifier)])
    async with env, Worker(client, task_queue=settings.task_queue):
        ltflow = JsonLtflowClient(client, settings.task_queue, search_attributes=False)
        team_id = (await ltflow.open_team(narrative.convene(case_ref=name), actor="f")).team_id
        start = await env.get_current_time()
        for step in narrative.steps(start):
            if step.after >= timedelta(hours=1):
                await env.sleep(step.after)
            await ltflow.send(team_id, step.event, actor="fac-ingrid")
            if step.event["event_id"] == until:
                break
        if extra_sleep:
            await env.sleep(extra_sleep)
        history = await client.get_workflow_handle(workflow_id_for(team_id)).fetch_history()
    HERE.mkdir(exist_ok=True)
    out = HERE / f"{name}.json"
    out.write_text(history.to_json())
    return out


#: The workflow code's generation: v1 folded each event itself; v2 adopts the state the store
#: activity answers with (``adopt-state``); v3 sends notifications in the background and records
#: the undeliverable ones (``notify-in-background``); v4 keeps a reminder for every deadline
#: (``every-deadline``) and notifies every phase entered, a session scheduled and the team's end
#: (``notify-every-change``).
GENERATION = "v4"


async def main() -> None:
    print(await record(f"{GENERATION}-narrative-closed", "closed"))
    print(
        await record(f"{GENERATION}-reflection-overdue", "done-1", extra_sleep=timedelta(days=15))
    )
    print(
        await record(
            f"{GENERATION}-notification-undelivered",
            "done-1",
            extra_sleep=timedelta(days=15),
            notifier=DownNotifier(),
        )
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
