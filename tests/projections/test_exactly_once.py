"""Exactly once: incremental processing, crashes mid-batch and racing runners all end with the
views a rebuild from scratch gives, holding as many facts as the log has events."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.projections.log import EventLog
from ltflow.projections.registry import PROJECTIONS
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import Tx, ViewStore
from ltflow.projections.team_detail import get_team_detail
from ltflow.projections.team_fold import STEPS
from tests.conftest import Clock
from tests.projections.crash_runner import MARKER
from tests.projections.helpers import (
    POISON,
    SECRET,
    assert_counts_match_log,
    broken_invitation,
    max_id,
    snapshot,
)
from tests.projections.scenario import PEOPLE, TeamDriver, full_team, mixed_teams

ROOT = Path(__file__).resolve().parents[2]


class Boom(RuntimeError):
    """The runner 'crashes' here."""


def _teams_while_projecting(app: LearningTeams, clock: Clock, runner: ProjectionRunner) -> None:
    """Teams progress while the runner keeps up now and then, so views are built in pieces."""
    mixed_teams(app, clock, prefix="a")
    runner.catch_up()
    driver = TeamDriver(app, clock, "b-live")
    driver.convene(theme="medication")
    runner.catch_up()
    driver.through_session_one(PEOPLE[:4], [True, False, True, True])
    runner.catch_up(max_batches=1)
    driver.through_analysis(PEOPLE[:4])
    runner.catch_up()
    full_team(app, clock, "c-full", theme="falls")
    driver.through_follow_up(due=clock().date())


def test_incremental_processing_equals_a_rebuild_from_scratch(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    # A tiny cache makes the runner reload folds from the views between batches.
    runner = ProjectionRunner(app, views, batch_size=5, cache_size=2)
    _teams_while_projecting(app, clock, runner)
    runner.catch_up()
    incremental = snapshot(views)

    ProjectionRunner(app, views, batch_size=1000).rebuild()

    assert snapshot(views) == incremental
    assert assert_counts_match_log(app, views) == max_id(app)


def test_a_crash_mid_batch_leaves_nothing_half_written_and_a_restart_catches_up(
    app: LearningTeams, views: ViewStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed_teams(app, clock)
    total = max_id(app)
    insert, calls = Tx.insert, 0

    def insert_then_crash(self: Tx, *args: Any) -> None:
        nonlocal calls
        insert(self, *args)
        calls += 1
        if calls == 3 * len(PROJECTIONS) + 2:  # two tables into the fourth batch
            raise Boom

    monkeypatch.setattr(Tx, "insert", insert_then_crash)
    with pytest.raises(Boom):
        ProjectionRunner(app, views, batch_size=10).catch_up()
    monkeypatch.undo()

    positions = {t.position for t in ProjectionRunner(app, views).positions().values()}
    assert positions == {30}
    # The views hold exactly the 30 events the position says: the 4th batch left no trace.
    assert _team_events_in_views(views, app) == 30

    restarted = ProjectionRunner(app, views, batch_size=10)
    assert restarted.catch_up() == total - 30
    after_restart = snapshot(views)
    ProjectionRunner(app, views).rebuild()
    assert snapshot(views) == after_restart
    assert assert_counts_match_log(app, views) == total


@pytest.mark.parametrize("pause_after", [2])
def test_a_runner_process_killed_inside_a_batch_restarts_to_the_rebuilt_views(
    app: LearningTeams, views: ViewStore, settings: Settings, clock: Clock, pause_after: int
) -> None:
    mixed_teams(app, clock)
    total = max_id(app)
    _kill_inside_a_batch(settings, batch_size=10, pause_after=pause_after)

    runner = ProjectionRunner(app, views, batch_size=10)
    assert {t.position for t in runner.positions().values()} == {pause_after * 10}
    assert _team_events_in_views(views, app) == pause_after * 10
    assert runner.catch_up() == total - pause_after * 10
    after_restart = snapshot(views)
    runner.rebuild()
    assert snapshot(views) == after_restart
    assert assert_counts_match_log(app, views) == total


def test_a_runner_killed_inside_the_batch_that_quarantines_a_team_restarts_exactly_once(
    app: LearningTeams,
    views: ViewStore,
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = STEPS["participant.invited"]
    monkeypatch.setitem(STEPS, "participant.invited", broken_invitation(real))
    poisoned = TeamDriver(app, clock, "case-poisoned")
    team_id = poisoned.convene()
    while max_id(app) < 22:  # teams of two events each (convened, phase entered)
        TeamDriver(app, clock, f"case-before-{max_id(app)}").convene()
    assert max_id(app) == 22
    # Notification 23, in the third batch of ten: the one the runner process is killed in.
    poisoned.send("participant.invited", participant_id=POISON, role="staff", display_name=SECRET)
    mixed_teams(app, clock)
    total = max_id(app)

    _kill_inside_a_batch(settings, batch_size=10, pause_after=2, poison=True)

    runner = ProjectionRunner(app, views, batch_size=10)
    assert {t.position for t in runner.positions().values()} == {20}
    assert runner.quarantined() == []  # the record went with the batch it was written in
    assert runner.catch_up() == total - 20 - 1  # everything but the poison event
    [held] = runner.quarantined()
    assert (held.team_id, held.notification_id, held.skipped) == (team_id, 23, 0)
    after_restart = snapshot(views)
    runner.rebuild()
    assert snapshot(views) == after_restart
    assert [q.notification_id for q in runner.quarantined()] == [23]

    monkeypatch.undo()
    assert runner.retry() == {team_id: None}
    assert assert_counts_match_log(app, views) == total
    retried = snapshot(views)
    ProjectionRunner(app, views).rebuild()
    assert snapshot(views) == retried


def test_a_notification_another_runner_already_applied_is_skipped(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    mixed_teams(app, clock)
    total = max_id(app)
    fast = ProjectionRunner(app, views, batch_size=1000)
    slow = ProjectionRunner(app, views, batch_size=1000)
    slow.prepare()
    read = slow.log.read

    def read_then_lose_the_race(after: int, limit: int) -> Any:
        batch = read(after, limit)
        fast.catch_up()  # commits the very same notifications first
        return batch

    slow.log.read = read_then_lose_the_race  # type: ignore[method-assign]
    assert slow.catch_up() == 0
    assert assert_counts_match_log(app, views) == total
    assert {t.position for t in slow.positions().values()} == {total}


def _kill_inside_a_batch(settings: Settings, **spec: Any) -> None:
    """Run :mod:`tests.projections.crash_runner` until it is inside a batch, and SIGKILL it."""
    spec |= {
        "data_dir": str(settings.data_dir),
        "event_store": settings.event_store,
        "env": dict(settings.event_store_env),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.projections.crash_runner", json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_line(child, MARKER, timeout=30)
    finally:
        child.kill()
        child.wait(timeout=10)


def _team_events_in_views(views: ViewStore, app: LearningTeams) -> int:
    """How many events the stored team folds account for (the sum of their versions)."""
    seen = 0
    for notification in EventLog(app).recorder.select_notifications(0, 10**6):
        if notification.originator_version > 1:
            continue
        view = get_team_detail(views, UUID(str(notification.originator_id)))
        seen += 0 if view is None else view.version
    return seen


def _wait_for_line(child: subprocess.Popen[str], expected: str, timeout: float) -> None:
    assert child.stdout is not None
    while True:
        ready, _, _ = select.select([child.stdout], [], [], timeout)
        line = child.stdout.readline() if ready else ""
        if line.strip() == expected:
            return
        if not line:
            stderr = child.stderr.read() if child.stderr and child.poll() is not None else ""
            pytest.fail(f"the runner process never paused inside a batch: {stderr}")
