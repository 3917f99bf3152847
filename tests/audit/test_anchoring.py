"""Anchoring: idempotent, atomic per batch, safe with several anchoring runs at once, and every
anchor chained to the one before it."""

from __future__ import annotations

import threading
import time
from uuid import UUID

import pytest

from ltflow.audit import Audit, anchoring, ledger
from ltflow.audit.anchorer import AnchorService
from ltflow.audit.chain import ZERO
from ltflow.eventstore.application import LearningTeams
from tests.audit.conftest import AUDITOR
from tests.conftest import Clock
from tests.integration.helpers import open_team


def anchors(audit: Audit) -> list[ledger.Anchor]:
    with audit.store.read() as tx:
        return ledger.anchors(tx)


def test_anchoring_twice_anchors_nothing_new(audit: Audit, case: UUID) -> None:
    first = audit.anchor()
    assert first.events == 44
    assert first.teams == {str(case)}
    again = audit.anchor()
    assert again.events == 0
    assert again.anchors == []
    assert len(anchors(audit)) == 1


def test_new_events_get_a_new_anchor_chained_to_the_last(
    audit: Audit, app: LearningTeams, case: UUID, clock: Clock
) -> None:
    audit.anchor()
    team = open_team(app, clock, case_ref="VIM-NEXT")
    result = audit.anchor()
    assert result.events == 2
    assert result.teams == {str(team)}
    first, second = anchors(audit)
    assert (first.prev, second.prev) == (ZERO, first.digest)
    assert second.position > first.position
    assert second.events == 2


def test_a_crash_while_anchoring_leaves_nothing_half_done(
    audit: Audit, case: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = anchoring._insert

    def crash(*args: object) -> None:
        real(*args)  # type: ignore[arg-type]
        raise RuntimeError("power cut")

    monkeypatch.setattr(anchoring, "_insert", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        audit.anchor()
    assert anchors(audit) == []
    monkeypatch.undo()
    assert audit.anchor().events == 44
    assert audit.verify(case, AUDITOR, read_model=False).ok


def test_anchoring_runs_at_once_anchor_each_event_exactly_once(
    audit: Audit, app: LearningTeams, case: UUID, clock: Clock
) -> None:
    results = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(
                anchoring.anchor(audit.source, audit.store, now=audit.clock, batch_size=7)
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for n in range(3):
        open_team(app, clock, case_ref=f"VIM-RACE-{n}")
    for thread in threads:
        thread.join()
    assert errors == []
    audit.anchor()
    report = audit.verify(None, AUDITOR)
    assert report.ok
    assert report.anchored == report.events == 44 + 3 * 2


def test_the_anchor_service_anchors_in_the_background(
    audit: Audit, app: LearningTeams, case: UUID, clock: Clock
) -> None:
    service = AnchorService(audit, interval=0.05).start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not anchors(audit):
            time.sleep(0.02)
        open_team(app, clock, case_ref="VIM-LIVE")
        service.wake()
        while time.monotonic() < deadline and sum(a.events for a in anchors(audit)) < 46:
            time.sleep(0.02)
    finally:
        service.stop()
    assert service.error is None
    assert sum(a.events for a in anchors(audit)) == 46
