"""The undelivered notifications an operator lists and sends again, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from ltflow.config import Settings
from ltflow.workflows.notifications_cli import add_parser
from ltflow.workflows.payloads import Notification, UndeliveredNotification
from ltflow.workflows.undelivered import UndeliveredLog, retry_pending
from tests.workflows.conftest import RecordingNotifier

T0 = datetime(2026, 3, 16, 9, tzinfo=UTC)


def note(type_: str = "reflection.overdue", at: datetime = T0) -> Notification:
    return Notification(
        team_id=uuid4(), type=type_, occurred_at=at, recipient="fac-ingrid", details={"x": 1}
    )


def ltflow(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ltflow")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["notifications", *argv])
    code: int = args.handler(args, settings)
    return code


class Flaky:
    """Fails the first time it is asked, then delivers."""

    def __init__(self) -> None:
        self.calls = 0

    def notify(self, notification: Notification) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("still down")


def test_recorded_once_listed_oldest_first_and_resent(settings: Settings) -> None:
    first, second = note(), note("review.due", T0 + timedelta(days=1))
    log = UndeliveredLog.from_settings(settings)
    try:
        log.record(UndeliveredNotification(notification=first, error="503"), T0)
        log.record(UndeliveredNotification(notification=first, error="503"), T0)  # a rerun
        log.record(UndeliveredNotification(notification=second, error="timeout"), T0)
        pending = log.pending()
        assert [e.notification for e in pending] == [first, second]
        assert [e.error for e in pending] == ["503", "timeout"]

        assert retry_pending(log, Flaky()) == (1, 1)  # the first fails again, the second goes
        [left] = log.pending()
        assert (left.notification, left.error) == (first, "still down")
        port = RecordingNotifier()
        assert retry_pending(log, port) == (1, 0)
        assert port.sent == [first]
        assert log.pending() == []
    finally:
        log.close()


def test_the_command_line_lists_and_retries(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path)  # type: ignore[arg-type]
    assert ltflow(settings, "undelivered") == 0
    assert "No undelivered notifications." in capsys.readouterr().out
    overdue = note()
    log = UndeliveredLog.from_settings(settings)
    log.record(UndeliveredNotification(notification=overdue, error="webhook answered 503"), T0)
    log.close()

    assert ltflow(settings, "undelivered") == 0
    line = capsys.readouterr().out
    assert f"team {overdue.team_id}  reflection.overdue  for fac-ingrid" in line
    assert "webhook answered 503" in line
    assert ltflow(settings, "undelivered", "--json") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["notification"] == overdue.model_dump(mode="json")

    assert ltflow(settings, "retry") == 0  # no webhook configured: the log line delivers it
    assert "Delivered 1; still undelivered 0." in capsys.readouterr().out
    assert ltflow(settings, "undelivered", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_two_reminders_of_one_type_due_at_the_same_moment_are_both_kept(
    settings: Settings,
) -> None:
    """Two safety nets due the same day fall overdue at the same moment: before the event id
    joined the key, the second one's undelivered notification was silently dropped."""
    team = uuid4()
    a, b = (
        Notification(
            team_id=team,
            type="safety_net.overdue",
            occurred_at=T0,
            recipient="facilitator",
            event_id=f"system:safety_net.overdue:{net}:2026-03-15",
        )
        for net in ("sn-1", "sn-2")
    )
    log = UndeliveredLog.from_settings(settings)
    try:
        for one in (a, b, a):
            log.record(UndeliveredNotification(notification=one, error="503"), T0)
        assert [e.notification.event_id for e in log.pending()] == [a.event_id, b.event_id]
        assert retry_pending(log, RecordingNotifier()) == (2, 0)
        assert log.pending() == []
    finally:
        log.close()
