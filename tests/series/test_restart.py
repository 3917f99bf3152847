"""A series survives a dev-server restart: the definition is still Temporal's, and the slots
missed while the server was down are caught up, each with one team."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams, team_id_for
from ltflow.series.client import SeriesClient
from ltflow.series.model import case_ref_for
from ltflow.workflows.plugin import LtflowPlugin
from tests.series.conftest import at_seconds, eventually, parse, series_body
from tests.workflows.test_dev_server import free_port, start_dev_server


async def test_a_series_survives_a_restart_and_catches_up_the_slots_it_missed(
    tmp_path: Path,
) -> None:
    db, port = tmp_path / "temporal.sqlite3", free_port()
    settings = Settings(
        data_dir=tmp_path, task_queue="series-restart", min_policy_duration=DEV_POLICY_FLOOR
    )
    start = at_seconds(1)
    definition = parse(series_body(start=start.isoformat()))
    env = await start_dev_server(db, port)
    client = Client(env.client.service_client, plugins=[LtflowPlugin(settings)])
    series = SeriesClient(client, settings.task_queue)
    async with Worker(client, task_queue=settings.task_queue):
        await series.create(definition)

        async def one() -> bool:
            shown = await series.show(definition.series_id)
            return any(s.result and s.result.outcome == "opened" for s in shown.recent)

        await eventually(one)
    await env.shutdown()
    down_at = datetime.now(UTC)
    await asyncio.sleep(4)  # two slots pass with the server down

    env = await start_dev_server(db, port)
    client = Client(env.client.service_client, plugins=[LtflowPlugin(settings)])
    series = SeriesClient(client, settings.task_queue)
    app = LearningTeams.from_settings(settings)
    try:
        async with Worker(client, task_queue=settings.task_queue):
            shown = await series.show(definition.series_id)
            assert shown.series == definition
            missed = [
                start + timedelta(seconds=2 * k)
                for k in range(1, 30)
                if down_at + timedelta(seconds=1)
                < start + timedelta(seconds=2 * k)
                < down_at + timedelta(seconds=4)
            ]
            assert missed

            async def caught_up() -> bool:
                return all(
                    app.exists(team_id_for(case_ref_for(definition.series_id, slot)))
                    for slot in missed
                )

            await eventually(caught_up)
            await series.delete(definition.series_id)
    finally:
        app.close()
        await env.shutdown()
