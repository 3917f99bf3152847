"""The notification port's adapters: a structured log line, and a webhook POST."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from uuid import uuid4

import pytest

from ltflow.workflows.notifications import (
    FanOutNotifier,
    LogNotifier,
    WebhookNotifier,
    notifier_for,
)
from ltflow.workflows.payloads import Notification


def note() -> Notification:
    return Notification(
        team_id=uuid4(),
        type="reflection.overdue",
        occurred_at=datetime(2026, 3, 16, 9, tzinfo=UTC),
        recipient="fac-ingrid",
        details={"latest": "2026-03-16T09:00:00Z"},
    )


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any], dict[str, int]]]:
    received: list[Any] = []
    answer = {"status": 204}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(answer["status"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, answer
    server.shutdown()


def test_the_webhook_receives_the_notification_as_json(
    webhook: tuple[str, list[Any], dict[str, int]],
) -> None:
    url, received, _ = webhook
    n = note().model_copy(update={"case_ref": "VIM-2026-0412"})
    WebhookNotifier(url).notify(n)
    assert received == [n.model_dump(mode="json", exclude={"case_ref"})]
    assert "VIM-2026-0412" not in json.dumps(received)  # for subscriptions only, never sent


def test_a_failing_webhook_raises_so_the_activity_retries(
    webhook: tuple[str, list[Any], dict[str, int]],
) -> None:
    url, _, answer = webhook
    answer["status"] = 503
    with pytest.raises(Exception, match="503"):
        WebhookNotifier(url).notify(note())


def test_the_default_port_logs_and_posts_when_a_webhook_is_set(
    webhook: tuple[str, list[Any], dict[str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    url, received, _ = webhook
    port = notifier_for(url)
    assert isinstance(port, FanOutNotifier)
    assert [type(a) for a in port.notifiers] == [LogNotifier, WebhookNotifier]
    port.notify(note())
    assert len(received) == 1
    assert [type(a) for a in notifier_for(None).notifiers] == [LogNotifier]  # type: ignore[attr-defined]


# --- what is worth telling, and to whom (pure) ---------------------------------------------------


def _after(walk: Any, cmd: Any) -> list[Notification]:
    from ltflow.workflows.notifications import notices_after

    before = walk.state.model_copy(deep=True)
    walk.send(cmd)
    return notices_after(cmd, before, walk.state, walk.now)


def test_criteria_met_and_the_phase_it_enters_are_both_told() -> None:
    from ltflow.aggregates import vocabulary as c
    from ltflow.aggregates.phases import Phase
    from tests.unit.builders import walk_to

    walk = walk_to(Phase.FOLLOW_UP)
    walk.criterion("c-1", "sn-1")
    walk.start_follow_up()
    review = c.ReviewRecorded(event_id="rev-1", criterion_id="c-1", observed="10/10", met=True)
    notes = _after(walk, review)
    assert [(n.type, n.event_id) for n in notes] == [
        ("follow_up.ended", "rev-1#follow-up-ended"),
        ("phase.entered", "rev-1#phase-7"),
    ]
    assert notes[0].details == {"outcome": "criteria_met"}
    assert notes[1].details == {"phase": 7, "name": Phase.COMMUNICATE.label}
    assert "10/10" not in notes[0].model_dump_json()


def test_an_abandoned_team_is_told_without_the_reason_to_everyone_by_id() -> None:
    from ltflow.aggregates import vocabulary as c
    from ltflow.aggregates.phases import Phase
    from tests.unit.builders import walk_to

    walk = walk_to(Phase.SESSION_ONE)
    walk.send(c.SponsorAssigned(event_id="sp", sponsor_id="sub-boss", name="Mrs Boss"))
    (note,) = _after(walk, c.TeamAbandoned(event_id="gone", reason="The ward was merged."))
    assert note.type == "team.abandoned"
    assert note.details == {}
    roles = {r.role for r in note.recipients}
    assert roles == {"participant", "sponsor"}  # this facilitator has no identity
    text = note.model_dump_json()
    assert "merged" not in text
    assert "Mrs Boss" not in text
    assert all(r.participant_id for r in note.recipients if r.role == "participant")


def test_an_overdue_reflection_no_longer_carries_the_facilitators_name() -> None:
    from ltflow.aggregates import vocabulary as c
    from ltflow.aggregates.phases import Phase
    from ltflow.workflows.notifications import timer_notice
    from tests.unit.builders import walk_to

    walk = walk_to(Phase.PROCESSING_TIME)
    latest = walk.state.reflection_latest
    assert latest is not None
    cmd = c.ReflectionOverdue(event_id="x", latest=latest, facilitator=walk.state.facilitator)
    note = timer_notice(walk.state, cmd, walk.now)
    assert note.details == {"latest": latest.isoformat().replace("+00:00", "Z")}
    assert walk.state.facilitator not in note.model_dump_json(exclude={"case_ref"})
