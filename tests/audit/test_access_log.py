"""The access log records every audit read (who, when, which case, for whom, how), is
append-only, and its own chain (and the anchors) reveal any edit."""

from __future__ import annotations

import io
import itertools
import uuid
from uuid import UUID

import pytest

from ltflow.aggregates.errors import TeamNotFoundError
from ltflow.audit import Accessor, Audit
from ltflow.audit.access_log import entries
from tests.audit.conftest import AUDITOR
from tests.audit.tamper import Tamper

WEB = Accessor(actor="quality-officer", on_behalf_of="board", channel="http", reason="annual")


def test_every_read_is_recorded_with_who_when_what_and_for_whom(audit: Audit, case: UUID) -> None:
    audit.history(case, AUDITOR)
    audit.state(case, WEB, version=10)
    audit.verify(case, AUDITOR, read_model=False)
    audit.verify(None, WEB)
    audit.export(case, AUDITOR, io.StringIO())
    audit.access_log(WEB, case)
    log = entries(audit.store)
    assert [e.action for e in log] == ["history", "state", "verify", "verify", "export",
                                       "access_log"]  # fmt: skip
    assert [e.team_id for e in log] == [str(case)] * 3 + [None] + [str(case)] * 2
    assert all(e.detail["outcome"] == "ok" for e in log)
    state = log[1]
    assert (state.actor, state.on_behalf_of, state.channel) == ("quality-officer", "board", "http")
    assert state.detail == {"version": 10, "by": "recorded", "as_of_version": 10,
                            "outcome": "ok", "reason": "annual"}  # fmt: skip
    assert log[0].detail["events"] == 44
    assert log[2].detail["ok"] is True
    assert [e.seq for e in log] == [1, 2, 3, 4, 5, 6]
    assert all(later.prev == earlier.digest for earlier, later in itertools.pairwise(log))


def test_a_read_that_fails_is_recorded_too(audit: Audit) -> None:
    nobody = uuid.uuid4()
    with pytest.raises(TeamNotFoundError):
        audit.history(nobody, AUDITOR)
    with pytest.raises(TeamNotFoundError):
        audit.verify(nobody, AUDITOR)
    log = entries(audit.store)
    assert [(e.action, e.team_id, e.detail["outcome"]) for e in log] == [
        ("history", str(nobody), "team_not_found"),
        ("verify", str(nobody), "team_not_found"),
    ]


def test_the_log_refuses_updates_and_deletes(audit: Audit, case: UUID, tamper: Tamper) -> None:
    audit.history(case, AUDITOR)
    table = tamper.audit_table("lta_access")
    for sql in (f"UPDATE {table} SET actor = 'nobody'", f"DELETE FROM {table}"):
        with pytest.raises(Exception, match="append-only"):
            tamper.run(sql, audit=True)
    assert [e.actor for e in entries(audit.store)] == ["auditor-1"]


def test_an_edited_or_removed_entry_breaks_the_chain(
    audit: Audit, case: UUID, tamper: Tamper
) -> None:
    for _ in range(3):
        audit.history(case, AUDITOR)
    tamper.drop_triggers()
    table = tamper.audit_table("lta_access")
    tamper.run(f"UPDATE {table} SET actor = 'someone-else' WHERE seq = 2", audit=True)
    report = audit.verify(None, WEB)
    assert ("access_log_altered", 2) in {(f.kind, f.seq) for f in report.findings}
    tamper.run(f"DELETE FROM {table} WHERE seq = 2", audit=True)
    report = audit.verify(None, WEB)
    assert any(f.kind == "access_log_altered" and "gone" in f.message for f in report.findings)


def test_cutting_the_log_short_is_caught_by_the_anchor(
    audit: Audit, case: UUID, tamper: Tamper
) -> None:
    audit.history(case, AUDITOR)
    audit.history(case, AUDITOR)
    audit.anchor()  # the anchor records the log's head (entry 2)
    tamper.drop_triggers()
    tamper.run(f"DELETE FROM {tamper.audit_table('lta_access')} WHERE seq = 2", audit=True)
    report = audit.verify(case, WEB, read_model=False)
    assert any(f.kind == "access_log_altered" and "cut short" in f.message for f in report.findings)
