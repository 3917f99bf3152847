"""Record the convening workflow's histories for the replay test:
``python -m tests.series.record_histories``.

Run it when :class:`~ltflow.series.workflow.SeriesConveneWorkflow` changes on purpose (behind
``workflow.patched``), bump ``GENERATION`` and keep the old files: old histories must replay.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.config import Settings
from ltflow.series.client import SeriesClient
from ltflow.series.model import parse_series
from ltflow.workflows.learning_team import SEARCH_ATTRIBUTES
from ltflow.workflows.plugin import LtflowPlugin
from ltflow.workflows.runtime import find_binary
from tests.series.conftest import series_body
from tests.workflows.record_histories import HISTORY_PAYLOAD_KEY

HERE = Path(__file__).parent / "histories"
GENERATION = "v1"


async def record() -> list[Path]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_binary("temporal")),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp()),
        task_queue="record-series",
        payload_keys=HISTORY_PAYLOAD_KEY,
        min_policy_duration=DEV_POLICY_FLOOR,
    )
    client = Client(env.client.service_client, plugins=[LtflowPlugin(settings)])
    series = SeriesClient(client, settings.task_queue)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    body = series_body(f"record-{uuid.uuid4().hex[:6]}", start=start.isoformat(), overlap="skip")
    written: list[Path] = []
    try:
        async with Worker(client, task_queue=settings.task_queue):
            definition = parse_series(body, floor=DEV_POLICY_FLOOR, now=start)
            await series.create(definition)
            outcomes: dict[str, str] = {}
            while {"opened", "skipped"} - set(outcomes.values()):
                await asyncio.sleep(0.5)
                for slot in (await series.show(definition.series_id)).recent:
                    if slot.result is not None:
                        outcomes.setdefault(slot.workflow_id, slot.result.outcome)
            await series.delete(definition.series_id)
            for workflow_id, outcome in outcomes.items():
                path = HERE / f"{GENERATION}-{outcome}.json"
                if path in written:
                    continue
                history = await client.get_workflow_handle(workflow_id).fetch_history()
                path.write_text(history.to_json())
                written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    for path in asyncio.run(record()):
        print(f"recorded {path}")
