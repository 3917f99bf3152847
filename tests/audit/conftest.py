"""Fixtures for the audit tests: the audit trail beside the application, a narrated case, and
an attacker's raw access to both stores. The Temporal fixtures come from the workflow tests."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest

from ltflow.audit import Accessor, Audit
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from tests.audit.tamper import Tamper
from tests.conftest import Clock
from tests.integration.helpers import run_narrative
from tests.workflows.conftest import stack_factory, time_env, ts_stack

__all__ = ["stack_factory", "time_env", "ts_stack"]

AUDITOR = Accessor(actor="auditor-1", on_behalf_of="inspectorate", channel="cli")
#: For tests of logic that does not touch the backend (the fold, the file, the screen): the
#: backend-specific paths are covered by their neighbours on both backends.
sqlite_only = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@pytest.fixture
def audit(app: LearningTeams, settings: Settings) -> Iterator[Audit]:
    trail = Audit.from_settings(settings, app)
    yield trail
    trail.close()


@pytest.fixture
def case(app: LearningTeams, clock: Clock) -> UUID:
    """The narrative's case (44 stored events), stored but not yet anchored."""
    team_id, _ = run_narrative(app, clock)
    return team_id


@pytest.fixture
def anchored_case(audit: Audit, case: UUID) -> UUID:
    audit.anchor()
    return case


@pytest.fixture
def tamper(settings: Settings, app: LearningTeams) -> Iterator[Tamper]:
    attacker = Tamper(settings, app.recorder.events_table_name)  # type: ignore[attr-defined]
    yield attacker
    attacker.close()
