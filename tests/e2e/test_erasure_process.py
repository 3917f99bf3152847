"""``ltflow participant erase`` as a process of idempotent steps, on SQLite and PostgreSQL.

The command records the erasure through the team's workflow, shreds the key, and cleans the
views (fold, library derived again, purge: ``VACUUM FULL`` on PostgreSQL, where it once crashed
after the key was gone). A crash at any step leaves a state the same command completes.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates.vocabulary import Command
from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy import erasure
from ltflow.privacy.erasure import erase_participant
from ltflow.privacy.fields import ERASED
from ltflow.privacy.keys import key_store_for
from ltflow.projections import team_detail
from ltflow.projections.store import ViewStore
from tests.conftest import postgres_settings, sqlite_settings
from tests.json_client import JsonLtflowClient

NAMES = {"p-anna": "Anna Zwart-Canary", "p-bram": "Bram de Vries", "p-chen": "Chen Li"}


class _NoShredTeams(LearningTeams):
    """The worker's application, stopped (as by a crash) between storing an erasure and
    deleting the key: only the command's own step deletes it."""

    name = "LearningTeams"  # the same tables (the library names them by the class otherwise)

    def _after_record(self, team_id: uuid.UUID, cmd: Command) -> None:
        return None


@dataclass
class Case:
    settings: Settings  # the command's: the store, the worker's queue, the Temporal address
    team_id: uuid.UUID
    app: LearningTeams


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return sqlite_settings(tmp_path)
    return postgres_settings(tmp_path, request.getfixturevalue("postgres_schema_factory")())


@asynccontextmanager
async def case(
    env: WorkflowEnvironment,
    stack_factory: Callable[..., Any],
    store: Settings,
    app_class: type[LearningTeams] = LearningTeams,
) -> AsyncIterator[Case]:
    """A team with three invited participants, its views caught up."""
    async with stack_factory(
        env, search_attributes=False, app_factory=lambda: app_class.from_settings(store)
    ) as stack:
        settings = dataclasses.replace(
            store,
            task_queue=stack.settings.task_queue,
            temporal_address=env.client.service_client.config.target_host,
        )
        keys = key_store_for(settings)
        sender = JsonLtflowClient(
            stack.client, settings.task_queue, search_attributes=False, keys=keys
        )
        body = narrative.convene(case_ref=f"ER-{uuid.uuid4().hex[:8]}")
        team_id = (await sender.open_team(body, actor="fac")).team_id
        for pid, name in NAMES.items():
            invite = {"type": "participant.invited", "event_id": f"inv-{pid}",
                      "participant_id": pid, "display_name": name, "role": "nurse"}  # fmt: skip
            await sender.send(team_id, invite, actor="fac")
        app = LearningTeams.from_settings(settings)
        try:
            erasure.clean_views(settings)  # the views as a running projection leaves them
            yield Case(settings, team_id, app)
        finally:
            app.close()
            keys.close()


def read_view(c: Case) -> team_detail.TeamDetailView:
    with ViewStore.from_settings(c.settings) as views:
        view = team_detail.read_team_detail(views, c.team_id, c.app.keys)
        raw = team_detail.get_team_detail_json(views, c.team_id)
    assert view is not None
    assert raw is not None
    assert not any(name in raw for name in NAMES.values())  # stored encrypted, always
    return view


def names(view: team_detail.TeamDetailView) -> dict[str, str | None]:
    return {p.participant_id: p.display_name for p in view.participants}


async def test_the_erase_command_completes_on_each_backend(
    time_env: WorkflowEnvironment, stack_factory: Callable[..., Any], store_settings: Settings
) -> None:
    async with case(time_env, stack_factory, store_settings) as c:
        assert names(read_view(c))["p-anna"] == NAMES["p-anna"]
        summary = await erase_participant(
            c.settings, c.team_id, "p-anna", actor="privacy-officer", reason="GDPR"
        )
        assert summary.active_participants == 2
        assert names(read_view(c)) == {**NAMES, "p-anna": ERASED}
        assert c.app.keys is not None
        assert c.app.keys.get(c.team_id, "p-anna") is None
        history = c.app.history(c.team_id)
        assert [f.type for f in history].count("participant.erased") == 1
        assert history[-1].actor == "privacy-officer"

        again = await erase_participant(
            c.settings, c.team_id, "p-anna", actor="privacy-officer", reason="GDPR"
        )
        assert again == summary  # a repeat: the first answer, nothing stored
        assert len(c.app.history(c.team_id)) == len(history)


async def test_an_erasure_that_crashed_in_the_purge_is_completed_by_a_second_run(
    time_env: WorkflowEnvironment,
    stack_factory: Callable[..., Any],
    store_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with case(time_env, stack_factory, store_settings) as c:
        with ViewStore.from_settings(c.settings) as views:
            store_class = type(views)
        purge = store_class.purge

        def crash(self: ViewStore, *args: Any) -> None:
            raise OSError("the process died here")

        monkeypatch.setattr(store_class, "purge", crash)
        with pytest.raises(OSError, match="died here"):
            await erase_participant(c.settings, c.team_id, "p-anna", actor="po", reason=None)
        # Recorded and shredded already: her name reads [erased] even before the views' purge.
        assert names(read_view(c))["p-anna"] == ERASED

        purged: list[bool] = []

        def recording(self: ViewStore, *args: Any) -> None:
            purge(self, *args)
            purged.append(True)

        monkeypatch.setattr(store_class, "purge", recording)
        await erase_participant(c.settings, c.team_id, "p-anna", actor="po", reason=None)
        assert purged == [True]
        assert [f.type for f in c.app.history(c.team_id)].count("participant.erased") == 1


async def test_an_erasure_stopped_before_the_key_was_shredded_is_completed_by_a_second_run(
    time_env: WorkflowEnvironment,
    stack_factory: Callable[..., Any],
    store_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with case(time_env, stack_factory, store_settings, _NoShredTeams) as c:

        def crash(*args: Any) -> None:
            raise OSError("the process died here")

        monkeypatch.setattr(erasure, "shred_key", crash)
        with pytest.raises(OSError, match="died here"):
            await erase_participant(c.settings, c.team_id, "p-anna", actor="po", reason=None)
        assert c.app.keys is not None
        assert c.app.keys.get(c.team_id, "p-anna") is not None  # recorded, not yet shredded

        monkeypatch.undo()
        await erase_participant(c.settings, c.team_id, "p-anna", actor="po", reason=None)
        assert c.app.keys.get(c.team_id, "p-anna") is None
        assert names(read_view(c))["p-anna"] == ERASED
        assert [f.type for f in c.app.history(c.team_id)].count("participant.erased") == 1
