"""A lost, replaced, reset or older audit store fails verification loudly, never "OK" (issue 15).

The event store remembers the audit store it was anchored in (:mod:`ltflow.audit.mark`), so an
empty ``audit.sqlite3`` or truncated ``lta_*`` tables no longer pass for a fresh install, and
anchoring refuses to chain everything again into them.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import closing
from pathlib import Path
from uuid import UUID

import pytest
import structlog

from ltflow.audit import Audit
from ltflow.audit.anchorer import AnchorService
from ltflow.audit.store import AUDIT_FILE, TABLES, SQLiteAuditStore
from ltflow.audit.verify import verify_store
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from tests.audit.conftest import AUDITOR, sqlite_only
from tests.audit.tamper import Tamper
from tests.audit.test_cli import run
from tests.conftest import Clock
from tests.integration.helpers import open_team

LOST = "events were never anchored in this audit store; the audit store was replaced or lost"


def _remove_sqlite_store(settings: Settings) -> Path:
    path = settings.data_dir / AUDIT_FILE
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def _lose(settings: Settings, how: str) -> None:
    """Lose the audit store: delete it (SQLite: the file; PostgreSQL: drop the tables) or
    replace it with an empty one (SQLite: a new file; PostgreSQL: truncate the tables)."""
    if settings.event_store == "sqlite":
        path = _remove_sqlite_store(settings)
        if how == "empty":
            with SQLiteAuditStore(path) as store, store.write("x") as tx:
                tx.execute("SELECT 1")  # a store with its tables and nothing in them
        return
    attacker = Tamper(settings, "stored_events")
    try:
        for table in TABLES:
            qualified = attacker.audit_table(table)
            if how == "empty":
                attacker.drop_triggers()
                attacker.run(f"TRUNCATE {qualified}", audit=True)
            else:
                attacker.run(f"DROP TABLE {qualified} CASCADE", audit=True)
    finally:
        attacker.close()


@pytest.mark.parametrize("how", ["deleted", "empty"])
def test_a_lost_audit_store_fails_verify_all_with_a_sentence(
    settings: Settings, case: UUID, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "verify", "--all") == 0  # anchors the case, and logs one read
    assert run(settings, "verify", "--all") == 0  # a second read: the anchor records it
    capsys.readouterr()
    _lose(settings, how)
    assert run(settings, "verify", "--all") == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED")
    assert f"44 {LOST}" in out
    assert "The access log was reset" in out
    # Not once: anchoring refused to chain the events again into the new store.
    assert run(settings, "verify", "--all", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert "audit_store_lost" in {f["kind"] for f in report["findings"]}
    assert report["anchored"] == 0
    assert run(settings, "anchor") == 1  # the command line says why (AuditStoreLost)


def test_the_api_verify_of_one_team_fails_too(
    settings: Settings, app: LearningTeams, case: UUID
) -> None:
    with _audit(settings, app) as audit:
        audit.anchor()
    _lose(settings, "empty")
    with _audit(settings, app) as audit:
        report = audit.verify(case, AUDITOR, read_model=False)
        assert not report.ok
        assert any(f.kind == "audit_store_lost" and LOST in f.message for f in report.findings)
        from ltflow.audit.mark import AuditStoreLost  # here: the tests ran on the code before it

        with pytest.raises(AuditStoreLost):
            audit.anchor()


@sqlite_only
def test_an_older_copy_of_the_audit_store_is_younger_than_the_events(
    settings: Settings, app: LearningTeams, clock: Clock, case: UUID
) -> None:
    path = settings.data_dir / AUDIT_FILE
    with _audit(settings, app) as audit:
        audit.anchor()
    shutil.copy(path, settings.data_dir / "old.sqlite3")
    open_team(app, clock, "VIM-2026-0999")
    with _audit(settings, app) as audit:
        audit.anchor()
    _remove_sqlite_store(settings)
    shutil.copy(settings.data_dir / "old.sqlite3", path)
    with _audit(settings, app) as audit:
        report = audit.verify(None, AUDITOR)
    lost = [f for f in report.findings if f.kind == "audit_store_lost"]
    assert not report.ok
    assert lost
    assert "2 events were never anchored" in lost[0].message
    assert "younger than the events" in lost[0].message


def test_a_fresh_install_and_events_newer_than_the_last_anchor_still_verify(
    settings: Settings, app: LearningTeams, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "verify", "--all") == 0  # nothing stored, nothing anchored: OK
    open_team(app, clock)
    with _audit(settings, app) as audit:
        audit.anchor()
        open_team(app, clock, "VIM-2026-0999")  # stored after the last anchor
        report = verify_store(audit.source, audit.store)
    assert report.ok, report.findings
    assert [f.kind for f in report.findings] == ["unanchored"]


def _audit(settings: Settings, app: LearningTeams) -> closing[Audit]:
    return closing(Audit.from_settings(settings, app))


def test_rewritten_anchors_disagree_with_the_event_stores_note(
    settings: Settings, app: LearningTeams, case: UUID
) -> None:
    with _audit(settings, app) as audit:
        audit.anchor()
        attacker = Tamper(settings, app.recorder.events_table_name)  # type: ignore[attr-defined]
        try:
            attacker.flip(case, 30, index=60)
            attacker.rewrite_chain(case)
            attacker.rewrite_anchors(case, note=False)  # the note names the old anchor #1
        finally:
            attacker.close()
        report = audit.verify(None, AUDITOR)
    assert not report.ok
    assert "audit_store_lost" in {f.kind for f in report.findings}


@sqlite_only
def test_the_background_anchorer_keeps_refusing_and_keeps_running(
    settings: Settings, app: LearningTeams, case: UUID
) -> None:
    with _audit(settings, app) as audit:
        audit.anchor()
    _lose(settings, "empty")
    with _audit(settings, app) as audit, structlog.testing.capture_logs() as logs:
        service = AnchorService(audit, interval=0.01).start()
        try:
            deadline = time.monotonic() + 5
            while not any(e["event"] == "audit anchoring refused" for e in logs):
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert service.error is None
        finally:
            service.stop()
