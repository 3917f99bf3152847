"""The vocabulary as senders meet it: parsing, validation, policies, fingerprints, errors."""

from __future__ import annotations

import pickle
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import (
    ERRORS_BY_CODE,
    IdempotencyConflictError,
    InvalidEventError,
    LtflowError,
    RuleViolatedError,
    WrongPhaseError,
    error_from_code,
)
from ltflow.api.errors import status_for

AT = "2026-03-02T09:00:00+00:00"

#: One valid JSON body per sender type, as a sender would post it.
SENDER_BODIES: dict[str, dict[str, Any]] = {
    "participant.invited": {"participant_id": "p-anna", "role": "nurse", "display_name": "Anna"},
    "participant.withdrawn": {"participant_id": "p-anna", "reason": "On leave."},
    "scope.confirmed": {},
    "session.scheduled": {"session": 1, "at": "2026-03-04T14:00:00+01:00"},
    "perspective.shared": {
        "participant_id": "p-anna",
        "perspective": "I was covering two wards.",
        "consent_to_share": True,
    },
    "session.completed": {"session": 1, "attendees": ["p-anna", "p-bram", "p-chen"]},
    "reflection.noted": {"participant_id": "p-anna", "note": "Slept on it."},
    "session.started": {"session": 2},
    "red_thread.recorded": {"summary": "Hand-over and round overlap."},
    "learning_point.recorded": {"learning_point_id": "lp-1", "kind": "keep", "text": "Ask."},
    "analysis.concluded": {},
    "safety_net.defined": {
        "safety_net_id": "sn-1",
        "kind": "experiment",
        "description": "A quiet vest.",
        "owner": "p-bram",
        "due": "2026-04-01",
        "addresses": ["lp-1"],
        "hypothesis": "Fewer interruptions.",
    },
    "safety_nets.concluded": {},
    "success_criterion.defined": {
        "criterion_id": "c-1",
        "safety_net_id": "sn-1",
        "description": "Vest worn.",
        "target": "Every round.",
    },
    "follow_up.started": {},
    "review.recorded": {"criterion_id": "c-1", "observed": "3 of 5.", "met": False},
    "safety_net.completed": {"safety_net_id": "sn-1", "outcome": "Adopted."},
    "story.communicated": {"audience": "Ward managers", "channel": "meeting", "summary": "Ours."},
    "team.closed": {},
    "team.abandoned": {"reason": "Merged with another case."},
    "participant.erased": {"participant_id": "p-anna", "reason": "GDPR request"},
    "sponsor.assigned": {"sponsor_id": "sub-manager", "name": "Ward manager"},
    "facilitator.handed_over": {"facilitator": "Fleur", "facilitator_id": "sub-fleur"},
    "consent.changed": {"participant_id": "p-anna", "consent_to_share": False},
}

#: Each sender type with one required field (if it has any) to leave out.
REQUIRED_FIELD: dict[str, str] = {
    "participant.invited": "role",
    "participant.withdrawn": "participant_id",
    "session.scheduled": "at",
    "perspective.shared": "consent_to_share",
    "session.completed": "attendees",
    "reflection.noted": "note",
    "session.started": "session",
    "red_thread.recorded": "summary",
    "learning_point.recorded": "kind",
    "safety_net.defined": "owner",
    "success_criterion.defined": "safety_net_id",
    "review.recorded": "met",
    "safety_net.completed": "safety_net_id",
    "story.communicated": "channel",
    "team.abandoned": "reason",
    "participant.erased": "participant_id",
}

CONVENE_BODY: dict[str, Any] = {
    "case_ref": "INC-2026-0042",
    "title": "Medication given twice",
    "trigger": "incident",
    "theme": "medication",
    "goal": "Understand the night round.",
    "scope": "Ward 4 nights.",
    "facilitator": "f-fatima",
}


def body(type_: str, **changes: Any) -> dict[str, Any]:
    return {"type": type_, "event_id": f"evt-{type_}", **SENDER_BODIES[type_], **changes}


def invalid(data: Any) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as raised:
        c.parse_sender_event(data)
    assert raised.value.code == "invalid_event"
    assert status_for(raised.value) == 422
    return raised.value


# --- parse_sender_event --------------------------------------------------------------------------


def test_every_sender_type_has_a_body_here() -> None:
    assert set(SENDER_BODIES) == set(c.SENDER_TYPES)
    assert set(REQUIRED_FIELD) <= set(c.SENDER_TYPES)


@pytest.mark.parametrize("type_", list(SENDER_BODIES))
def test_a_valid_body_parses_to_its_model_and_round_trips(type_: str) -> None:
    cmd = c.parse_sender_event(body(type_, occurred_at=AT))
    assert type(cmd) is c.SENDER_TYPES[type_]
    assert cmd.type == type_
    assert cmd.event_id == f"evt-{type_}"
    assert cmd.occurred_at is not None
    assert cmd.occurred_at.isoformat() == AT
    assert c.parse_sender_event(cmd.model_dump(mode="json")) == cmd


def test_occurred_at_is_optional() -> None:
    assert c.parse_sender_event(body("scope.confirmed")).occurred_at is None


def test_an_unknown_type_is_invalid_and_names_the_type_field() -> None:
    error = invalid({"type": "incident.reported", "event_id": "e-1"})
    assert "at 'type'" in error.message
    assert "'incident.reported'" in error.message
    assert error.details["problems"][0]["field"] == "type"


def test_a_body_without_a_type_is_invalid_and_names_the_type_field() -> None:
    error = invalid({"event_id": "e-1", "summary": "x"})
    assert "at 'type'" in error.message
    assert error.details["problems"][0]["field"] == "type"


def test_a_type_that_is_not_a_string_is_invalid_not_a_crash() -> None:
    error = invalid({"type": ["red_thread.recorded"], "event_id": "e-1"})
    assert error.details["problems"][0]["field"] == "type"


@pytest.mark.parametrize("data", [None, "red_thread.recorded", 42, ["a"]], ids=repr)
def test_a_body_that_is_not_an_object_is_invalid(data: Any) -> None:
    error = invalid(data)
    assert "valid dictionary or object" in error.message


@pytest.mark.parametrize(("type_", "field"), list(REQUIRED_FIELD.items()))
def test_a_missing_field_is_invalid_and_named(type_: str, field: str) -> None:
    data = body(type_)
    del data[field]
    error = invalid(data)
    assert error.message == f"The phase event is invalid at '{field}': Field required."
    assert {"field": field, "problem": "Field required"} in error.details["problems"]


def test_a_missing_event_id_is_invalid_and_named() -> None:
    data = body("scope.confirmed")
    del data["event_id"]
    assert "at 'event_id'" in invalid(data).message


@pytest.mark.parametrize("type_", list(SENDER_BODIES))
def test_an_extra_field_is_invalid_and_named(type_: str) -> None:
    error = invalid(body(type_, blame="the night nurse"))
    assert "at 'blame'" in error.message
    assert "Extra inputs are not permitted" in error.message


def test_every_problem_is_listed_not_only_the_first() -> None:
    data = body("perspective.shared", extra=1)
    del data["perspective"]
    fields = {p["field"] for p in invalid(data).details["problems"]}
    assert fields == {"perspective", "extra"}


@pytest.mark.parametrize("type_", list(c.SYSTEM_TYPES))
def test_system_types_cannot_be_sent(type_: str) -> None:
    error = invalid({"type": type_, "event_id": "e-1"})
    assert error.message == f"'{type_}' is recorded by ltflow itself and cannot be sent."
    assert error.details == {"type": type_}


def test_team_convened_is_not_a_phase_event() -> None:
    error = invalid({"type": "team.convened", "event_id": "e-1", **CONVENE_BODY})
    assert "at 'type'" in error.message


@pytest.mark.parametrize("event_id", ["e-1#phase-2", "#", "abc#"])
def test_an_event_id_with_a_hash_is_invalid(event_id: str) -> None:
    error = invalid(body("red_thread.recorded", event_id=event_id))
    assert "event_id may not contain '#'" in error.message
    assert error.details == {"event_id": event_id}


@pytest.mark.parametrize("event_id", ["", "two words", "x" * 301])
def test_an_empty_spaced_or_overlong_event_id_is_invalid(event_id: str) -> None:
    assert "at 'event_id'" in invalid(body("red_thread.recorded", event_id=event_id)).message


@pytest.mark.parametrize(
    ("type_", "changes", "field"),
    [
        ("session.scheduled", {"at": "2026-03-04T14:00:00"}, "at"),
        ("red_thread.recorded", {"occurred_at": "2026-03-04T14:00:00"}, "occurred_at"),
        ("session.scheduled", {"session": 0}, "session"),
        ("session.started", {"session": 1}, "session"),
        ("learning_point.recorded", {"kind": "fix"}, "kind"),
        ("safety_net.defined", {"kind": "policy"}, "kind"),
        ("participant.invited", {"participant_id": "p anna"}, "participant_id"),
        ("participant.invited", {"participant_id": "team/p-anna"}, "participant_id"),
        ("red_thread.recorded", {"summary": "   "}, "summary"),
        ("session.completed", {"attendees": ["p-anna", "p-anna", "p-bram"]}, "attendees"),
        ("review.recorded", {"met": "maybe"}, "met"),
        ("safety_net.defined", {"due": "next week"}, "due"),
    ],
    ids=[
        "naive-at",
        "naive-occurred_at",
        "session-0",
        "start-session-1",
        "unknown-learning-point-kind",
        "unknown-safety-net-kind",
        "space-in-id",
        "slash-in-id",
        "blank-text",
        "repeated-attendee",
        "met-not-bool",
        "due-not-a-date",
    ],
)
def test_an_invalid_field_value_is_invalid_and_named(
    type_: str, changes: dict[str, Any], field: str
) -> None:
    error = invalid(body(type_, **changes))
    assert f"at '{field}'" in error.message


def test_text_is_stripped_of_surrounding_whitespace() -> None:
    cmd = c.parse_sender_event(body("red_thread.recorded", summary="  the round  "))
    assert isinstance(cmd, c.RedThreadRecorded)
    assert cmd.summary == "the round"


def test_commands_are_immutable() -> None:
    cmd = c.parse_sender_event(body("red_thread.recorded"))
    with pytest.raises(ValidationError):
        cmd.event_id = "other"  # type: ignore[misc]


# --- parse_convene -------------------------------------------------------------------------------


def test_convening_defaults_the_event_id_and_the_policy() -> None:
    cmd = c.parse_convene(CONVENE_BODY)
    assert cmd.event_id == c.CONVENE_EVENT_ID
    assert cmd.policy == c.Policy()
    assert c.parse_convene({**CONVENE_BODY, "event_id": ""}).event_id == c.CONVENE_EVENT_ID


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"trigger": "complaint"}, "trigger"),
        ({"goal": ""}, "goal"),
        ({"facilitator": " "}, "facilitator"),
        ({"extra": 1}, "extra"),
        ({"policy": {"min_reflection": "P3D", "max_reflection": "P2D"}}, "policy"),
        ({"policy": {"min_reflection": "soon"}}, "policy.min_reflection"),
    ],
    ids=["unknown-trigger", "empty-goal", "blank-facilitator", "extra", "bad-policy", "bad-dur"],
)
def test_an_invalid_convene_body_is_invalid_and_named(changes: dict[str, Any], field: str) -> None:
    data = {**CONVENE_BODY, **changes}
    with pytest.raises(InvalidEventError) as raised:
        c.parse_convene(data)
    assert raised.value.message.startswith(f"The team.convened event is invalid at '{field}'")


def test_convening_with_a_hash_in_the_event_id_is_invalid() -> None:
    with pytest.raises(InvalidEventError, match="may not contain '#'"):
        c.parse_convene({**CONVENE_BODY, "event_id": "open#1"})


# --- policy --------------------------------------------------------------------------------------


def test_the_policy_defaults_are_the_contract_defaults() -> None:
    assert c.Policy().model_dump(mode="json") == {
        "min_reflection": "P1D",
        "max_reflection": "P14D",
        "reflection_reminder_before": "P2D",
        "review_every": "P28D",
        "follow_up_for": "P90D",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1D", timedelta(days=1)),
        ("PT10S", timedelta(seconds=10)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(weeks=2)),
    ],
)
def test_policy_durations_parse_from_iso_8601(text: str, expected: timedelta) -> None:
    policy = c.Policy.model_validate({"min_reflection": text, "max_reflection": "P30D"})
    assert policy.min_reflection == expected


def test_a_policy_survives_a_json_round_trip() -> None:
    policy = c.Policy(
        min_reflection=timedelta(seconds=10),
        max_reflection=timedelta(minutes=1),
        reflection_reminder_before=timedelta(seconds=20),
        review_every=timedelta(seconds=30),
        follow_up_for=timedelta(minutes=5),
    )
    assert c.Policy.model_validate(policy.model_dump(mode="json")) == policy


def test_min_reflection_may_equal_max_reflection() -> None:
    policy = c.Policy(min_reflection=timedelta(days=3), max_reflection=timedelta(days=3))
    assert policy.min_reflection == policy.max_reflection


@pytest.mark.parametrize(
    ("values", "phrase"),
    [
        ({"min_reflection": "P3D", "max_reflection": "P2D"}, "max_reflection must not be shorter"),
        ({"reflection_reminder_before": "P14D"}, "reflection_reminder_before must be shorter"),
        ({"reflection_reminder_before": "P15D"}, "reflection_reminder_before must be shorter"),
        ({"min_reflection": "PT0S"}, "min_reflection must be a positive duration"),
        ({"max_reflection": "-P1D"}, "max_reflection must be a positive duration"),
        ({"reflection_reminder_before": "PT0S"}, "reflection_reminder_before must be a positive"),
        ({"review_every": "P0D"}, "review_every must be a positive duration"),
        ({"follow_up_for": "-PT1S"}, "follow_up_for must be a positive duration"),
    ],
    ids=[
        "min-above-max",
        "reminder-equals-max",
        "reminder-above-max",
        "zero-min",
        "negative-max",
        "zero-reminder",
        "zero-review-every",
        "negative-follow-up",
    ],
)
def test_an_inconsistent_policy_is_rejected(values: dict[str, str], phrase: str) -> None:
    with pytest.raises(ValidationError, match=phrase):
        c.Policy.model_validate(values)


def test_a_policy_has_no_other_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        c.Policy.model_validate({"grace": "P1D"})


# --- fingerprints and stored commands ------------------------------------------------------------


def test_the_fingerprint_ignores_the_event_id_and_the_key_order() -> None:
    one = c.parse_sender_event(body("review.recorded", event_id="a"))
    two = c.parse_sender_event(dict(reversed(list(body("review.recorded", event_id="b").items()))))
    assert one.fingerprint() == two.fingerprint()


@pytest.mark.parametrize(
    "changes",
    [{"met": True}, {"observed": "4 of 5."}, {"occurred_at": AT}, {"note": "Better."}],
    ids=["met", "observed", "occurred_at", "note"],
)
def test_the_fingerprint_changes_with_the_content(changes: dict[str, Any]) -> None:
    base = c.parse_sender_event(body("review.recorded"))
    changed = c.parse_sender_event(body("review.recorded", **changes))
    assert base.fingerprint() != changed.fingerprint()


@pytest.mark.parametrize("type_", list(SENDER_BODIES))
def test_a_stored_sender_command_loads_back_equal(type_: str) -> None:
    cmd = c.parse_sender_event(body(type_, occurred_at=AT))
    payload = cmd.model_dump(mode="json", exclude={"type"})
    assert c.load_command(type_, payload) == cmd


@pytest.mark.parametrize(
    "cmd",
    [
        c.PhaseEntered(event_id="e#phase-2", phase=2, name="session 1: share perspectives"),
        c.ReflectionOpened(event_id="e#reflection", earliest=AT, latest="2026-03-16T09:00:00Z"),
        c.ReflectionReminderDue(event_id="t-1", latest=AT),
        c.ReflectionOverdue(event_id="t-2", latest=AT, facilitator="f-fatima"),
        c.ReviewDue(event_id="t-3", review=2, criteria=["c-1", "c-2"]),
        c.FollowUpEnded(event_id="t-4", outcome="period_ended"),
    ],
    ids=lambda cmd: cmd.type,
)
def test_a_stored_system_command_loads_back_equal(cmd: c.Command) -> None:
    payload = cmd.model_dump(mode="json", exclude={"type"})
    assert c.load_command(cmd.type, payload) == cmd


def test_the_vocabulary_has_twenty_four_sender_types_and_twelve_system_types() -> None:
    assert len(c.SENDER_TYPES) == 24
    assert len(c.SYSTEM_TYPES) == 12  # six reminders of issue 16 among them
    assert set(c.ALL_TYPES) == {"team.convened", *c.SENDER_TYPES, *c.SYSTEM_TYPES}
    assert not set(c.SENDER_TYPES) & set(c.SYSTEM_TYPES)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (InvalidEventError, "invalid_event", 422),
        (WrongPhaseError, "wrong_phase", 409),
        (RuleViolatedError, "rule_violated", 409),
        (IdempotencyConflictError, "idempotency_conflict", 409),
    ],
    ids=["invalid_event", "wrong_phase", "rule_violated", "idempotency_conflict"],
)
def test_errors_carry_the_contract_code_and_status(
    error: type[LtflowError], code: str, status: int
) -> None:
    raised = error("Too early.", earliest=AT)
    assert raised.to_dict() == {"code": code, "message": "Too early.", "details": {"earliest": AT}}
    assert status_for(raised) == status
    assert ERRORS_BY_CODE[code] is error


def test_an_error_survives_pickling_with_its_details() -> None:
    error = RuleViolatedError("Too early.", earliest=AT)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is RuleViolatedError
    assert again.to_dict() == error.to_dict()


def test_an_error_is_rebuilt_from_its_code() -> None:
    rebuilt = error_from_code("wrong_phase", "Not now.", {"phase": 3})
    assert isinstance(rebuilt, WrongPhaseError)
    assert rebuilt.details == {"phase": 3}
    unknown = error_from_code("teapot", "Short and stout.")
    assert type(unknown) is LtflowError
