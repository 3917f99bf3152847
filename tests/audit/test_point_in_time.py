"""The case as it stood then: by version, by recorded time (the default), by business time."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from ltflow.aggregates.state import Phase, Status
from ltflow.api.errors import status_for
from ltflow.audit import Audit
from ltflow.audit.point_in_time import AuditQueryError, as_of, team_events
from ltflow.eventstore.application import LearningTeams
from ltflow.projections.team_detail import fold_team_detail
from tests.audit.conftest import AUDITOR, sqlite_only


def test_the_case_at_a_version_is_the_fold_of_its_first_events(
    audit: Audit, app: LearningTeams, case: UUID
) -> None:
    for version in (1, 20, 44):
        answer = audit.state(case, AUDITOR, version=version)
        assert (answer.version, answer.events, answer.latest_version) == (version, version, 44)
        assert answer.detail.phase == app.state(case, version).phase
        expected = fold_team_detail(list(app.events.get(case))[:version])
        assert answer.detail == expected
    closed = audit.state(case, AUDITOR, version=44).detail
    assert closed.status is Status.CLOSED
    assert len(closed.stories) == 2


@sqlite_only
def test_the_case_at_a_moment_is_what_had_been_recorded_by_then(
    audit: Audit, app: LearningTeams, case: UUID
) -> None:
    facts = app.history(case)
    moment = facts[19].recorded_at
    expected = max(f.version for f in facts if f.recorded_at <= moment)
    answer = audit.state(case, AUDITOR, at=moment)
    assert answer.by == "recorded"
    assert answer.version == expected >= 20
    assert answer.recorded_at <= moment
    with pytest.raises(AuditQueryError, match="did not exist yet"):
        audit.state(case, AUDITOR, at=facts[0].recorded_at - timedelta(seconds=1))


@sqlite_only
def test_the_case_at_a_business_moment_folds_what_had_happened_by_then(
    audit: Audit, app: LearningTeams, case: UUID
) -> None:
    facts = app.history(case)
    session_1 = next(f for f in facts if f.type == "session.completed")
    answer = audit.state(case, AUDITOR, at=session_1.occurred_at, by="occurred")
    assert answer.version == 18  # session 1 completed, phase 3 entered, reflection opened
    assert answer.detail.phase is Phase.PROCESSING_TIME
    assert answer.detail.reflection is not None


@sqlite_only
def test_questions_that_cannot_be_answered_are_refused_clearly(
    audit: Audit, app: LearningTeams, case: UUID
) -> None:
    with pytest.raises(AuditQueryError, match="versions 1 to 44") as raised:
        audit.state(case, AUDITOR, version=45)
    assert raised.value.code == "invalid_query"
    assert status_for(raised.value) == 422
    events = team_events(app, case)
    with pytest.raises(AuditQueryError, match="one of them"):
        as_of(events)
    with pytest.raises(AuditQueryError):
        as_of(events, version=0)
