"""``serve``: the one-machine stack ``ltflow dev`` runs (embedded Temporal dev server, worker,
projections, audit and the API), answering over HTTP and stopping cleanly."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import httpx

from ltflow.api.server import serve
from ltflow.config import Settings
from tests.api.helpers import new_case


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_runs_the_whole_stack_and_stops_when_asked(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, embedded_temporal_port=_free_port(), task_queue="serve-test"
    )
    said: list[str] = []
    listening, stop = asyncio.Event(), asyncio.Event()

    def on_ready(line: str) -> None:
        said.append(line)
        if "listening" in line:
            listening.set()

    stack = asyncio.create_task(
        serve(settings, port=0, with_worker=True, on_ready=on_ready, stop=stop)
    )
    await asyncio.wait_for(listening.wait(), timeout=60)
    token = re.search(r"Bearer (\S+)'", said[0])
    url = re.search(r"(http://\S+)", said[-1])
    assert token is not None, said
    assert url is not None, said
    headers = {"Authorization": f"Bearer {token.group(1)}"}
    async with httpx.AsyncClient(base_url=url.group(1), headers=headers, timeout=30) as http:
        assert (await http.get("/healthz")).json()["status"] == "ok"
        opened = await http.post("/teams", json=new_case())
        assert opened.status_code == 201, opened.text
        team, version = opened.json()["team_id"], opened.json()["version"]
        detail = await http.get(f"/teams/{team}", params={"min_version": version})
        assert detail.json()["version"] == version
        history = await http.get(f"/teams/{team}/history")
        assert [f["actor"] for f in history.json()] == ["dev", "system"]
        assert (await http.get("/actions")).status_code == 200
    # No key configured: the one-machine stack made its own view id key in its data dir.
    assert (tmp_path / "view.id.key").stat().st_mode & 0o777 == 0o600
    stop.set()
    await asyncio.wait_for(stack, timeout=30)
