"""The view store itself: after an erasure and a rebuild, ``purge`` leaves the views as they
were (and on PostgreSQL the pool's connections as they were)."""

from __future__ import annotations

from ltflow.eventstore.application import LearningTeams
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import PostgresViewStore, ViewStore
from tests.conftest import Clock
from tests.integration.helpers import run_narrative
from tests.projections.helpers import snapshot


def test_purge_keeps_every_view_row(app: LearningTeams, views: ViewStore, clock: Clock) -> None:
    run_narrative(app, clock)
    runner = ProjectionRunner(app, views)
    runner.catch_up()
    runner.rebuild(["team_detail"])
    before = snapshot(views)
    views.purge()
    assert snapshot(views) == before
    if isinstance(views, PostgresViewStore):
        # VACUUM runs outside a transaction: the connection goes back to the pool in
        # autocommit mode, as the pool handed it out (every pooled connection, in turn).
        for _ in range(views.datastore.pool.max_size + 1):
            with views.datastore.get_connection() as conn:
                assert conn.autocommit
