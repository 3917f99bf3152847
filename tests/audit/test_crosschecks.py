"""The cross-checks verify reports beside the chain: the team-detail read model against a fresh
fold, and the case's Temporal workflow history replayed on today's code."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from ltflow.audit import Audit
from ltflow.audit.crosschecks import check_replay
from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from ltflow.projections.team_detail import TABLE
from tests.audit.conftest import AUDITOR
from tests.conftest import Clock
from tests.integration.helpers import open_team, run_steps
from tests.workflows.conftest import Stack


def project(app: LearningTeams, settings: Settings) -> None:
    with ViewStore.from_settings(settings) as views:
        ProjectionRunner(app, views).catch_up()


def notes(audit: Audit, case: UUID) -> dict[str, bool]:
    report = audit.verify(case, AUDITOR)
    return {f.kind: f.failure for f in report.findings}


def test_without_read_models_the_cross_check_says_it_did_not_run(audit: Audit, case: UUID) -> None:
    assert notes(audit, case) == {"skipped": False}


def test_a_projected_read_model_equals_a_fresh_fold(
    audit: Audit, app: LearningTeams, settings: Settings, case: UUID
) -> None:
    project(app, settings)
    report = audit.verify(case, AUDITOR)
    assert report.ok
    assert report.findings == []
    assert "read model" in report.checks


def test_a_read_model_that_lags_is_a_note_and_one_that_differs_fails(
    audit: Audit, app: LearningTeams, settings: Settings, clock: Clock
) -> None:
    team = open_team(app, clock, case_ref="VIM-LAG")
    steps = narrative.steps(clock())
    run_steps(app, clock, team, steps[:3])
    project(app, settings)
    assert notes(audit, team) == {}
    run_steps(app, clock, team, steps[3:5])
    assert notes(audit, team) == {"read_model_behind": False}
    with ViewStore.from_settings(settings) as views, views.write() as tx:
        doc = tx.fetchone(f"SELECT doc FROM {views.table(TABLE)}")
        assert doc is not None
        forged = str(doc[0]).replace("Double dose", "Single dose")
        tx.execute(f"UPDATE {views.table(TABLE)} SET doc = ?", (forged,))
    assert notes(audit, team) == {"read_model_behind": False, "read_model_differs": True}


async def test_the_workflow_history_replays_deterministically(ts_stack: Stack) -> None:
    convene = narrative.convene(case_ref=f"VIM-{uuid.uuid4().hex[:8]}")
    opened = await ts_stack.ltflow.open_team(convene, actor="fac-ingrid")
    for step in narrative.steps(datetime(2026, 3, 2, 9, tzinfo=UTC))[:4]:
        await ts_stack.ltflow.send(opened.team_id, step.event, actor="fac-ingrid")
    assert await check_replay(ts_stack.client, opened.team_id, ts_stack.settings) == []
    audit = Audit.from_settings(ts_stack.settings, ts_stack.app())
    try:
        report = await audit.verify_with_replay(opened.team_id, AUDITOR, ts_stack.client)
        assert report.ok
        assert "workflow replay" in report.checks
    finally:
        audit.close()
    unknown = await check_replay(ts_stack.client, uuid.uuid4(), ts_stack.settings)
    assert [(f.kind, f.failure) for f in unknown] == [("skipped", False)]
