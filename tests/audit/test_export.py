"""Export, then verify offline: a round trip; and every edit of the file is caught."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from uuid import UUID

from ltflow.audit import Audit
from ltflow.audit.export import EXPORT_FORMAT
from ltflow.audit.offline import check_export
from ltflow.audit.verify import VerifyReport
from tests.audit.conftest import AUDITOR, sqlite_only
from tests.audit.tamper import Tamper


def export(audit: Audit, team: UUID) -> list[str]:
    out = io.StringIO()
    audit.export(team, AUDITOR, out)
    return out.getvalue().splitlines(keepends=True)


def records(lines: list[str]) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in lines]


def edited(lines: list[str], index: int, **changes: object) -> list[str]:
    record = json.loads(lines[index])
    record.update(changes)
    return [*lines[:index], json.dumps(record) + "\n", *lines[index + 1 :]]


def failures(lines: list[str]) -> set[str]:
    report = check_export(lines)
    assert not report.ok
    return {f.kind for f in report.findings if f.failure}


def test_an_export_verifies_offline(audit: Audit, case: UUID) -> None:
    lines = export(audit, case)
    recs = records(lines)
    header, trailer = recs[0], recs[-1]
    assert header["format"] == EXPORT_FORMAT
    assert header["team_id"] == str(case)
    assert header["case_ref"] == "VIM-2026-0412"
    assert header["exporter"] == {"actor": "auditor-1", "on_behalf_of": "inspectorate",
                                  "channel": "cli"}  # fmt: skip
    events = [r for r in recs if r["kind"] == "event"]
    assert [e["version"] for e in events] == list(range(1, 45))
    assert events[0]["event"]["type"] == "team.convened"
    assert trailer["verification"]["ok"]
    assert trailer["lines"] == len(lines)
    assert any(r["kind"] == "anchor" and r["head"]["version"] == 44 for r in recs)
    report = check_export(lines)
    assert report.ok, report.findings
    assert report.events == 44
    assert report.head == trailer["head"]["link"]


@sqlite_only
def test_a_changed_byte_in_the_file_is_detected(audit: Audit, case: UUID) -> None:
    lines = export(audit, case)
    state = bytearray(base64.b64decode(json.loads(lines[8])["state"]))
    state[10] ^= 0x20
    tampered = edited(lines, 8, state=base64.b64encode(bytes(state)).decode())
    report = check_export(tampered)
    assert ("changed", 8) in {(f.kind, f.version) for f in report.findings}


@sqlite_only
def test_removed_and_swapped_lines_and_a_missing_trailer_are_detected(
    audit: Audit, case: UUID
) -> None:
    lines = export(audit, case)
    assert "deleted" in failures([*lines[:5], *lines[6:]])
    assert "reordered" in failures([*lines[:5], lines[6], lines[5], *lines[7:]])
    assert failures(lines[:-1]) == {"export_invalid"}
    assert failures(lines[:-3] + lines[-1:]) >= {"export_invalid"}


@sqlite_only
def test_an_edited_readable_part_or_anchor_is_detected(audit: Audit, case: UUID) -> None:
    lines = export(audit, case)
    event = json.loads(lines[1])["event"]
    event["payload"]["title"] = "Nothing happened"
    assert "changed" in failures(edited(lines, 1, event=event))
    anchor_at = next(i for i, line in enumerate(lines) if '"kind":"anchor"' in line)
    assert "anchor_altered" in failures(edited(lines, anchor_at, anchored_at="2020-01-01"))
    assert "export_invalid" in failures(["not json\n"])


def test_an_export_of_a_tampered_store_says_so_and_fails_offline(
    audit: Audit, anchored_case: UUID, tamper: Tamper
) -> None:
    tamper.flip(anchored_case, 3, index=50)
    lines = export(audit, anchored_case)
    trailer = json.loads(lines[-1])
    assert not trailer["verification"]["ok"]
    assert "rewritten" in failures(lines)  # the anchors still hold the anchored head


def test_an_export_written_before_the_anchor_rename_still_verifies() -> None:
    """``data/export-before-anchor-rename.jsonl`` was written by the code of commit 983a812 (one
    event stored after the last anchoring run): its trailer's report has the old ``sealed`` count
    and an ``unsealed`` note. The file verifies as it is, and the report reads back under the new
    names (``docs/contract-as-built.md``), which is how it is written from now on."""
    lines = (Path(__file__).parent / "data" / "export-before-anchor-rename.jsonl").read_text(
        encoding="utf-8"
    )
    report = check_export(lines.splitlines(keepends=True))
    assert report.ok, report.findings
    assert (report.events, report.head) == (5, json.loads(lines.splitlines()[-1])["head"]["link"])
    old = json.loads(lines.splitlines()[-1])["verification"]
    assert (old["sealed"], [f["kind"] for f in old["findings"]]) == (4, ["unsealed"])
    read = VerifyReport.model_validate(old)
    assert (read.anchored, read.checks) == (4, ["stored events", "anchored chain", "anchors"])
    assert [(f.kind, f.version, f.failure) for f in read.findings] == [("unanchored", 5, False)]
    written = read.model_dump(mode="json")
    assert "sealed" not in written
    assert (written["anchored"], written["findings"][0]["kind"]) == (4, "unanchored")


def test_an_export_under_encryption_at_rest_still_verifies(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from ltflow.config import Settings
    from ltflow.eventstore.application import LearningTeams
    from tests.conftest import Clock
    from tests.integration.helpers import run_narrative

    encrypted = Settings(data_dir=tmp_path, encrypt_at_rest=True)
    app = LearningTeams.from_settings(encrypted)
    team, _ = run_narrative(app, Clock(datetime(2026, 3, 2, 9, tzinfo=UTC)))
    audit = Audit.from_settings(encrypted, app)
    try:
        assert b"VIM-2026" not in audit.source.rows([str(team)])[0][3]
        assert audit.verify(team, AUDITOR).ok
        lines = export(audit, team)
        assert json.loads(lines[1])["event"]["payload"]["case_ref"] == "VIM-2026-0412"
        assert check_export(lines).ok
    finally:
        audit.close()
        app.close()
