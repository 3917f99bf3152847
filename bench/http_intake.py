"""HTTP intake overhead: a phase event over HTTP against the same event through the client.

    python -m bench.http_intake            # full run
    python -m bench.http_intake --smoke    # tiny sizes, as the test suite runs it

One file-backed dev server, one worker, and the API served by uvicorn on 127.0.0.1, all in this
process (as ``ltflow dev`` runs them). Rounds alternate between the two paths so drift on a noisy
machine hits both alike. Target: HTTP adds at most 5 ms at p50.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from bench import common
from bench.phase_events import _ltflow_team
from ltflow.api import create_app
from ltflow.api.server import running
from ltflow.config import Settings
from ltflow.plugin import LtflowPlugin
from ltflow.projections.store import ViewStore
from ltflow.workflows.client import LtflowClient

TOKEN = "bench-token-5f2a9c"


def _event(i: int) -> dict[str, Any]:
    return {
        "type": "perspective.shared",
        "event_id": f"h-{i}",
        "participant_id": "p-a",
        "perspective": "The evening round started late again.",
        "consent_to_share": True,
    }


async def run(smoke: bool) -> dict[str, Any]:
    n = 20 if smoke else 400
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        env = await common.file_backed_dev_server(data / "temporal.sqlite3")
        settings = Settings(data_dir=data, task_queue="bench-http")
        client = Client(env.client.service_client, plugins=[LtflowPlugin(settings)])
        views = ViewStore.from_settings(settings)
        ltflow = LtflowClient(client, settings.task_queue)
        app = create_app(
            settings,
            client=ltflow,
            views=views,
            tokens={TOKEN: {"actor": "bench", "scopes": ["events:write"]}},
        )
        times: dict[str, list[float]] = {"client": [], "http": []}
        statuses: set[int] = set()
        try:
            async with (
                Worker(client, task_queue=settings.task_queue),
                running(app) as live,
                httpx.AsyncClient(
                    base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"}
                ) as http,
            ):
                team = await _ltflow_team(ltflow)
                for i in range(5):  # warm both paths
                    await ltflow.send(team, _event(-1 - i), actor="bench")
                    await http.post(f"/teams/{team}/events", json=_event(-100 - i))
                for r in range(4):
                    for i in range(n // 4):
                        k = r * n + i
                        start = time.perf_counter()
                        await ltflow.send(team, _event(k), actor="bench")
                        times["client"].append(time.perf_counter() - start)
                        start = time.perf_counter()
                        answer = await http.post(f"/teams/{team}/events", json=_event(10**6 + k))
                        times["http"].append(time.perf_counter() - start)
                        statuses.add(answer.status_code)
        finally:
            views.close()
            await env.shutdown()
    p50 = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {"n": n, "p50": p50, "statuses": statuses, "id": uuid.uuid4().hex[:6]}


def report(figures: dict[str, Any]) -> list[str]:
    p50 = figures["p50"]
    extra = p50["http"] - p50["client"]
    return [
        f"HTTP intake overhead, sequential, n={figures['n']} (ms, p50)",
        f"  client path {p50['client']:6.1f}   HTTP {p50['http']:6.1f}",
        f"  HTTP adds {extra:5.1f} ms (target <= 5)  ratio {p50['http'] / p50['client']:.2f}",
    ]


def main() -> None:
    common.main(__doc__, run, report)


if __name__ == "__main__":
    main()
