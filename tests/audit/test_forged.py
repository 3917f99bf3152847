"""A row no ltflow process wrote never verifies, on every store (issue 15): the copied-event attack.

An attacker with write access to the event store copies a stored event's row, bytes and all, as
a new version of the same team or of another one. Before issue 15 the next anchoring run chained
the copy as if ltflow had written it, and ``verify --all`` said OK.
"""

from __future__ import annotations

import dataclasses
import json
from uuid import UUID

import pytest

from ltflow.audit import Audit
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.keyring import new_key
from tests.audit.conftest import AUDITOR
from tests.audit.tamper import Tamper
from tests.audit.test_cli import run
from tests.conftest import Clock
from tests.integration.helpers import open_team


def _copy(tamper: Tamper, source: UUID, version: int, target: UUID, new_version: int) -> None:
    topic, state = tamper.row(source, version)
    tamper.run(
        f"INSERT INTO {tamper.events_table} (originator_id, originator_version, topic, state) "
        "VALUES (?, ?, ?, ?)",
        (tamper.key(target), new_version, topic, state),
    )


def _forged(audit: Audit, team: UUID | None) -> set[tuple[str | None, int | None]]:
    report = audit.verify(team, AUDITOR, read_model=False)
    assert not report.ok
    return {(f.team_id, f.version) for f in report.findings if f.kind == "forged"}


def test_a_copy_within_the_same_team_is_forged_and_never_anchored(
    audit: Audit, anchored_case: UUID, tamper: Tamper
) -> None:
    _copy(tamper, anchored_case, 5, anchored_case, 45)
    assert _forged(audit, None) == {(str(anchored_case), 45)}  # verify anchors first
    assert _forged(audit, anchored_case) == {(str(anchored_case), 45)}
    report = audit.verify(anchored_case, AUDITOR, read_model=False)
    assert (report.events, report.anchored) == (45, 44)  # the copy was never chained


def test_a_copy_into_another_team_is_forged(
    audit: Audit, app: LearningTeams, clock: Clock, anchored_case: UUID, tamper: Tamper
) -> None:
    other = open_team(app, clock, "VIM-2026-0999")  # versions 1-2
    audit.anchor()
    _copy(tamper, anchored_case, 7, other, 3)
    assert _forged(audit, None) == {(str(other), 3)}
    assert _forged(audit, other) == {(str(other), 3)}


def test_a_clean_store_verifies_with_the_macs_checked(audit: Audit, anchored_case: UUID) -> None:
    report = audit.verify(None, AUDITOR)
    assert report.ok, report.findings
    assert "writer's MACs" in report.checks


def test_a_row_without_a_mac_is_accepted_only_by_adopt(
    settings: Settings,
    audit: Audit,
    anchored_case: UUID,
    tamper: Tamper,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A store from before the MACs: its rows have none (here: one removed), and count as
    forged until ``ltflow audit adopt --before <position>`` accepts them, once, explicitly."""
    tamper.run(
        f"DELETE FROM {tamper.audit_table('ltflow_event_macs')} WHERE originator_version = 3"
    )
    assert _forged(audit, None) == {(str(anchored_case), 3)}
    assert run(settings, "adopt", "--before", "3") == 0  # position 3 is not below 3
    assert "adopted 0 rows" in capsys.readouterr().out
    assert run(settings, "adopt", "--before", "1000", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"adopted": 1, "before": 1000}
    assert audit.verify(None, AUDITOR).ok
    entries = [e for e in audit.access_log(AUDITOR) if e.action == "adopt"]
    assert [e.detail["adopted"] for e in entries] == [0, 1]


def test_a_copied_encrypted_event_is_forged_too(settings: Settings, clock: Clock) -> None:
    """Under encryption at rest the copy decrypts fine (same key): only the MAC tells."""
    encrypted = dataclasses.replace(settings, event_keys=new_key())
    app = LearningTeams.from_settings(encrypted)
    audit = Audit.from_settings(encrypted, app)
    attacker = Tamper(encrypted, app.recorder.events_table_name)  # type: ignore[attr-defined]
    try:
        team, other = open_team(app, clock), open_team(app, clock, "VIM-2026-0999")
        assert audit.verify(None, AUDITOR).ok
        _copy(attacker, team, 2, team, 3)
        _copy(attacker, team, 1, other, 3)
        assert _forged(audit, None) == {(str(team), 3), (str(other), 3)}
    finally:
        attacker.close()
        audit.close()
        app.close()
