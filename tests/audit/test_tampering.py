"""Each kind of tampering with the stored events is detected, named, and placed, on every
backend, by the one-team check and by the whole-store sweep alike."""

from __future__ import annotations

from uuid import UUID

from ltflow.audit import Audit
from ltflow.audit.findings import Finding
from ltflow.audit.verify import AnchorRef, VerifyReport
from ltflow.eventstore.application import LearningTeams
from tests.audit.conftest import AUDITOR
from tests.audit.tamper import Tamper
from tests.conftest import Clock
from tests.integration.helpers import open_team


def kinds(report: VerifyReport) -> set[tuple[str, int | None]]:
    return {(f.kind, f.version) for f in report.findings if f.failure}


def both(audit: Audit, team: UUID) -> tuple[VerifyReport, VerifyReport]:
    """The one-team verdict and the whole-store verdict; they must agree on the team."""
    one = audit.verify(team, AUDITOR, read_model=False)
    whole = audit.verify(None, AUDITOR)
    assert kinds(one) == kinds(whole), (one.findings, whole.findings)
    return one, whole


def only(report: VerifyReport) -> Finding:
    failures = [f for f in report.findings if f.failure]
    assert len(failures) == 1, failures
    return failures[0]


def test_an_untouched_history_verifies(audit: Audit, anchored_case: UUID) -> None:
    one, whole = both(audit, anchored_case)
    assert one.ok
    assert whole.ok
    assert one.events == one.anchored == 44
    assert whole.teams == 1
    assert whole.events == 44
    assert one.anchor
    assert whole.anchor
    assert one.anchor != whole.anchor


def test_a_changed_byte_is_detected_at_its_version(
    audit: Audit, anchored_case: UUID, tamper: Tamper
) -> None:
    tamper.flip(anchored_case, 12, index=40)
    one, _ = both(audit, anchored_case)
    finding = only(one)
    assert (finding.kind, finding.version) == ("changed", 12)
    assert "Version 12 changed" in finding.message


def test_swapped_events_are_named_as_a_swap(
    audit: Audit, anchored_case: UUID, tamper: Tamper
) -> None:
    tamper.permute(anchored_case, [5, 6])
    one, _ = both(audit, anchored_case)
    finding = only(one)
    assert (finding.kind, finding.version, finding.other_version) == ("swapped", 5, 6)


def test_reordered_events_say_where_each_came_from(
    audit: Audit, anchored_case: UUID, tamper: Tamper
) -> None:
    tamper.permute(anchored_case, [20, 21, 22])
    one, _ = both(audit, anchored_case)
    moved = {(f.version, f.other_version) for f in one.findings if f.kind == "reordered"}
    assert moved == {(20, 21), (21, 22), (22, 20)}


def test_a_deleted_event_is_detected(audit: Audit, anchored_case: UUID, tamper: Tamper) -> None:
    tamper.delete(anchored_case, 17)
    one, _ = both(audit, anchored_case)
    assert kinds(one) == {("deleted", 17)}


def test_a_cut_off_tail_is_a_truncation(audit: Audit, anchored_case: UUID, tamper: Tamper) -> None:
    tamper.truncate(anchored_case, 40)
    one, _ = both(audit, anchored_case)
    finding = only(one)
    assert (finding.kind, finding.version) == ("truncated", 40)
    assert "40-44" in finding.message


def test_an_inserted_event_is_detected(audit: Audit, anchored_case: UUID, tamper: Tamper) -> None:
    _, forged = tamper.row(anchored_case, 9)
    tamper.insert_at(anchored_case, 9, forged.replace(b"fac-ingrid", b"fac-mallet"))
    one, _ = both(audit, anchored_case)
    assert ("inserted", 9) in kinds(one)
    assert all(k in {"inserted", "reordered"} for k, _ in kinds(one))


def test_a_chain_rewritten_with_its_events_is_caught_by_the_anchor(
    audit: Audit, anchored_case: UUID, tamper: Tamper
) -> None:
    tamper.flip(anchored_case, 30, index=60)
    tamper.rewrite_chain(anchored_case)
    one, _ = both(audit, anchored_case)
    finding = next(f for f in one.findings if f.failure and f.kind != "forged")
    assert finding.kind == "rewritten"
    assert finding.seq == 1
    assert "between versions 1 and 44" in finding.message
    # The writer's MAC names the version (issue 15): the attacker has no MAC key.
    assert kinds(one) == {("rewritten", 44), ("forged", 30)}
    tamper.remac(anchored_case, 30)  # an insider who holds the key: only the anchor is left
    assert only(audit.verify(anchored_case, AUDITOR, read_model=False)).kind == "rewritten"


def test_rewriting_the_whole_audit_store_is_caught_by_a_published_anchor(
    audit: Audit, anchored_case: UUID, tamper: Tamper
) -> None:
    published = AnchorRef.parse(audit.verify(None, AUDITOR).anchor or "")
    tamper.flip(anchored_case, 30, index=60)
    tamper.remac(anchored_case, 30)  # an insider with the MAC key, too
    tamper.rewrite_chain(anchored_case)
    tamper.rewrite_anchors(anchored_case)
    assert audit.verify(anchored_case, AUDITOR, read_model=False).ok  # consistent, but false
    report = audit.verify(anchored_case, AUDITOR, expected=published, read_model=False)
    finding = only(report)
    assert (finding.kind, finding.seq) == ("anchor_mismatch", published.seq)
    assert not audit.verify(None, AUDITOR, expected=published).ok


def test_an_edited_link_in_the_audit_store_is_detected(
    audit: Audit, anchored_case: UUID, tamper: Tamper
) -> None:
    tamper.drop_triggers()
    tamper.run(
        f"UPDATE {tamper.audit_table('lta_links')} SET link = ? WHERE team_id = ? AND version = 7",
        (bytes(32), str(anchored_case)),
        audit=True,
    )
    one, _ = both(audit, anchored_case)
    assert kinds(one) == {("link_altered", 7)}


def test_a_removed_anchor_is_detected(audit: Audit, anchored_case: UUID, tamper: Tamper) -> None:
    audit.history(anchored_case, AUDITOR)
    audit.anchor()  # a second anchor, over the access log's new entry
    tamper.drop_triggers()
    tamper.run(f"DELETE FROM {tamper.audit_table('lta_anchors')} WHERE seq = 1", audit=True)
    report = audit.verify(None, AUDITOR)
    assert "anchor_altered" in {f.kind for f in report.findings}


def test_events_stored_after_the_last_anchor_are_anchored_by_verify(
    audit: Audit, anchored_case: UUID, app: LearningTeams, clock: Clock
) -> None:
    second = open_team(app, clock, case_ref="VIM-2")
    report = audit.verify(None, AUDITOR)
    assert report.ok
    assert report.teams == 2
    assert report.anchored == report.events
    assert audit.verify(second, AUDITOR, read_model=False).ok
