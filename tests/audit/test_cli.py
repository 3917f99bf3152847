"""``ltflow audit ...`` the way an auditor types it: tables, ``--json``, exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from uuid import UUID

import pytest
import structlog

from ltflow.aggregates.errors import TeamNotFoundError
from ltflow.audit.cli import add_parser
from ltflow.config import Settings
from tests.audit.conftest import sqlite_only
from tests.audit.tamper import Tamper


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="ltflow")
    add_parser(main.add_subparsers(dest="command", required=True))
    return main


def run(settings: Settings, *argv: str) -> int:
    """One command; logs are kept off standard output (``ltflow`` sends them to stderr)."""
    args = parser().parse_args(["audit", *argv])
    with structlog.testing.capture_logs():
        return int(args.handler(args, settings))


@sqlite_only
def test_history_reads_as_a_table_and_as_json(
    settings: Settings, case: UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "history", "VIM-2026-0412") == 0  # by case_ref
    table = capsys.readouterr().out
    assert "version  occurred_at" in table
    assert "team.convened" in table
    assert "participant_id=p-anna" in table
    assert run(settings, "history", str(case), "--json") == 0
    facts = json.loads(capsys.readouterr().out)
    assert [f["version"] for f in facts] == list(range(1, 45))
    assert {"occurred_at", "recorded_at", "actor", "type", "payload"} <= facts[0].keys()


@sqlite_only
def test_state_at_a_version_and_at_a_time(
    settings: Settings, case: UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "state", str(case), "--version", "20") == 0
    out = capsys.readouterr().out
    assert "version 20 of 44" in out
    assert "phase 3 (processing time)" in out
    assert run(settings, "state", str(case), "--at", "2099-01-01T00:00Z", "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["version"] == 44
    assert answer["detail"]["status"] == "closed"


def test_verify_export_and_verify_the_file(
    settings: Settings, case: UUID, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "verify", str(case)) == 0
    assert capsys.readouterr().out.startswith("OK: team")
    out = tmp_path / "case.jsonl"
    assert run(settings, "export", str(case), "-o", str(out)) == 0
    assert "ltflow audit verify --file" in capsys.readouterr().out
    assert run(settings, "verify", "--file", str(out), "--json") == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    out.write_text(out.read_text().replace('"version":7}', '"version":77}'))
    assert run(settings, "verify", "--file", str(out)) == 1
    assert capsys.readouterr().out.startswith("FAILED: the export")


def test_a_failed_check_exits_1_and_names_the_event(
    settings: Settings, case: UUID, tamper: Tamper, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "anchor") == 0
    tamper.flip(case, 9, index=30)
    assert run(settings, "verify", "--all") == 1
    out = capsys.readouterr().out
    assert "FAILED: the whole store" in out
    assert "Version 9 changed" in out


@sqlite_only
def test_seal_still_anchors_as_a_hidden_deprecated_alias(
    settings: Settings, case: UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scripts and cron jobs written before issue 13 call ``ltflow audit seal``."""
    assert run(settings, "seal", "--json") == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["events"] == 44
    assert "deprecated: use ltflow audit anchor" in out.err
    assert run(settings, "anchor", "--json") == 0  # the same output under the new name
    assert json.loads(capsys.readouterr().out) == {
        "events": 0,
        "teams": 0,
        "anchor": json.loads(out.out)["anchor"],
    }
    assert run(settings, "seal") == 0
    assert capsys.readouterr().out.startswith("anchored 0 events of 0 teams; latest anchor 1:")
    with pytest.raises(SystemExit):
        parser().parse_args(["audit", "--help"])
    listed = capsys.readouterr().out
    assert "anchor newly stored events" in listed
    assert "seal" not in listed


@sqlite_only
def test_the_access_log_shows_who_read_what(
    settings: Settings, case: UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    run(settings, "history", str(case), "--actor", "insp-7", "--on-behalf-of", "IGJ")
    capsys.readouterr()
    assert run(settings, "log", "--json") == 0
    log = json.loads(capsys.readouterr().out)
    assert [(e["actor"], e["on_behalf_of"], e["action"]) for e in log] == [
        ("insp-7", "IGJ", "history"),
    ]


@sqlite_only
def test_usage_errors_exit_2_and_an_unknown_team_is_a_clear_error(settings: Settings) -> None:
    for argv in (["state", "VIM-1"], ["verify"], ["verify", "--anchor", "nonsense", "--all"]):
        with pytest.raises(SystemExit) as raised:
            parser().parse_args(["audit", *argv])
        assert raised.value.code == 2
    with pytest.raises(TeamNotFoundError):
        run(settings, "history", "NO-SUCH-CASE")


def test_the_main_command_line_dispatches_audit_when_wired(
    settings: Settings, case: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ltflow import cli

    if "audit" not in cli.build_parser().format_help():
        pytest.skip("ltflow.cli does not wire `audit` yet (the lead adds add_parser)")
    monkeypatch.setenv("LTFLOW_DATA_DIR", str(settings.data_dir))
    for key, value in settings.eventsourcing_env().items():
        monkeypatch.setenv(key, value)
    if settings.event_store == "postgres":
        monkeypatch.setenv("LTFLOW_EVENT_STORE", "postgres")
    assert cli.main(["audit", "verify", str(case)]) == 0
    assert cli.main(["audit", "history", "NO-SUCH-CASE"]) == 1


def test_a_time_without_a_zone_is_refused_with_a_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ltflow import cli

    assert cli.main(["audit", "state", "CASE-1", "--at", "2026-12-02T10:00"]) == cli.USAGE
    err = capsys.readouterr().err
    assert "'2026-12-02T10:00' has no time zone" in err
    assert "2026-12-02T10:00Z" in err


def test_an_export_that_fails_leaves_no_file_behind(settings: Settings, tmp_path: Path) -> None:
    from ltflow.aggregates.errors import TeamNotFoundError

    where = tmp_path / "exports"
    where.mkdir()
    with pytest.raises(TeamNotFoundError):
        run(settings, "export", "NOPE-1", "-o", str(where / "nope.jsonl"))
    assert list(where.iterdir()) == []  # neither the file nor its partial
