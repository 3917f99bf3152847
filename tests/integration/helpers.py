"""Drive the narrative case through the application, the way the activities will."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from ltflow.aggregates.vocabulary import parse_convene, parse_sender_event
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams, RecordResult
from tests.conftest import Clock

FAST_POLICY = {"min_reflection": "P1D", "max_reflection": "P14D"}


def open_team(app: LearningTeams, clock: Clock, case_ref: str = narrative.CASE_REF) -> UUID:
    result = app.convene(
        parse_convene(narrative.convene(case_ref=case_ref)), actor="fac-ingrid", received_at=clock()
    )
    return result.summary.team_id


def run_steps(
    app: LearningTeams,
    clock: Clock,
    team_id: UUID,
    steps: list[narrative.Step],
    actor: str = "fac-ingrid",
) -> list[RecordResult]:
    results = []
    for step in steps:
        clock.advance(seconds=step.after.total_seconds())
        cmd = parse_sender_event(step.event)
        results.append(app.record(team_id, cmd, actor=actor, received_at=clock()))
    return results


def run_narrative(app: LearningTeams, clock: Clock) -> tuple[UUID, list[RecordResult]]:
    start: datetime = clock()
    team_id = open_team(app, clock)
    return team_id, run_steps(app, clock, team_id, narrative.steps(start))


def steps_until(start: datetime, event_id: str) -> list[narrative.Step]:
    """The narrative's steps up to and including the one with ``event_id``."""
    out = []
    for step in narrative.steps(start):
        out.append(step)
        if step.event["event_id"] == event_id:
            return out
    raise KeyError(event_id)


ONE_DAY = timedelta(days=1)
