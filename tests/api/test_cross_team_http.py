"""The views across teams through the real HTTP app, as persons and services call them (issue
21): an attacker outside the teams with guessed case numbers learns nothing; team members and
auditors see their teams whole. On SQLite and PostgreSQL (the app serves either view store)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest

from ltflow.api import create_app
from ltflow.api.auth import Principal, TokenRegistry
from ltflow.api.server import running
from ltflow.eventstore.application import team_id_for
from ltflow.projections.cross_team import ViewIds
from ltflow.workflows.learning_team import workflow_id_for
from tests.api.conftest import Api, bearer
from tests.api.helpers import assert_error
from tests.conftest import BACKENDS, backend_settings
from tests.projections.named_cases import (
    CANDIDATES,
    CLOSED,
    FOLLOWING,
    NAMES,
    REFLECTING,
    SUBJECTS,
    TITLES,
    World,
    named_world,
)

IDS = ViewIds(b"\x03" * 32)
READ = frozenset({"teams:read"})
PRINCIPALS = {
    "service": Principal("dashboard", READ),
    "quality_officer": Principal(
        "sub-quinn", READ, kind="person", roles=frozenset({"quality_officer"})
    ),
    "sponsor": Principal("sub-sam", READ, kind="person"),
    "owner": Principal("sub-cy", READ, kind="person"),
    "stranger": Principal("sub-nobody", READ, kind="person"),
    "facilitator": Principal("sub-gert", READ, kind="person", roles=frozenset({"facilitator"})),
    "family": Principal("sub-di", READ, kind="person"),
    "auditor": Principal("auditor-ann", READ, kind="person", roles=frozenset({"auditor"})),
}
OUTSIDERS = ["service", "quality_officer", "sponsor", "owner", "stranger"]
VIEWS = ["/library", "/trends", "/actions", "/deadlines"]
#: The clock of the app: every case's deadlines still ahead.
NOW = "2026-03-20T09:00:00+00:00"


def token(name: str) -> str:
    return f"token-{name}-5c1e9a"


REGISTRY = TokenRegistry(
    {hashlib.sha256(token(n).encode()).digest(): p for n, p in PRINCIPALS.items()}
)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with named_world(
        backend_settings(request, tmp_path_factory.mktemp("cross-team-http"))
    ) as built:
        yield built


class Reader:
    """The running app, with one keep-alive connection per caller."""

    def __init__(self, url: str) -> None:
        self.clients = {
            who: httpx.AsyncClient(base_url=url, headers=bearer(token(who)), timeout=30)
            for who in PRINCIPALS
        }

    async def raw(self, who: str, path: str, **params: Any) -> httpx.Response:
        return await self.clients[who].get(path, params=params)

    async def __call__(self, who: str, path: str, **params: Any) -> Any:
        response = await self.raw(who, path, **params)
        assert response.status_code == 200, response.text
        return response.json()


@asynccontextmanager
async def served(api: Api, world: World) -> AsyncIterator[Reader]:
    """The real app over the world's views (the intake's client is the session API's)."""
    app = create_app(
        world.settings,
        client=api.stack.ltflow,
        views=world.store,
        tokens=REGISTRY,
        view_ids=IDS,
        clock=lambda: datetime.fromisoformat(NOW),
    )
    async with running(app) as live:
        reader = Reader(live.url)
        try:
            yield reader
        finally:
            for client in reader.clients.values():
                await client.aclose()


@pytest.mark.parametrize("who", OUTSIDERS)
async def test_an_outsider_with_guessed_case_numbers_learns_nothing_over_http(
    api: Api, world: World, who: str
) -> None:
    assert set(world.ids) <= set(CANDIDATES)
    async with served(api, world) as get:
        answers = {path: await get(who, path) for path in VIEWS}
        text = str(answers).lower()
        for case_ref in CANDIDATES:
            team_id = team_id_for(case_ref)
            for computed in (case_ref, str(team_id), team_id.hex, workflow_id_for(team_id)):
                assert computed.lower() not in text, (who, computed)
        for word in [*TITLES.values(), *NAMES, *SUBJECTS.values()]:
            assert word.lower() not in text, (who, word)
        assert answers["/library"]  # the library is for every reader
        # Probing by a guessed team id or a name answers as if nothing matched.
        for case_ref in CANDIDATES:
            guessed = str(team_id_for(case_ref))
            assert await get(who, "/actions", team_id=guessed) == []
            assert await get(who, "/deadlines", team_id=guessed) == []
        for name in NAMES:
            assert await get(who, "/actions", owner=name) == []


async def test_inside_the_team_and_auditors_see_ids_titles_and_people(
    api: Api, world: World
) -> None:
    async with served(api, world) as get:
        audit = await get("auditor", "/actions")
        assert {(a["case_ref"], a["title"], a["owner"]) for a in audit} == {
            (CLOSED, TITLES[CLOSED], "Cy Mulder"),
            (FOLLOWING, TITLES[FOLLOWING], "Ed Kok"),
        }
        mine = await get("facilitator", "/actions")
        assert [(a["team_id"], a["case_ref"], a["owner"]) for a in mine] == [
            (str(world.ids[FOLLOWING]), FOLLOWING, "Ed Kok")
        ]
        assert await get("facilitator", "/actions", owner="Ed Kok") == mine
        assert await get("facilitator", "/actions", team_id=str(world.ids[FOLLOWING])) == mine
        deadlines = await get("facilitator", "/deadlines")
        assert {(d["case_ref"], d["title"], d["facilitator"]) for d in deadlines} == {
            (FOLLOWING, TITLES[FOLLOWING], "Gert Bos")
        }
        every = await get("auditor", "/deadlines")
        assert {d["case_ref"] for d in every} == {FOLLOWING, REFLECTING}
        # A family member of the closed team sees the team, its staff by role.
        [family] = await get("family", "/actions")
        assert (family["case_ref"], family["owner"]) == (CLOSED, "the owner")
        # Someone who stands in no team sees none of their entries.
        assert await get("stranger", "/actions") == []
        assert await get("stranger", "/deadlines") == []


async def test_a_team_keeps_one_view_id_across_the_views(api: Api, world: World) -> None:
    closed, following = IDS.of(world.ids[CLOSED]), IDS.of(world.ids[FOLLOWING])
    async with served(api, world) as get:
        [entry] = await get("service", "/library")
        assert entry["view_id"] == closed
        actions = await get("service", "/actions", view_id=following)
        assert {a["view_id"] for a in actions} == {following}
        deadlines = await get("service", "/deadlines", view_id=following)
        assert {d["view_id"] for d in deadlines} == {following}
        bad = await get.raw("service", "/actions", view_id=str(world.ids[CLOSED]))
        assert_error(bad, 422, "invalid_query")
