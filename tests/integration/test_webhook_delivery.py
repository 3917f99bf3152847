"""The Standard Webhooks port on its own: configuration that stops a process with a sentence,
subscriptions by type, team and series, and retries that only go where they failed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import icalendar
import pytest
from standardwebhooks.webhooks import Webhook

from ltflow.config import Settings, WebhookEndpoint, parse_webhooks
from ltflow.workflows.notifications import notifier_for
from ltflow.workflows.payloads import Notification, Recipient
from ltflow.workflows.undelivered import UndeliveredLog, retry_pending
from ltflow.workflows.webhooks import StandardWebhookNotifier, message_id, session_invitation
from tests.workflows.test_webhooks import receiver, secret

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TEAM = UUID("3d21809c-0a4c-5617-951f-dbb8e3629483")


def note(type_: str = "safety_net.overdue", **changes: object) -> Notification:
    base = Notification(
        team_id=TEAM,
        type=type_,
        occurred_at=T0,
        recipient="sub-ingrid",
        event_id=f"system:{type_}:sn-1:2026-12-01",
        details={"safety_net_id": "sn-1", "due": "2026-12-01"},
        recipients=[Recipient(role="owner", subject="sub-bram")],
        case_ref="series-ward-b3-2026-12",
    )
    return base.model_copy(update=changes)


def endpoint(name: str, url: str = "http://127.0.0.1:9/x", **filters: object) -> dict[str, object]:
    return {"name": name, "url": url, "secret": secret(name), **filters}


@pytest.mark.parametrize(
    ("config", "sentence"),
    [
        ("{not json", "LTFLOW_WEBHOOKS is not valid JSON"),
        ('{"url": "x"}', "must be a JSON list of endpoints"),
        ([{"url": "http://x", "secret": secret("a")}], "endpoint 1 needs a name"),
        ([endpoint("a", url="ftp://x")], "endpoint 1 ('a'): url must be an http"),
        ([{**endpoint("a"), "secret": "hunter2"}], "secret must be a Standard Webhooks secret"),
        ([endpoint("a", types=["nonsense.*"])], "types names no event type: 'nonsense.*'"),
        ([endpoint("a", teams=["VIM-12"])], "teams must be team ids (UUIDs), not 'VIM-12'"),
        ([endpoint("a", colour="red")], "endpoint 1 has unknown fields: colour"),
        ([endpoint("a"), endpoint("a")], "names endpoint 'a' twice"),
    ],
)
def test_bad_webhook_configuration_stops_with_a_sentence(config: object, sentence: str) -> None:
    text = config if isinstance(config, str) else json.dumps(config)
    with pytest.raises(ValueError, match="LTFLOW_WEBHOOKS") as err:
        Settings.from_env({"LTFLOW_WEBHOOKS": text})
    assert sentence in str(err.value)


def test_subscriptions_filter_by_type_team_and_series() -> None:
    other = str(uuid4())
    (by_type, by_team, by_series, nothing) = parse_webhooks(
        json.dumps(
            [
                endpoint("types", types=["safety_net.*", "team.closed"]),
                endpoint("team", teams=[str(TEAM)]),
                endpoint("series", series=["ward-b3"]),
                endpoint("other", teams=[other], series=["ward-c1"]),
            ]
        )
    )
    ref = "series-ward-b3-2026-12"
    assert by_type.takes("safety_net.escalated", str(TEAM), ref)
    assert by_type.takes("team.closed", str(TEAM), ref)
    assert not by_type.takes("phase.entered", str(TEAM), ref)
    assert by_team.takes("phase.entered", str(TEAM), None)
    assert not by_team.takes("phase.entered", other, None)
    assert by_series.takes("review.due", other, ref)
    assert not by_series.takes("review.due", str(TEAM), "series-ward-b30-x")
    assert not by_series.takes("review.due", str(TEAM), None)
    assert not nothing.takes("review.due", str(TEAM), ref)


def test_the_message_id_is_stable_per_event_and_differs_between_events() -> None:
    assert message_id(note()) == message_id(note(occurred_at=datetime(2027, 1, 1, tzinfo=UTC)))
    assert message_id(note()) != message_id(note(event_id="system:safety_net.overdue:sn-2:x"))


def test_a_rescheduled_session_replaces_its_invitation() -> None:
    at = {"session": 2, "at": "2026-12-10T13:00:00+01:00"}
    first = note("session.scheduled", details=at, version=11)
    moved = note("session.scheduled", details={**at, "at": "2026-12-11T13:00:00+01:00"}, version=14)
    a, b = (icalendar.Calendar.from_ical(session_invitation(n)) for n in (first, moved))
    (ea,), (eb,) = a.walk("VEVENT"), b.walk("VEVENT")
    assert ea["uid"] == eb["uid"]
    assert int(eb["sequence"]) > int(ea["sequence"])
    assert eb.decoded("dtstart") == datetime(2026, 12, 11, 12, 0, tzinfo=UTC)


def test_a_retry_sends_only_to_the_endpoint_that_failed_with_the_same_id(tmp_path: object) -> None:
    with receiver() as up, receiver() as down:
        down.answer = 503
        endpoints = parse_webhooks(json.dumps([endpoint("up", up.url), endpoint("down", down.url)]))
        port = StandardWebhookNotifier(endpoints)
        with pytest.raises(RuntimeError, match="down"):
            port.notify(note())
        down.answer = 204
        port.notify(note())  # the activity's retry
        port.notify(note())  # and a repeat after success sends nothing more
    assert len(up.received) == 1
    assert len(down.received) == 2
    ids = {
        dict((k.lower(), v) for k, v in h.items())["webhook-id"]
        for _, h in up.received + down.received
    }
    assert ids == {message_id(note())}
    body, headers = down.received[1]
    assert Webhook(secret("down")).verify(body, headers)["data"]["recipients"] == [
        {"role": "owner", "subject": "sub-bram"}
    ]


def test_an_undelivered_notification_is_sent_signed_on_an_operators_retry(tmp_path: object) -> None:
    from pathlib import Path

    settings = Settings(data_dir=Path(str(tmp_path)))
    undelivered = UndeliveredLog.from_settings(settings)
    try:
        from ltflow.workflows.payloads import UndeliveredNotification

        undelivered.record(UndeliveredNotification(notification=note(), error="down"), T0)
        with receiver() as hook:
            endpoints = (WebhookEndpoint(name="ops", url=hook.url, secret=secret("ops")),)
            assert retry_pending(undelivered, notifier_for(None, endpoints)) == (1, 0)
        assert undelivered.pending() == []
    finally:
        undelivered.close()
    ((body, headers),) = hook.received
    assert Webhook(secret("ops")).verify(body, headers)["type"] == "safety_net.overdue"


def test_the_documented_configuration_parses() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "rhythm.md").read_text()
    block = re.search(r"```json\n(\[.*?\])\n```", doc, re.S)
    assert block is not None
    names = [e.name for e in parse_webhooks(block.group(1))]
    assert names == ["ward-b3-pager", "quality-office", "one-team"]


def test_a_worker_command_with_a_bad_webhook_configuration_stops_with_the_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    from ltflow.cli import main

    monkeypatch.setenv("LTFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LTFLOW_WEBHOOKS", json.dumps([{**endpoint("pager"), "secret": "x"}]))
    assert main(["worker"]) != 0
    err = capsys.readouterr().err
    assert "LTFLOW_WEBHOOKS endpoint 1 ('pager'): secret must be a Standard Webhooks secret" in err
