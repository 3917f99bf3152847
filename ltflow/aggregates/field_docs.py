"""What each field of the vocabulary means, and an example of each event type, for OpenAPI.

The vocabulary's classes (:mod:`ltflow.aggregates.vocabulary`) declare the fields; this module
says what they mean, by field name (``"participant_id"``) or, where one name means different
things in different events, by ``"<type>.<field>"``. :func:`describe` is the classes'
``json_schema_extra``: it writes the descriptions and the example into each schema, so OpenAPI
(``/docs``, ``/openapi.json``) carries them. A test checks every field of every event type has a
description and every event type a valid example.
"""

from __future__ import annotations

from typing import Any

FIELDS: dict[str, str] = {
    "type": "The event type: the one value that names this event.",
    "event_id": "The sender's own id for this event; sending it again is a safe retry (the "
    "answer is the first one, marked replayed). It may not contain '#'.",
    "occurred_at": "When it happened (business time), an ISO 8601 time with its zone; a time "
    "without a zone is refused. Unset: when ltflow received it.",
    "case_ref": "The sender's reference for the case (an incident number); the team id derives "
    "from it, and every path takes it in place of the team id.",
    "title": "A short title of the case.",
    "trigger": "Why the team is convened: an incident, a trend around a theme, daily practice, "
    "or a periodic rhythm.",
    "theme": "The theme the case is about (medication, falls, aggression, ...), for trends.",
    "goal": "What the team wants to learn, and why (phase 1 needs it).",
    "scope": "Where the learning stops: the ward, the shift, the part of the work.",
    "facilitator": "Who runs the process (their name or id as the organisation knows it).",
    "facilitator_id": "The facilitator's identity (the subject of their sign-in), for the "
    "access policy; unset when they have no account.",
    "policy": "The team's timing policy; the method's durations when left out.",
    "participant_id": "The participant's id within this team, chosen by the sender.",
    "display_name": "How the participant is shown to the team (personal: encrypted with their "
    "own key, unreadable after erasure).",
    "role": "The participant's role in the work (nurse, physician, pharmacist, ...).",
    "subject": "The participant's identity (the subject of their sign-in), when they have one.",
    "relation": "How the participant stands to the case: staff (default), patient or family.",
    "session": "The session's number: 1, 2, 3, ...",
    "at": "When the session takes place (ISO 8601 with its zone).",
    "perspective": "The participant's own story of the case (personal: encrypted with their key).",
    "consent_to_share": "Whether the participant consents to their text being shared beyond "
    "the team (the learning library).",
    "attendees": "The participant ids of those who attended (3 to 8).",
    "learning_point_id": "The sender's id for this learning point; safety nets address it.",
    "text": "The learning point, in the team's words.",
    "safety_net_id": "The sender's id for this safety net.",
    "owner": "Who owns the safety net (the team owns its improvements).",
    "owner_id": "The owner's identity (the subject of their sign-in), when they have one.",
    "due": "When the safety net should be done (an ISO 8601 date).",
    "addresses": "The ids of the learning points this safety net addresses.",
    "hypothesis": "What the team expects the experiment to show (experiments need one).",
    "criterion_id": "The sender's id for this success criterion.",
    "target": "The value or state that counts as success.",
    "observed": "What the review saw.",
    "met": "Whether the criterion is met at this review.",
    "audience": "Who the story is told to.",
    "channel": "How the story is told (a meeting, the intranet, a newsletter, ...).",
    "sponsor_id": "The sponsor's identity (the manager who gives the team room and time).",
    "phase": "The phase entered (1 to 7).",
    "earliest": "The earliest moment session 2 may start.",
    "latest": "The latest moment session 2 should start.",
    "review": "The number of the review that is due.",
    "criteria": "The success criteria to review.",
    "min_reflection": "Shortest processing time between sessions 1 and 2 (ISO 8601 duration; "
    "the method: P1D).",
    "max_reflection": "Longest processing time before session 2 is overdue (the method: P14D).",
    "reflection_reminder_before": "How long before the latest start of session 2 the "
    "facilitator is reminded (P2D).",
    "review_every": "Time between follow-up reviews (the method: P28D).",
    "follow_up_for": "How long the follow-up runs at most (the method: P90D).",
    # One name, different meanings:
    "participant.withdrawn.reason": "Why the participant withdraws (personal).",
    "team.abandoned.reason": "Why the team stops before the case is complete.",
    "participant.erased.reason": "Why the participant is erased (the request's reference).",
    "reflection.noted.note": "The participant's reflection on session 1 (personal).",
    "review.recorded.note": "A remark on the review.",
    "red_thread.recorded.summary": "The red thread: the pattern that runs through the stories.",
    "story.communicated.summary": "The story as it was told.",
    "learning_point.recorded.kind": "Keep what works, or change what deserves change.",
    "safety_net.defined.kind": "A micro-action, or an experiment (which needs a hypothesis).",
    "safety_net.defined.description": "What the safety net is.",
    "success_criterion.defined.description": "How success is recognised.",
    "safety_net.completed.outcome": "What came of the safety net.",
    "follow_up.ended.outcome": "Why the follow-up ended: every criterion met, or the period ended.",
    "sponsor.assigned.name": "The sponsor's name, as the team knows them.",
    "phase.entered.name": "The phase's name.",
    "facilitator.handed_over.facilitator": "Who facilitates from now on.",
    "reflection.overdue.facilitator": "The facilitator who is told.",
}

AT = "2026-12-02T14:00:00+01:00"
#: One example body of each event type a sender may send (and of team.convened).
EXAMPLES: dict[str, dict[str, Any]] = {
    "team.convened": {
        "case_ref": "VIM-2026-0412",
        "title": "Double dose of an anticoagulant on ward B3",
        "trigger": "incident",
        "theme": "medication",
        "goal": "Understand how the evening medication round really works.",
        "scope": "Evening round on B3, including the hand-over.",
        "facilitator": "fac-ingrid",
    },
    "participant.invited": {"participant_id": "p-anna", "display_name": "Anna", "role": "nurse"},
    "participant.withdrawn": {"participant_id": "p-eva", "reason": "Gives the team room."},
    "scope.confirmed": {},
    "session.scheduled": {"session": 1, "at": AT},
    "perspective.shared": {
        "participant_id": "p-anna",
        "perspective": "The phone order came in the middle of the round.",
        "consent_to_share": True,
    },
    "session.completed": {"session": 1, "attendees": ["p-anna", "p-bram", "p-chen"]},
    "reflection.noted": {"participant_id": "p-anna", "note": "The round is never quiet."},
    "session.started": {"session": 2},
    "red_thread.recorded": {"summary": "Interruptions are normal, and nothing absorbs them."},
    "learning_point.recorded": {
        "learning_point_id": "lp-1",
        "kind": "change",
        "text": "Phone orders during the round.",
    },
    "analysis.concluded": {},
    "safety_net.defined": {
        "safety_net_id": "sn-1",
        "kind": "micro_action",
        "description": "A hand-over card for changed prescriptions.",
        "owner": "Bram",
        "addresses": ["lp-1"],
    },
    "safety_nets.concluded": {},
    "success_criterion.defined": {
        "criterion_id": "c-1",
        "safety_net_id": "sn-1",
        "description": "Changed prescriptions are handed over on the card.",
        "target": "9 of 10 hand-overs",
    },
    "follow_up.started": {},
    "review.recorded": {"criterion_id": "c-1", "observed": "10 of 10", "met": True},
    "safety_net.completed": {"safety_net_id": "sn-1", "outcome": "The card is in use."},
    "story.communicated": {
        "audience": "Wards B2 and B4",
        "channel": "team meeting",
        "summary": "How a hand-over card stopped double doses.",
    },
    "team.closed": {},
    "team.abandoned": {"reason": "The case is handled by a calamity investigation."},
    "participant.erased": {"participant_id": "p-anna", "reason": "Request 2026-17"},
    "sponsor.assigned": {"sponsor_id": "sub-sam", "name": "Sam"},
    "facilitator.handed_over": {"facilitator": "fac-joost"},
    "consent.changed": {"participant_id": "p-anna", "consent_to_share": False},
}


def example(type_: str) -> dict[str, Any] | None:
    """The example body of an event type, with its ``type`` and an ``event_id``."""
    body = EXAMPLES.get(type_)
    if body is None:
        return None
    tail = type_.split(".")[0].replace("_", "-")
    return {"type": type_, "event_id": f"{tail}-1", **body}


def describe(schema: dict[str, Any], cls: type) -> None:
    """``json_schema_extra`` of the vocabulary's classes: each property's description (unless
    it has one), and the event type's example."""
    fields = getattr(cls, "model_fields", {})
    type_field = fields.get("type")
    type_ = getattr(type_field, "default", None) if type_field is not None else None
    for name, prop in schema.get("properties", {}).items():
        text = FIELDS.get(f"{type_}.{name}") or FIELDS.get(name)
        if text and isinstance(prop, dict) and "description" not in prop:
            prop["description"] = text
    found = example(type_) if isinstance(type_, str) else None
    if found is not None:
        schema["examples"] = [found]
