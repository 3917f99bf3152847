"""Erasing a participant by crypto-shredding: unreadable everywhere, the record intact."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ltflow.aggregates.errors import InvalidEventError, RuleViolatedError
from ltflow.aggregates.vocabulary import parse_sender_event
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.fields import ERASED, encrypt_field, encrypt_field_deterministic
from tests.conftest import Clock
from tests.integration.helpers import open_team, run_narrative


def raw(app: LearningTeams, team_id: Any) -> list[tuple[int, bytes]]:
    recorder: Any = app.recorder
    return [(e.originator_version, bytes(e.state)) for e in recorder.select_events(team_id)]


def erase(pid: str, event_id: str = "erase-1") -> Any:
    return parse_sender_event(
        {
            "type": "participant.erased",
            "event_id": event_id,
            "participant_id": pid,
            "reason": "GDPR request",
        }
    )


def test_personal_fields_are_never_stored_in_plaintext(app: LearningTeams, clock: Clock) -> None:
    team_id, _ = run_narrative(app, clock)
    stored = b"".join(state for _, state in raw(app, team_id))
    for secret in (b"Bram (day nurse)", b"the ward was very busy", b"paper list", b"Prefers not"):
        assert secret not in stored
    texts = {f.payload.get("display_name") for f in app.history(team_id)}
    assert "Bram (day nurse)" in texts


def test_an_erased_participant_is_unreadable_and_the_record_is_intact(
    app: LearningTeams, clock: Clock
) -> None:
    team_id, _ = run_narrative(app, clock)
    before = raw(app, team_id)

    result = app.record(team_id, erase("p-bram"), actor="privacy-officer", received_at=clock())

    after = raw(app, team_id)
    assert after[: len(before)] == before  # not one stored byte changed
    assert result.summary.version == len(before) + 1
    history = app.history(team_id)
    assert history[-1].type == "participant.erased"
    assert history[-1].actor == "privacy-officer"
    bram = [f for f in history if f.payload.get("participant_id") == "p-bram"]
    assert {f.payload.get("display_name") for f in bram if f.type == "participant.invited"} == {
        ERASED
    }
    assert {f.payload["perspective"] for f in bram if f.type == "perspective.shared"} == {ERASED}
    anna = [f for f in history if f.payload.get("participant_id") == "p-anna"]
    assert "Anna (evening nurse)" in {f.payload.get("display_name") for f in anna}


def test_erasure_is_final_and_repeats_store_nothing(app: LearningTeams, clock: Clock) -> None:
    team_id, _ = run_narrative(app, clock)
    app.record(team_id, erase("p-bram"), actor="po", received_at=clock())
    versions = len(app.history(team_id))

    repeat = app.record(team_id, erase("p-bram"), actor="po", received_at=clock())
    assert repeat.duplicate
    with pytest.raises(RuleViolatedError):
        app.record(team_id, erase("p-bram", "erase-2"), actor="po", received_at=clock())
    with pytest.raises(RuleViolatedError):
        app.record(team_id, erase("p-nobody", "erase-3"), actor="po", received_at=clock())
    assert len(app.history(team_id)) == versions


def test_a_reopened_application_still_cannot_read_the_erased_fields(
    app: LearningTeams, clock: Clock, settings: Any
) -> None:
    team_id, _ = run_narrative(app, clock)
    app.record(team_id, erase("p-dewi"), actor="po", received_at=clock())
    app.close()
    reopened = LearningTeams.from_settings(settings)
    try:
        dewi = [
            f.payload
            for f in reopened.history(team_id)
            if f.type == "perspective.shared" and f.payload["participant_id"] == "p-dewi"
        ]
        assert dewi == [
            {"participant_id": "p-dewi", "perspective": ERASED, "consent_to_share": True}
        ]
        assert reopened.state(team_id).erased == ["p-dewi"]
    finally:
        reopened.close()


def test_the_record_refuses_a_field_encrypted_with_another_key(
    app: LearningTeams, clock: Clock
) -> None:
    team_id = open_team(app, clock)
    invite = {"type": "participant.invited", "event_id": "inv-a", "participant_id": "p-anna",
              "role": "nurse", "display_name": "Anna"}  # fmt: skip
    app.record(team_id, parse_sender_event(invite), actor="f", received_at=clock())
    before = raw(app, team_id)
    forged = encrypt_field(
        AESGCM.generate_key(bit_length=256), "Never said", f"{team_id}/p-anna/reason".encode()
    )
    withdraw = parse_sender_event(
        {
            "type": "participant.withdrawn",
            "event_id": "wd-f",
            "participant_id": "p-anna",
            "reason": forged,
        }
    )
    with pytest.raises(InvalidEventError) as refused:
        app.record(team_id, withdraw, actor="f", received_at=clock())
    assert refused.value.code == "invalid_event"
    assert raw(app, team_id) == before  # nothing stored

    # The same field encrypted (deterministically, as the client does) with anna's own key.
    assert app.keys is not None
    key = app.keys.get(team_id, "p-anna")
    assert key is not None
    genuine = encrypt_field_deterministic(key, "Moved ward", f"{team_id}/p-anna/reason".encode())
    withdraw = withdraw.model_copy(update={"reason": genuine})
    app.record(team_id, withdraw, actor="f", received_at=clock())
    assert app.history(team_id)[-1].payload["reason"] == "Moved ward"
    assert genuine.encode() in raw(app, team_id)[-1][1]  # stored as sent, not encrypted again
