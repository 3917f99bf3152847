"""HTTP intake overhead: a phase event over HTTP against the same event through the client.

    python -m bench.http_intake            # full run
    python -m bench.http_intake --smoke    # tiny sizes, as the test suite runs it

One file-backed dev server, one worker, and the API served by uvicorn on 127.0.0.1, all in this
process (as ``ltflow dev`` runs them). The HTTP side is sent by a bare HTTP/1.1 client
(:class:`RawHttp`), so the figure is the server's intake and not a client library's; the same
requests through httpx are reported beside it. Rounds alternate between the paths so drift on a
noisy machine hits them alike. Target: HTTP adds at most 5 ms at p50.
"""

from __future__ import annotations

import asyncio
import json
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
from ltflow.aggregates.vocabulary import parse_sender_event
from ltflow.api import create_app
from ltflow.api.server import running
from ltflow.config import Settings
from ltflow.privacy.keyring import new_key
from ltflow.projections.store import ViewStore
from ltflow.workflows.client import LtflowClient
from ltflow.workflows.plugin import LtflowPlugin

TOKEN = "bench-token-5f2a9c"


class RawHttp:
    """A bare HTTP/1.1 client on one kept-alive connection: the request is formatted by hand and
    the answer read by its Content-Length. httpx spends a millisecond or more of Python per
    request, on the same event loop (and cores) as the server it measures; this keeps the
    caller's own cost near zero, so what remains is the server's intake."""

    def __init__(self, url: str, token: str) -> None:
        host_port = url.split("://", 1)[1].rstrip("/")
        self.host, _, port = host_port.partition(":")
        self.port = int(port)
        self.token = token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawHttp:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        assert self._reader is not None
        assert self._writer is not None
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        self._writer.write(head + data)
        status_line = await self._reader.readline()
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self._reader.readexactly(length)


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
        settings = Settings(data_dir=data, task_queue="bench-http", view_id_key=new_key())
        client = Client(env.client.service_client, plugins=[LtflowPlugin(settings)])
        views = ViewStore.from_settings(settings)
        ltflow = LtflowClient(client, settings.task_queue)
        app = create_app(
            settings,
            client=ltflow,
            views=views,
            tokens={TOKEN: {"actor": "bench", "scopes": ["events:write"]}},
        )
        times: dict[str, list[float]] = {"client": [], "http": [], "httpx": []}
        statuses: set[int] = set()
        versions: list[int] = []  # the team's version in each raw answer (framing check)
        try:
            async with (
                Worker(client, task_queue=settings.task_queue),
                running(app) as live,
                httpx.AsyncClient(
                    base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"}
                ) as httpx_client,
                RawHttp(live.url, TOKEN) as raw,
            ):
                team = await _ltflow_team(ltflow)
                path = f"/teams/{team}/events"
                for i in range(5):  # warm every path
                    await ltflow.send(team, parse_sender_event(_event(-1 - i)), actor="bench")
                    await raw.post(path, _event(-100 - i))
                    await httpx_client.post(path, json=_event(-200 - i))
                for r in range(4):
                    for i in range(n // 4):
                        k = r * n + i
                        event = parse_sender_event(_event(k))
                        start = time.perf_counter()
                        await ltflow.send(team, event, actor="bench")
                        times["client"].append(time.perf_counter() - start)
                        start = time.perf_counter()
                        status, body = await raw.post(path, _event(10**6 + k))
                        times["http"].append(time.perf_counter() - start)
                        statuses.add(status)
                        versions.append(json.loads(body)["version"])
                        start = time.perf_counter()
                        answer = await httpx_client.post(path, json=_event(2 * 10**6 + k))
                        times["httpx"].append(time.perf_counter() - start)
                        statuses.add(answer.status_code)
        finally:
            views.close()
            await env.shutdown()
    p50 = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {
        "n": n,
        "p50": p50,
        "statuses": statuses,
        "versions": versions,
        "id": uuid.uuid4().hex[:6],
    }


def report(figures: dict[str, Any]) -> list[str]:
    p50 = figures["p50"]
    extra = p50["http"] - p50["client"]
    return [
        f"HTTP intake overhead, sequential, n={figures['n']} (ms, p50)",
        f"  client path {p50['client']:6.1f}   HTTP {p50['http']:6.1f}   "
        f"(HTTP through httpx {p50['httpx']:6.1f}: the client library's own cost included)",
        f"  HTTP adds {extra:5.1f} ms (target <= 5)  ratio {p50['http'] / p50['client']:.2f}",
    ]


def main() -> None:
    common.main(__doc__, run, report)


if __name__ == "__main__":
    main()
