"""``GET /teams/{id}?min_version=`` waits are capped and hold no worker (issue 15, item 7): many
waits for a version that never comes leave a plain ``GET /teams`` answering at once."""

from __future__ import annotations

import asyncio
import time

import httpx

from ltflow.api import create_app
from ltflow.api.server import running
from ltflow.config import Settings
from tests.api.conftest import READER, TOKENS, Api, bearer
from tests.api.helpers import open_team

WAITERS = 200
NEVER = 10**9
#: How long a waiter waits in this test (seconds).
WAIT = 12.0


async def test_many_waits_for_an_unknown_version_do_not_starve_other_reads(api: Api) -> None:
    team_id = await open_team(api.http)
    await api.settle()
    settings = Settings(data_dir=api.stack.settings.data_dir)  # the defaults: 32 waits at most
    app = create_app(
        settings, client=api.stack.ltflow, views=api.projections.runner.store, tokens=TOKENS
    )
    # A long wait, so "answered at once" (beyond the cap) and "answered after the wait" stay
    # far apart even when the host is busy.
    app.state.ltflow.read_wait = WAIT
    pool = httpx.Limits(max_connections=WAITERS + 10, max_keepalive_connections=WAITERS + 10)
    async with (
        running(app) as live,
        httpx.AsyncClient(
            base_url=live.url, headers=bearer(READER), timeout=30, limits=pool
        ) as http,
    ):

        async def wait() -> tuple[float, httpx.Response]:
            started = time.monotonic()
            response = await http.get(f"/teams/{team_id}?min_version={NEVER}")
            return time.monotonic() - started, response

        waits = [asyncio.create_task(wait()) for _ in range(WAITERS)]
        await asyncio.sleep(0.5)  # every wait has arrived
        started = time.monotonic()
        plain = await http.get("/teams?limit=5")
        took = time.monotonic() - started
        answers = await asyncio.gather(*waits)
    assert plain.status_code == 200, plain.text
    assert took < 3.0, f"GET /teams took {took:.1f} s behind {WAITERS} waits"
    for _, response in answers:
        # Who waited learns the team never reached that version (409); who could not wait,
        # that the view is behind (504). Neither is a silent 200.
        assert response.status_code in (409, 504), response.text
        assert response.json()["details"]["version"] < NEVER
    waited = [r for _, r in answers if r.status_code == 409]
    assert len(waited) <= settings.max_read_waits
    # Beyond the cap the answer comes at once instead of after the wait.
    at_once = sum(1 for seconds, _ in answers if seconds < WAIT / 2)
    assert at_once >= WAITERS - settings.max_read_waits, at_once
