"""A realistic Learning Team, step by step: the case ``ltflow demo`` runs and the tests replay.

A medication-administration incident on a surgical ward: five people are invited and one
withdraws; two sessions with a processing time between them; one thing to keep and two to change;
a micro-action and an experiment; the success criteria are met at the second review; the story is
shared with two other wards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

CASE_REF = "VIM-2026-0412"


@dataclass(frozen=True)
class Step:
    """One thing that happens: ``after`` is the time since the previous step."""

    after: timedelta
    event: dict[str, Any]
    caption: str


def convene(policy: dict[str, str] | None = None, case_ref: str = CASE_REF) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "team.convened",
        "case_ref": case_ref,
        "title": "Double dose of an anticoagulant on surgical ward B3",
        "trigger": "incident",
        "theme": "medication",
        "goal": "Understand how the evening medication round really works, and what made a "
        "double dose possible while everyone did their best.",
        "scope": "Evening medication round on B3, from prescription change to administration, "
        "including the hand-over between day and evening shift.",
        "facilitator": "fac-ingrid",
    }
    if policy is not None:
        body["policy"] = policy
    return body


def _e(event_type: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "event_id": event_id, **fields}


PARTICIPANTS = [
    ("p-anna", "Anna (evening nurse)", "nurse"),
    ("p-bram", "Bram (day nurse)", "nurse"),
    ("p-chen", "Dr. Chen (surgical resident)", "physician"),
    ("p-dewi", "Dewi (hospital pharmacist)", "pharmacist"),
    ("p-eva", "Eva (ward manager)", "manager"),
]
ATTENDEES = ["p-anna", "p-bram", "p-chen", "p-dewi"]


def steps(
    start: datetime,
    reflection: timedelta = timedelta(days=3),
    review_every: timedelta = timedelta(days=28),
) -> list[Step]:
    """The case after ``team.convened`` at ``start``. ``reflection`` is the wait between
    sessions 1 and 2; ``review_every`` spaces the two follow-up reviews."""
    session_1_at = (start + timedelta(days=2)).isoformat()
    due_1 = (start + reflection + timedelta(days=30)).date().isoformat()
    due_2 = (start + reflection + timedelta(days=45)).date().isoformat()
    minute = timedelta(minutes=1)
    noted_after = min(timedelta(hours=20), reflection / 2)
    hour = timedelta(hours=1)
    out: list[Step] = [
        Step(
            minute,
            _e(
                "participant.invited",
                f"inv-{pid}",
                participant_id=pid,
                display_name=name,
                role=role,
            ),
            f"{name} is invited",
        )
        for pid, name, role in PARTICIPANTS
    ]
    out += [
        Step(
            hour,
            _e(
                "participant.withdrawn",
                "wd-eva",
                participant_id="p-eva",
                reason="Prefers not to join as the manager; gives the team room.",
            ),
            "the ward manager withdraws to give the team room",
        ),
        Step(minute, _e("scope.confirmed", "scope-ok"), "goal, scope and team confirmed"),
        Step(
            minute,
            _e("session.scheduled", "sched-1", session=1, at=session_1_at),
            "session 1 scheduled",
        ),
        Step(
            timedelta(days=2),
            _e(
                "perspective.shared",
                "persp-anna",
                participant_id="p-anna",
                perspective="The round started late; the paper list still showed the old dose.",
                consent_to_share=True,
            ),
            "Anna shares her perspective",
        ),
        Step(
            minute,
            _e(
                "perspective.shared",
                "persp-bram",
                participant_id="p-bram",
                perspective="At hand-over I mentioned the change, but the ward was very busy.",
                consent_to_share=False,
            ),
            "Bram shares his perspective (not for the library)",
        ),
        Step(
            minute,
            _e(
                "perspective.shared",
                "persp-chen",
                participant_id="p-chen",
                perspective="I changed the prescription by phone and entered it after the round.",
                consent_to_share=True,
            ),
            "Dr. Chen shares her perspective",
        ),
        Step(
            minute,
            _e(
                "perspective.shared",
                "persp-dewi",
                participant_id="p-dewi",
                perspective="Phone orders bypass our verification step in the evening.",
                consent_to_share=True,
            ),
            "Dewi shares her perspective",
        ),
        Step(
            hour,
            _e("session.completed", "done-1", session=1, attendees=ATTENDEES),
            "session 1 completed: the processing time begins",
        ),
        Step(
            noted_after,
            _e(
                "reflection.noted",
                "refl-anna",
                participant_id="p-anna",
                note="I keep thinking about how often we work around the paper list.",
            ),
            "Anna notes a reflection",
        ),
        Step(
            reflection - noted_after,
            _e("session.started", "start-2", session=2),
            "session 2 starts after the processing time",
        ),
        Step(
            hour,
            _e(
                "red_thread.recorded",
                "red-1",
                summary="Prescription changes outside the round reach the bedside by memory, not "
                "by system.",
            ),
            "the red thread is found",
        ),
        Step(
            minute,
            _e(
                "learning_point.recorded",
                "lp-keep",
                learning_point_id="lp-1",
                kind="keep",
                text="Nurses double-check high-risk medication with each other.",
            ),
            "keep: the double check",
        ),
        Step(
            minute,
            _e(
                "learning_point.recorded",
                "lp-change-1",
                learning_point_id="lp-2",
                kind="change",
                text="Phone orders must be entered before the next round starts.",
            ),
            "change: phone orders",
        ),
        Step(
            minute,
            _e(
                "learning_point.recorded",
                "lp-change-2",
                learning_point_id="lp-3",
                kind="change",
                text="Hand-over names every prescription change explicitly.",
            ),
            "change: the hand-over",
        ),
        Step(
            hour,
            _e("session.completed", "done-2", session=2, attendees=ATTENDEES),
            "session 2 completed",
        ),
        Step(minute, _e("analysis.concluded", "analysis-ok"), "analysis concluded"),
        Step(
            hour,
            _e(
                "safety_net.defined",
                "sn-1",
                safety_net_id="sn-handover",
                kind="micro_action",
                description="Add 'changes since last round' to the hand-over card.",
                owner="p-bram",
                due=due_1,
                addresses=["lp-3"],
            ),
            "micro-action: the hand-over card",
        ),
        Step(
            minute,
            _e(
                "safety_net.defined",
                "sn-2",
                safety_net_id="sn-phone",
                kind="experiment",
                description="For four weeks, the pharmacist calls back on every "
                "evening phone order.",
                owner="p-dewi",
                due=due_2,
                addresses=["lp-2"],
                hypothesis="A call-back closes the gap between phone order and the round.",
            ),
            "experiment: pharmacist call-back",
        ),
        Step(minute, _e("safety_nets.concluded", "nets-ok"), "safety nets concluded"),
        Step(
            hour,
            _e(
                "success_criterion.defined",
                "crit-1",
                criterion_id="c-handover",
                safety_net_id="sn-handover",
                description="Changes named at hand-over",
                target="9 of 10 audited hand-overs name every change",
            ),
            "criterion: hand-over",
        ),
        Step(
            minute,
            _e(
                "success_criterion.defined",
                "crit-2",
                criterion_id="c-phone",
                safety_net_id="sn-phone",
                description="Phone orders verified before the round",
                target="every evening phone order verified",
            ),
            "criterion: phone orders",
        ),
        Step(minute, _e("follow_up.started", "follow-up"), "follow-up starts"),
        Step(
            review_every,
            _e(
                "review.recorded",
                "rev-1a",
                criterion_id="c-handover",
                observed="7 of 10",
                met=False,
            ),
            "first review: hand-over not there yet",
        ),
        Step(
            minute,
            _e(
                "review.recorded",
                "rev-1b",
                criterion_id="c-phone",
                observed="all 12 phone orders verified",
                met=True,
            ),
            "first review: phone orders met",
        ),
        Step(
            minute,
            _e(
                "safety_net.completed",
                "sn-phone-done",
                safety_net_id="sn-phone",
                outcome="Call-back adopted as standard work.",
            ),
            "the experiment is adopted",
        ),
        Step(
            review_every,
            _e(
                "review.recorded",
                "rev-2a",
                criterion_id="c-handover",
                observed="10 of 10",
                met=True,
            ),
            "second review: every criterion met",
        ),
        Step(
            hour,
            _e(
                "story.communicated",
                "story-b2",
                audience="surgical ward B2",
                channel="team meeting",
                summary="How a phone order slipped past the round, and "
                "the two small changes that closed the gap.",
            ),
            "story shared with ward B2",
        ),
        Step(
            minute,
            _e(
                "story.communicated",
                "story-c1",
                audience="surgical ward C1",
                channel="intranet",
                summary="Learning Team B3: phone orders and hand-over.",
            ),
            "story shared with ward C1",
        ),
        Step(minute, _e("team.closed", "closed"), "the team is closed"),
    ]
    return out
