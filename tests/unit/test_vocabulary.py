"""The vocabulary declares each event type once; every table of event types is derived from it.

These tests enumerate the declarations and hold each derived table against them, so a new event
type is one declaration plus its rule and its fold, and nothing else can fall out of step.
"""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import TypeAdapter

from ltflow.aggregates import rules, state
from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.errors import InvalidEventError
from ltflow.aggregates.learning_team import EVENT_CLASSES, LearningTeam
from ltflow.privacy import fields as privacy_fields
from ltflow.projections import team_fold
from ltflow.workflows import payloads


def _declared() -> dict[str, type[v.Command]]:
    found: dict[str, type[v.Command]] = {}
    pending = list(v.Command.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        name = cls.model_fields["type"].default
        if isinstance(name, str) and name:
            found[name] = cls
    return found


def _union_members(union: object) -> set[type[v.Command]]:
    inner = typing.get_args(union)[0]
    return set(typing.get_args(inner))


def test_every_declared_class_is_in_the_vocabulary_once() -> None:
    assert _declared() == v.ALL_TYPES
    assert all(name == cls.TYPE for name, cls in v.ALL_TYPES.items())


def test_the_sender_and_system_sets_follow_each_types_origin() -> None:
    by_origin = {o: {n for n, c in v.ALL_TYPES.items() if c.origin is o} for o in v.Origin}
    assert set(v.SENDER_TYPES) == by_origin[v.Origin.SENDER]
    assert set(v.SYSTEM_TYPES) == by_origin[v.Origin.TIMER] | by_origin[v.Origin.DERIVED]
    assert set(v.RECORDED_TYPES) == by_origin[v.Origin.SENDER] | by_origin[v.Origin.TIMER]
    assert by_origin[v.Origin.OPENING] == {"team.convened"}


def test_the_unions_senders_and_the_workflow_speak_are_the_derived_sets() -> None:
    assert _union_members(v.SenderEvent) == set(v.SENDER_TYPES.values())
    assert _union_members(v.AnyEvent) == set(v.RECORDED_TYPES.values())
    assert payloads.AnyEvent is v.AnyEvent
    schema = TypeAdapter(v.SenderEvent).json_schema()
    assert set(schema["discriminator"]["mapping"]) == set(v.SENDER_TYPES)


def test_every_recorded_type_declares_its_phases_and_the_rulebook_uses_them() -> None:
    assert {n: c.phases for n, c in v.RECORDED_TYPES.items()} == rules.ALLOWED_PHASES
    assert all(cls.phases for cls in v.RECORDED_TYPES.values())


def test_personal_fields_are_declared_fields_of_events_about_one_participant() -> None:
    assert privacy_fields.PERSONAL_FIELDS is v.PERSONAL_FIELDS
    assert {n: c.personal for n, c in v.ALL_TYPES.items() if c.personal} == v.PERSONAL_FIELDS
    for name, fields in v.PERSONAL_FIELDS.items():
        model = v.ALL_TYPES[name].model_fields
        assert "participant_id" in model, name
        assert set(fields) <= set(model), name


def test_every_recorded_type_has_one_rule_and_every_stored_type_one_fold_and_one_view_step() -> (
    None
):
    stored = {c for c in v.ALL_TYPES.values() if c.origin is not v.Origin.OPENING}
    assert set(rules._CHECKS) == set(v.RECORDED_TYPES.values())
    assert set(state._FOLDS) == stored
    assert set(team_fold.STEPS) == {c.TYPE for c in stored}


def test_the_aggregate_stores_each_type_under_a_class_of_its_name() -> None:
    assert set(EVENT_CLASSES) == set(v.ALL_TYPES) - {"team.convened"}
    for name, cls in EVENT_CLASSES.items():
        declared = v.ALL_TYPES[name]
        assert name == cls.TYPE
        assert cls.__qualname__ == f"LearningTeam.{declared.__name__}"
        # The topic is what the event store keeps: it must name this class, and resolve to it.
        assert get_topic(cls) == f"ltflow.aggregates.learning_team:LearningTeam.{declared.__name__}"
        assert resolve_topic(get_topic(cls)) is cls
        assert issubclass(cls, LearningTeam.Event)
    assert LearningTeam.TeamConvened.TYPE == v.TeamConvened.TYPE


def test_a_type_declared_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="declared twice"):

        class Again(v.Sent):
            type: typing.Literal["scope.confirmed"] = "scope.confirmed"


def test_the_workflow_module_imports_no_event_store() -> None:
    code = (
        "import sys, ltflow.workflows.learning_team; "
        "print(sorted(m for m in sys.modules if m.startswith('eventsourcing')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_personal_field_takes_plain_text_within_its_limit_or_its_encrypted_form() -> None:
    encrypt_field_deterministic = privacy_fields.encrypt_field_deterministic
    key, aad = bytes(32), b"team/p-1/perspective"
    longest = "\U0001f600" * 20_000  # the longest plain value, 4 bytes a character in UTF-8

    def perspective(value: str) -> str:
        event = v.parse_sender_event(
            {
                "type": "perspective.shared",
                "event_id": "e",
                "participant_id": "p-1",
                "perspective": value,
                "consent_to_share": False,
            }
        )
        return str(getattr(event, "perspective"))  # noqa: B009

    assert perspective(longest) == longest
    encrypted = encrypt_field_deterministic(key, longest, aad)
    assert perspective(encrypted) == encrypted  # the bound fits the longest value's form
    with pytest.raises(InvalidEventError) as too_long:
        perspective("x" * 20_001)
    assert "at most 20000 characters" in too_long.value.message
    for forged in (v.ENCRYPTED_PREFIX + "not base64!", encrypted + "AAAA"):
        with pytest.raises(InvalidEventError) as refused:
            perspective(forged)
        assert "must be one ltflow encrypted" in refused.value.message
    name = encrypt_field_deterministic(key, "\U0001f600" * 200, b"team/p-1/display_name")
    invite = {"type": "participant.invited", "event_id": "i", "participant_id": "p-1",
              "role": "nurse", "display_name": name}  # fmt: skip
    assert getattr(v.parse_sender_event(invite), "display_name") == name  # noqa: B009
