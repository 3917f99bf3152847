"""Stored events are encrypted at rest; keys rotate without rewriting a byte."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ltflow.aggregates.vocabulary import parse_sender_event
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.keyring import new_key
from tests.conftest import Clock
from tests.integration.helpers import open_team, run_steps, steps_until

CANARY = "Quokkacanary-91b2"


def raw_states(app: LearningTeams, team_id: Any) -> list[bytes]:
    """The stored bytes exactly as the database holds them."""
    recorder: Any = app.recorder
    return [bytes(e.state) for e in recorder.select_events(team_id)]


def perspective(event_id: str) -> Any:
    return parse_sender_event(
        {
            "type": "perspective.shared",
            "event_id": event_id,
            "participant_id": "p-anna",
            "perspective": f"{CANARY} saw it happen",
            "consent_to_share": False,
        }
    )


def test_stored_events_hold_no_plaintext(settings: Settings, clock: Clock) -> None:
    encrypted = dataclasses.replace(settings, event_keys=new_key())
    app = LearningTeams.from_settings(encrypted)
    try:
        team_id = open_team(app, clock)
        run_steps(app, clock, team_id, steps_until(clock(), "scope-ok"))
        app.record(team_id, perspective("x-1"), actor="f", received_at=clock())
        stored = raw_states(app, team_id)
        assert stored
        assert all(CANARY.encode() not in s and b"p-anna" not in s for s in stored)
        assert all(s.startswith(b"LT\x01") for s in stored)
        assert any(
            f.payload.get("perspective", "").startswith(CANARY) for f in app.history(team_id)
        )
    finally:
        app.close()


def test_a_rotated_key_keeps_old_events_readable_and_encrypts_new_ones(
    settings: Settings, clock: Clock
) -> None:
    old, new = new_key(), new_key()
    first = LearningTeams.from_settings(dataclasses.replace(settings, event_keys=old))
    team_id = open_team(first, clock)
    first.close()

    rotated = LearningTeams.from_settings(dataclasses.replace(settings, event_keys=f"{new},{old}"))
    try:
        invite = parse_sender_event(
            {
                "type": "participant.invited",
                "event_id": "i-1",
                "participant_id": "p-1",
                "role": "nurse",
            }
        )
        rotated.record(team_id, invite, actor="f", received_at=clock())
        kinds = [s[3:7] for s in raw_states(rotated, team_id)]
        assert len(set(kinds)) == 2  # old events under the old key, the new one under the new
        assert [f.type for f in rotated.history(team_id)][-1] == "participant.invited"
    finally:
        rotated.close()

    only_new = LearningTeams.from_settings(dataclasses.replace(settings, event_keys=new))
    try:
        with pytest.raises(Exception, match="encrypted with an unknown key"):
            only_new.history(team_id)
    finally:
        only_new.close()


def test_the_embedded_default_generates_its_key_in_the_data_dir(
    settings: Settings, clock: Clock
) -> None:
    app = LearningTeams.from_settings(dataclasses.replace(settings, encrypt_at_rest=True))
    try:
        team_id = open_team(app, clock)
        assert settings.event_key_file.exists()
        assert all(s.startswith(b"LT\x01") for s in raw_states(app, team_id))
        assert app.summary(team_id).version == 2
    finally:
        app.close()
