"""A team stored before the bounds existed, however absurd its policy, stops nothing.

The bounds judge new input only. Such a team's events still load, its follow-up starts (before
the fix: an ``OverflowError`` the store step retried forever), and the read models of every team,
its own included, keep up with the store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from ltflow.aggregates import bounds
from ltflow.aggregates import vocabulary as c
from ltflow.eventstore.application import LearningTeams
from ltflow.projections import deadlines, team_detail
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from ltflow.workflows.timers import next_due
from tests.conftest import Clock
from tests.projections.scenario import PEOPLE, TeamDriver

POISON = {"follow_up_for": "P999999999D", "review_every": "PT0.000001S"}


class StoredDriver(TeamDriver):
    """Opens its team the way an older ltflow stored it: the policy was never bounded."""

    policy: dict[str, str] = POISON

    def convene(self, *, theme: str | None = "falls", trigger: str = "incident") -> UUID:
        body: dict[str, Any] = {
            "event_id": "team.convened",
            "case_ref": self.case_ref,
            "title": "Night handovers on ward 3",
            "trigger": trigger,
            "theme": theme,
            "goal": "Understand how the night shift really works",
            "scope": "Ward 3, nights, last quarter",
            "facilitator": "fac-fiona",
            "policy": self.policy,
        }
        old = c.TeamConvened.model_validate(body, context=bounds.STORED)
        self.team_id = self.app.convene(old, actor="f", received_at=self.clock()).summary.team_id
        return self.team_id


def test_a_stored_poison_policy_stops_no_read_model(app: LearningTeams, settings: Any) -> None:
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    poisoned = StoredDriver(app, clock, "case-poison")
    poisoned.convene()
    poisoned.through_session_one(PEOPLE[:3], [True, True, True])
    poisoned.through_analysis(PEOPLE[:3])
    poisoned.through_follow_up(due=date(2026, 4, 1))
    healthy = TeamDriver(app, clock, "case-healthy")
    healthy.convene()
    assert poisoned.team_id is not None
    assert healthy.team_id is not None

    state = app.state(poisoned.team_id)
    assert state.follow_up_ends_at == bounds.FAR_FUTURE
    due = next_due(state)
    assert due is not None
    assert due.command.type == "review.due"
    assert state.follow_up_started_at is not None
    assert due.at == state.follow_up_started_at + bounds.MIN_POLICY_FLOOR

    with ViewStore.from_settings(settings) as store:
        ProjectionRunner(app, store).catch_up()
        view = team_detail.get_team_detail(store, poisoned.team_id)
        assert view is not None
        assert view.follow_up is not None
        assert view.follow_up.ends_at == bounds.FAR_FUTURE
        assert [d.kind for d in deadlines.pending_deadlines(view)] == [
            "review.due",
            "follow_up.ends",
        ]
        assert team_detail.get_team_detail(store, healthy.team_id) is not None
