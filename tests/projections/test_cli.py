"""``ltflow projections run | rebuild | status`` as an operator calls them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.projections import team_fold
from ltflow.projections.cli import add_parser
from ltflow.projections.registry import PROJECTION_NAMES
from tests.conftest import Clock
from tests.projections.helpers import POISON, SECRET, broken_invitation, max_id
from tests.projections.scenario import TeamDriver, mixed_teams


def ltflow(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ltflow")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["projections", *argv])
    code: int = args.handler(args, settings)
    return code


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_status_run_and_rebuild_from_the_command_line(
    app: LearningTeams, settings: Settings, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed_teams(app, clock)
    total = max_id(app)

    assert ltflow(settings, "status") == 0
    assert "not built yet" in capsys.readouterr().out
    assert ltflow(settings, "status", "--check") == 1
    capsys.readouterr()

    assert ltflow(settings, "run", "--once", "--json", "--batch-size", "10") == 0
    [*_, caught_up] = json_lines(capsys.readouterr().out)
    assert caught_up == {"event": "caught_up", "applied": total, "position": total}

    assert ltflow(settings, "status", "--json", "--check") == 0
    [report] = json_lines(capsys.readouterr().out)
    assert report["max_notification_id"] == total
    assert [(p["name"], p["behind"]) for p in report["projections"]] == [
        (name, 0) for name in PROJECTION_NAMES
    ]

    assert ltflow(settings, "rebuild", "team_overview", "--json") == 0
    assert json_lines(capsys.readouterr().out)[-1]["projections"] == ["team_overview"]
    assert ltflow(settings, "rebuild", "--all") == 0
    assert "rebuilt team_detail" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["rebuild"], ["rebuild", "nope"], ["rebuild", "--all", "deadlines"]]
)
def test_a_rebuild_without_a_clear_target_is_a_usage_error(
    settings: Settings, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ltflow(settings, *argv) == 2
    assert "known: team_detail" in capsys.readouterr().err


def test_a_store_that_cannot_be_opened_fails_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    assert ltflow(Settings(data_dir=not_a_dir), "status") == 1
    assert "ltflow projections:" in capsys.readouterr().err


def test_status_lists_quarantined_teams_and_retry_folds_them_again_after_the_fix(
    app: LearningTeams,
    settings: Settings,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = team_fold.STEPS["participant.invited"]
    monkeypatch.setitem(team_fold.STEPS, "participant.invited", broken_invitation(real))
    mixed_teams(app, clock)
    driver = TeamDriver(app, clock, "case-poisoned")
    team_id = str(driver.convene())
    driver.send("participant.invited", participant_id=POISON, role="staff", display_name=SECRET)
    assert ltflow(settings, "run", "--once") == 0  # the read side carries on
    capsys.readouterr()

    assert ltflow(settings, "status", "--check") == 1
    text = capsys.readouterr().out
    assert "quarantined: 1 team(s)" in text
    assert f"{team_id}  team_detail failed on participant.invited v3" in text
    assert "ValueError: cannot fold the invitation of '…'" in text
    assert ltflow(settings, "status", "--json") == 0
    [report] = json_lines(capsys.readouterr().out)
    [held] = report["quarantined"]
    assert (held["team_id"], held["version"], held["error_class"]) == (team_id, 3, "ValueError")
    assert {p["behind"] for p in report["projections"]} == {0}

    assert ltflow(settings, "retry", "--json") == 1  # not fixed yet
    [still] = json_lines(capsys.readouterr().out)
    assert (still["event"], still["team_id"], still["notification_id"]) == (
        "held",
        team_id,
        max_id(app),
    )
    monkeypatch.undo()  # the fix
    assert ltflow(settings, "retry", team_id) == 0
    assert f"team {team_id}: folded again, its views are current" in capsys.readouterr().out
    assert ltflow(settings, "status", "--check") == 0
    assert "quarantined" not in capsys.readouterr().out
    assert ltflow(settings, "retry") == 0
    assert "no such team is quarantined" in capsys.readouterr().out
    assert SECRET not in text + json.dumps(report)
