"""The rulebook, cell by cell: every event type in every phase, then every rule of the method.

Each state is genuine: a team walked there by valid events (see ``builders``). The expected
phases are written down here from contract section 2, independently of ``rules.ALLOWED_PHASES``,
so a drift in the rulebook's table shows up as a failing cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from ltflow.aggregates import rules
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import (
    IdempotencyConflictError,
    InvalidEventError,
    LtflowError,
    RuleViolatedError,
    WrongPhaseError,
)
from ltflow.aggregates.learning_team import LearningTeam
from ltflow.aggregates.state import ERASED_FINGERPRINT, Phase, Processed, Status, evolve
from tests.unit.builders import (
    EVERYWHERE,
    T0,
    TEAM_ID,
    Walk,
    Where,
    convene_cmd,
    replay,
    walk_to,
    where_id,
)

P = Phase
ALL = frozenset(Phase)

#: Contract section 2, written out: the phases each type may arrive in. Two readings of the
#: contract are deliberate in the rulebook and pinned here: a participant may withdraw in any
#: phase (people may always step out), and safety nets may still be completed in phase 7.
#: ``participant.erased`` (a person's right to be forgotten) is an extension of the contract.
EXPECTED_PHASES: dict[str, frozenset[Phase]] = {
    # Extension (docs/contract-as-built.md): a withdrawn participant can be replaced while
    # the sessions run.
    "participant.invited": frozenset(
        {P.GOAL_AND_SCOPE, P.SESSION_ONE, P.PROCESSING_TIME, P.SESSION_TWO}
    ),
    "participant.withdrawn": ALL,
    "scope.confirmed": frozenset({P.GOAL_AND_SCOPE}),
    "session.scheduled": frozenset(
        {P.GOAL_AND_SCOPE, P.SESSION_ONE, P.PROCESSING_TIME, P.SESSION_TWO}
    ),
    "perspective.shared": frozenset({P.SESSION_ONE}),
    "session.completed": frozenset({P.SESSION_ONE, P.SESSION_TWO}),
    "reflection.noted": frozenset({P.PROCESSING_TIME}),
    "session.started": frozenset({P.PROCESSING_TIME, P.SESSION_TWO}),
    "red_thread.recorded": frozenset({P.SESSION_TWO}),
    "learning_point.recorded": frozenset({P.SESSION_TWO}),
    "analysis.concluded": frozenset({P.SESSION_TWO}),
    "safety_net.defined": frozenset({P.SAFETY_NETS}),
    "safety_nets.concluded": frozenset({P.SAFETY_NETS}),
    "success_criterion.defined": frozenset({P.FOLLOW_UP}),
    "follow_up.started": frozenset({P.FOLLOW_UP}),
    "review.recorded": frozenset({P.FOLLOW_UP}),
    "safety_net.completed": frozenset({P.FOLLOW_UP, P.COMMUNICATE}),
    "story.communicated": frozenset({P.COMMUNICATE}),
    "team.closed": frozenset({P.COMMUNICATE}),
    "team.abandoned": ALL,
    "participant.erased": ALL,
    # Extensions (issue 14): roles change hands and consent changes in every phase.
    "sponsor.assigned": ALL,
    "facilitator.handed_over": ALL,
    "consent.changed": ALL,
    "reflection.reminder_due": frozenset({P.PROCESSING_TIME}),
    "reflection.overdue": frozenset({P.PROCESSING_TIME}),
    "review.due": frozenset({P.FOLLOW_UP}),
    "follow_up.ended": frozenset({P.FOLLOW_UP}),
    # Reminders for every deadline (issue 16).
    "session.reminder_due": frozenset(
        {P.GOAL_AND_SCOPE, P.SESSION_ONE, P.PROCESSING_TIME, P.SESSION_TWO}
    ),
    "reflection.prompt_due": frozenset({P.PROCESSING_TIME}),
    "safety_net.reminder_due": frozenset({P.SAFETY_NETS, P.FOLLOW_UP, P.COMMUNICATE}),
    "safety_net.overdue": frozenset({P.SAFETY_NETS, P.FOLLOW_UP, P.COMMUNICATE}),
    "safety_net.escalated": frozenset({P.SAFETY_NETS, P.FOLLOW_UP, P.COMMUNICATE}),
    "follow_up.ending_due": frozenset({P.FOLLOW_UP}),
}
#: Recorded by ltflow as consequences only; ``decide`` refuses them as input.
NEVER_DECIDED = frozenset({"team.convened", "phase.entered", "reflection.opened"})
#: Still accepted once the team is closed or abandoned.
AFTER_THE_END = frozenset({"participant.erased", "consent.changed"})


# --- a valid instance of every type, for the team as it stands -----------------------------------


def _started_sessions(walk: Walk) -> list[int]:
    return [n for n, s in walk.state.sessions.items() if s.started_at is not None]


def _next_session(walk: Walk) -> int:
    return max(_started_sessions(walk), default=0) + 1


def _open_or_next(walk: Walk) -> int:
    state = walk.state
    if state.phase <= P.SESSION_ONE:
        return 1
    for n in sorted(state.sessions):
        if state.sessions[n].started_at is not None and state.sessions[n].completed_at is None:
            return n
    return _next_session(walk)


def _scheduled(walk: Walk) -> c.Command:
    phase = walk.state.phase
    if phase <= P.SESSION_ONE:
        return c.SessionScheduled(
            event_id=walk.eid("schedule"), session=1, at=walk.now + timedelta(days=1)
        )
    if phase is P.PROCESSING_TIME:
        assert walk.state.reflection_earliest is not None
        return c.SessionScheduled(
            event_id=walk.eid("schedule"), session=2, at=walk.state.reflection_earliest
        )
    return c.SessionScheduled(
        event_id=walk.eid("schedule"), session=_next_session(walk), at=walk.now + timedelta(days=7)
    )


def _completed(walk: Walk) -> c.Command:
    return c.SessionCompleted(
        event_id=walk.eid("complete"),
        session=_open_or_next(walk),
        attendees=walk.state.active_participants[:3],
    )


def _started(walk: Walk) -> c.Command:
    session = 2 if walk.state.phase <= P.PROCESSING_TIME else _next_session(walk)
    return c.SessionStarted(event_id=walk.eid("start"), session=session)


def _first(items: list[str], default: str) -> str:
    return items[0] if items else default


VALID: dict[str, Callable[[Walk], c.Command]] = {
    "team.convened": lambda w: convene_cmd(),
    "participant.invited": lambda w: c.ParticipantInvited(
        event_id=w.eid("invite"), participant_id="p-eva", role="pharmacist"
    ),
    "participant.withdrawn": lambda w: c.ParticipantWithdrawn(
        event_id=w.eid("withdraw"), participant_id=w.state.active_participants[0]
    ),
    "scope.confirmed": lambda w: c.ScopeConfirmed(event_id=w.eid("scope")),
    "session.scheduled": _scheduled,
    "perspective.shared": lambda w: c.PerspectiveShared(
        event_id=w.eid("perspective"),
        participant_id="p-anna",
        perspective="I was covering two wards.",
        consent_to_share=False,
    ),
    "session.completed": _completed,
    "reflection.noted": lambda w: c.ReflectionNoted(
        event_id=w.eid("note"), participant_id="p-bram", note="The pager never stops."
    ),
    "session.started": _started,
    "red_thread.recorded": lambda w: c.RedThreadRecorded(
        event_id=w.eid("red-thread"), summary="Hand-over and round overlap."
    ),
    "learning_point.recorded": lambda w: c.LearningPointRecorded(
        event_id=w.eid("lp"), learning_point_id="lp-new", kind="keep", text="Ask, don't assume."
    ),
    "analysis.concluded": lambda w: c.AnalysisConcluded(event_id=w.eid("analysis")),
    "safety_net.defined": lambda w: c.SafetyNetDefined(
        event_id=w.eid("sn"),
        safety_net_id="sn-new",
        kind="micro_action",
        description="A quiet vest during the round.",
        owner="p-chen",
    ),
    "safety_nets.concluded": lambda w: c.SafetyNetsConcluded(event_id=w.eid("nets")),
    "success_criterion.defined": lambda w: c.SuccessCriterionDefined(
        event_id=w.eid("criterion"),
        criterion_id="c-new",
        safety_net_id=_first(list(w.state.safety_nets), "sn-1"),
        description="Vest worn.",
        target="Every round.",
    ),
    "follow_up.started": lambda w: c.FollowUpStarted(event_id=w.eid("follow-up")),
    "review.recorded": lambda w: c.ReviewRecorded(
        event_id=w.eid("review"),
        criterion_id=_first(list(w.state.criteria), "c-1"),
        observed="Worn in 3 of 5 rounds.",
        met=False,
    ),
    "safety_net.completed": lambda w: c.SafetyNetCompleted(
        event_id=w.eid("sn-done"),
        safety_net_id=_first([k for k, done in w.state.safety_nets.items() if not done], "sn-1"),
    ),
    "story.communicated": lambda w: c.StoryCommunicated(
        event_id=w.eid("story"), audience="Ward managers", channel="meeting", summary="Our story."
    ),
    "team.closed": lambda w: c.TeamClosed(event_id=w.eid("close")),
    "team.abandoned": lambda w: c.TeamAbandoned(event_id=w.eid("abandon"), reason="Reorganised."),
    "participant.erased": lambda w: c.ParticipantErased(
        event_id=w.eid("erase"), participant_id="p-dewi", reason="Asked to be forgotten."
    ),
    "sponsor.assigned": lambda w: c.SponsorAssigned(
        event_id=w.eid("sponsor"), sponsor_id="sub-manager", name="Ward manager"
    ),
    "facilitator.handed_over": lambda w: c.FacilitatorHandedOver(
        event_id=w.eid("handover"), facilitator="Fleur", facilitator_id="sub-fleur"
    ),
    "consent.changed": lambda w: c.ConsentChanged(
        event_id=w.eid("consent"), participant_id="p-dewi", consent_to_share=True
    ),
    "phase.entered": lambda w: c.PhaseEntered(
        event_id=w.eid("phase"),
        phase=min(int(w.state.phase) + 1, 7),
        name=Phase(min(int(w.state.phase) + 1, 7)).label,
    ),
    "reflection.opened": lambda w: c.ReflectionOpened(
        event_id=w.eid("reflection"),
        earliest=w.now + timedelta(days=1),
        latest=w.now + timedelta(days=14),
    ),
    "reflection.reminder_due": lambda w: c.ReflectionReminderDue(
        event_id=w.eid("reminder"), latest=w.state.reflection_latest or w.now
    ),
    "reflection.overdue": lambda w: c.ReflectionOverdue(
        event_id=w.eid("overdue"),
        latest=w.state.reflection_latest or w.now,
        facilitator=w.state.facilitator,
    ),
    "review.due": lambda w: c.ReviewDue(
        event_id=w.eid("review-due"), review=1, criteria=list(w.state.criteria) or ["c-1"]
    ),
    "follow_up.ended": lambda w: c.FollowUpEnded(
        event_id=w.eid("follow-up-ended"), outcome="period_ended"
    ),
    "session.reminder_due": lambda w: c.SessionReminderDue(
        event_id=w.eid("session-reminder"), **_upcoming_session(w)
    ),
    "reflection.prompt_due": lambda w: c.ReflectionPromptDue(
        event_id=w.eid("prompt"), earliest=w.state.reflection_earliest or w.now
    ),
    "safety_net.reminder_due": lambda w: c.SafetyNetReminderDue(
        event_id=w.eid("net-reminder"), **_net_with_due(w)
    ),
    "safety_net.overdue": lambda w: c.SafetyNetOverdue(
        event_id=w.eid("net-overdue"), **_net_with_due(w)
    ),
    "safety_net.escalated": lambda w: c.SafetyNetEscalated(
        event_id=w.eid("net-escalated"), sponsor_id="sub-manager", **_net_with_due(w)
    ),
    "follow_up.ending_due": lambda w: c.FollowUpEndingDue(
        event_id=w.eid("ending"), ends=w.state.follow_up_ends_at or w.now
    ),
}


def _upcoming_session(walk: Walk) -> dict[str, object]:
    """The first session scheduled and not yet held (session 1 at now, if none)."""
    for number, session in sorted(walk.state.sessions.items()):
        held = session.started_at or session.completed_at
        if session.scheduled_at is not None and not held:
            return {"session": number, "at": session.scheduled_at}
    return {"session": 1, "at": walk.now}


def _net_with_due(walk: Walk) -> dict[str, object]:
    """The first open safety net with a due date (an unknown one, if none)."""
    for net_id, due in sorted(walk.state.safety_net_due.items()):
        if not walk.state.safety_nets.get(net_id, True):
            return {"safety_net_id": net_id, "due": due}
    return {"safety_net_id": "sn-none", "due": walk.now.date()}


# --- per-type prerequisites, met by valid events within the allowed phase ------------------------


def _meet_session_start(walk: Walk) -> None:
    if walk.state.phase is P.PROCESSING_TIME:
        walk.past_reflection()
    else:
        walk.complete(2)


def _meet_analysis(walk: Walk) -> None:
    walk.red_thread()
    walk.learning_point("lp-1")
    walk.complete(2)


def _meet_follow_up(walk: Walk) -> None:
    walk.criterion("c-1")
    walk.start_follow_up()


def _meet_safety_nets(walk: Walk) -> None:
    walk.safety_net("sn-1")


def _meet_criterion(walk: Walk) -> None:
    walk.criterion("c-1")


def _meet_close(walk: Walk) -> None:
    walk.story()


def _meet_session_reminder(walk: Walk) -> None:
    if _upcoming_session(walk)["at"] != walk.now:
        return
    state = walk.state
    if state.phase is P.GOAL_AND_SCOPE:
        walk.schedule(1, walk.now + timedelta(days=2))
    elif state.phase is P.PROCESSING_TIME:
        assert state.reflection_earliest is not None
        walk.schedule(2, state.reflection_earliest)
    else:
        walk.schedule(_next_session(walk), walk.now + timedelta(days=7))


def _meet_net_deadline(walk: Walk) -> None:
    if walk.state.phase is P.SAFETY_NETS and not walk.state.safety_net_due:
        walk.safety_net("sn-due", due=(walk.now + timedelta(days=10)).date())


PREPARE: dict[str, Callable[[Walk], None]] = {
    "session.reminder_due": _meet_session_reminder,
    "safety_net.reminder_due": _meet_net_deadline,
    "safety_net.overdue": _meet_net_deadline,
    "safety_net.escalated": _meet_net_deadline,
    "follow_up.ending_due": _meet_follow_up,
    "session.started": _meet_session_start,
    "analysis.concluded": _meet_analysis,
    "safety_nets.concluded": _meet_safety_nets,
    "follow_up.started": _meet_criterion,
    "review.recorded": _meet_follow_up,
    "review.due": _meet_follow_up,
    "follow_up.ended": _meet_follow_up,
    "team.closed": _meet_close,
}


@dataclass(frozen=True)
class Cell:
    type: str
    where: Where
    expect: str  # "allowed" | "wrong_phase" | "invalid_event"


def _expectation(type_: str, where: Where) -> str:
    if type_ in NEVER_DECIDED:
        return "invalid_event"
    if isinstance(where, Phase) and where in EXPECTED_PHASES[type_]:
        return "allowed"
    if not isinstance(where, Phase) and type_ in AFTER_THE_END:
        return "allowed"
    return "wrong_phase"


CELLS = [Cell(t, w, _expectation(t, w)) for t in c.ALL_TYPES for w in EVERYWHERE]


@pytest.mark.parametrize(
    "cell", CELLS, ids=[f"{x.type}-in-{where_id(x.where)}-{x.expect}" for x in CELLS]
)
def test_event_type_in_phase_matrix(cell: Cell) -> None:
    walk = walk_to(cell.where)
    if cell.expect == "allowed" and cell.type in PREPARE:
        PREPARE[cell.type](walk)
        assert walk.state.phase is cell.where, "preparing must not leave the phase"
    walk.tick()
    cmd = VALID[cell.type](walk)
    before = walk.state.model_dump()

    if cell.expect == "allowed":
        decided = walk.decide(cmd)
        assert decided[0] is cmd
        assert all(e.type in c.SYSTEM_TYPES for e in decided[1:])
        assert all(e.event_id.startswith(f"{cmd.event_id}#") for e in decided[1:])
        assert walk.state.model_dump() == before
        version = walk.state.version
        walk.send(cmd)
        assert walk.state.version == version + len(decided)
        return

    error: type[LtflowError] = (
        InvalidEventError if cell.expect == "invalid_event" else WrongPhaseError
    )
    with pytest.raises(error) as raised:
        walk.decide(cmd)
    assert raised.value.code == cell.expect
    if cell.expect == "invalid_event":
        assert "recorded by ltflow itself" in raised.value.message
    elif isinstance(cell.where, Phase):
        assert f"not allowed in phase {int(cell.where)}" in raised.value.message
        assert raised.value.details["allowed_phases"] == sorted(
            int(p) for p in EXPECTED_PHASES[cell.type]
        )
    else:
        assert f"The team is {cell.where}; nothing more can be recorded" in raised.value.message
    assert walk.state.model_dump() == before


def test_the_matrix_covers_every_type_of_the_vocabulary() -> None:
    assert set(EXPECTED_PHASES) | NEVER_DECIDED == set(c.ALL_TYPES)
    assert set(VALID) == set(c.ALL_TYPES)
    assert set(EXPECTED_PHASES) == set(rules.ALLOWED_PHASES)


# --- team size and participants ------------------------------------------------------------------


def _phase_one(participants: int) -> Walk:
    walk = Walk.open()
    for i in range(participants):
        walk.invite(f"p-{i + 1}")
    return walk


def test_scope_confirmation_is_rejected_with_only_two_participants() -> None:
    walk = _phase_one(2)
    with pytest.raises(RuleViolatedError, match="needs 3 to 8 participants; there are 2"):
        walk.confirm_scope()
    assert walk.state.phase is P.GOAL_AND_SCOPE


def test_withdrawn_participants_do_not_count_towards_the_team_size() -> None:
    walk = _phase_one(4)
    walk.withdraw("p-1")
    walk.withdraw("p-2")
    with pytest.raises(RuleViolatedError, match="there are 2"):
        walk.confirm_scope()


@pytest.mark.parametrize("size", [3, 8], ids=["three-participants", "eight-participants"])
def test_scope_confirmation_enters_session_one_with_three_to_eight_participants(
    size: int,
) -> None:
    walk = _phase_one(size)
    decided = walk.confirm_scope()
    assert [e.type for e in decided] == ["scope.confirmed", "phase.entered"]
    assert walk.state.phase is P.SESSION_ONE


def test_a_ninth_active_participant_cannot_be_invited() -> None:
    walk = _phase_one(8)
    with pytest.raises(RuleViolatedError, match="at most 8 participants; the team is full"):
        walk.invite("p-9")
    assert len(walk.state.active_participants) == 8


def test_a_withdrawal_makes_room_for_a_new_participant_in_a_full_team() -> None:
    walk = _phase_one(8)
    walk.withdraw("p-3")
    walk.invite("p-9")
    assert len(walk.state.active_participants) == 8
    assert "p-9" in walk.state.active_participants


def test_inviting_someone_already_on_the_team_is_rejected() -> None:
    walk = _phase_one(3)
    with pytest.raises(RuleViolatedError, match="'p-2' is already on the team"):
        walk.invite("p-2")


def test_withdrawing_someone_not_on_the_team_is_rejected() -> None:
    walk = _phase_one(3)
    with pytest.raises(RuleViolatedError, match="'p-stranger' is not on the team"):
        walk.withdraw("p-stranger")


def test_withdrawing_someone_twice_is_rejected() -> None:
    walk = _phase_one(3)
    walk.withdraw("p-1")
    with pytest.raises(RuleViolatedError, match="'p-1' is not on the team"):
        walk.withdraw("p-1")


def test_a_withdrawn_participant_may_be_invited_again() -> None:
    walk = _phase_one(3)
    walk.withdraw("p-1")
    decided = walk.invite("p-1")
    assert decided[0].type == "participant.invited"
    assert walk.state.participants["p-1"] is True


def test_a_perspective_needs_a_team_member() -> None:
    walk = walk_to(P.SESSION_ONE)
    with pytest.raises(RuleViolatedError, match="'p-stranger' is not on the team; invite them"):
        walk.share("p-stranger")


def test_attendees_of_a_session_must_be_on_the_team() -> None:
    walk = walk_to(P.SESSION_ONE)
    with pytest.raises(RuleViolatedError, match="not on it: p-stranger") as raised:
        walk.complete(1, ["p-anna", "p-bram", "p-stranger"])
    assert raised.value.details == {"unknown": ["p-stranger"]}
    assert walk.state.phase is P.SESSION_ONE


def test_a_withdrawn_participant_cannot_attend_a_session() -> None:
    walk = walk_to(P.SESSION_ONE)
    walk.withdraw("p-chen")
    with pytest.raises(RuleViolatedError, match="Attendees must be on the team; not on it: p-chen"):
        walk.complete(1, ["p-anna", "p-bram", "p-chen"])


def test_a_reflection_note_needs_a_team_member() -> None:
    walk = walk_to(P.PROCESSING_TIME)
    with pytest.raises(RuleViolatedError, match="'p-stranger' is not on the team"):
        walk.note("p-stranger")


def test_completing_session_one_needs_at_least_three_attendees() -> None:
    walk = walk_to(P.SESSION_ONE)
    with pytest.raises(RuleViolatedError, match="needs 3 to 8 attendees; there are 2"):
        walk.complete(1, ["p-anna", "p-bram"])
    assert walk.state.phase is P.SESSION_ONE


def test_completing_session_one_opens_the_reflection_window() -> None:
    walk = walk_to(P.SESSION_ONE)
    decided = walk.complete(1, ["p-anna", "p-bram", "p-chen"])
    assert [e.type for e in decided] == ["session.completed", "phase.entered", "reflection.opened"]
    opened = decided[2]
    assert isinstance(opened, c.ReflectionOpened)
    assert opened.earliest == walk.now + timedelta(days=1)
    assert opened.latest == walk.now + timedelta(days=14)
    assert walk.state.reflection_earliest == opened.earliest
    assert walk.state.phase is P.PROCESSING_TIME


def test_completing_a_later_session_needs_at_least_three_attendees() -> None:
    walk = walk_to(P.SESSION_TWO)
    with pytest.raises(RuleViolatedError, match="needs 3 to 8 attendees; there are 2"):
        walk.complete(2, ["p-anna", "p-bram"])


# --- the reflection window and session 2 ---------------------------------------------------------


def test_session_two_cannot_be_scheduled_before_session_one_is_completed() -> None:
    walk = walk_to(P.SESSION_ONE)
    with pytest.raises(RuleViolatedError, match="once session 1 is completed"):
        walk.schedule(2, walk.now + timedelta(days=5))


def test_session_two_cannot_be_scheduled_before_the_reflection_window_opens() -> None:
    walk = walk_to(P.PROCESSING_TIME)
    earliest = walk.state.reflection_earliest
    assert earliest is not None
    with pytest.raises(RuleViolatedError) as raised:
        walk.schedule(2, earliest - timedelta(seconds=1))
    assert earliest.isoformat() in raised.value.message
    assert "before the reflection period allows it" in raised.value.message
    assert raised.value.details == {"earliest": earliest.isoformat()}


def test_session_two_may_be_scheduled_exactly_when_the_reflection_window_opens() -> None:
    walk = walk_to(P.PROCESSING_TIME)
    assert walk.state.reflection_earliest is not None
    walk.schedule(2, walk.state.reflection_earliest)
    assert walk.state.sessions[2].scheduled_at == walk.state.reflection_earliest


def test_session_two_cannot_start_before_the_minimum_reflection_has_passed() -> None:
    walk = walk_to(P.PROCESSING_TIME)
    earliest = walk.state.reflection_earliest
    assert earliest is not None
    with pytest.raises(RuleViolatedError) as raised:
        walk.start_session(2, at=earliest - timedelta(microseconds=1))
    assert raised.value.code == "rule_violated"
    assert f"the earliest start is {earliest.isoformat()}" in raised.value.message
    assert "reflection period of 1 day" in raised.value.message
    assert walk.state.phase is P.PROCESSING_TIME


def test_session_two_may_start_exactly_at_the_earliest_moment() -> None:
    walk = walk_to(P.PROCESSING_TIME)
    earliest = walk.state.reflection_earliest
    assert earliest is not None
    decided = walk.start_session(2, at=earliest)
    assert [e.type for e in decided] == ["session.started", "phase.entered"]
    assert walk.state.phase is P.SESSION_TWO


def test_a_short_policy_shortens_the_reflection_window() -> None:
    policy = c.Policy(
        min_reflection=timedelta(seconds=10),
        max_reflection=timedelta(minutes=1),
        reflection_reminder_before=timedelta(seconds=20),
    )
    walk = walk_to(P.PROCESSING_TIME, policy)
    completed = walk.state.sessions[1].completed_at
    assert completed is not None
    assert walk.state.reflection_earliest == completed + timedelta(seconds=10)
    walk.start_session(2, at=completed + timedelta(seconds=10))
    assert walk.state.phase is P.SESSION_TWO


def test_after_the_processing_time_only_session_two_may_start() -> None:
    walk = walk_to(P.PROCESSING_TIME)
    walk.past_reflection()
    with pytest.raises(RuleViolatedError, match="session 2 comes next"):
        walk.start_session(3, at=walk.now)


def test_a_session_that_has_taken_place_cannot_be_scheduled_again() -> None:
    walk = walk_to(P.PROCESSING_TIME)
    with pytest.raises(RuleViolatedError, match="Session 1 has already taken place"):
        walk.schedule(1, walk.now + timedelta(days=1))


# --- sessions 3 and later ------------------------------------------------------------------------


def test_session_three_cannot_be_scheduled_before_session_two_has_started() -> None:
    walk = walk_to(P.PROCESSING_TIME)
    with pytest.raises(RuleViolatedError, match="once session 2 has started"):
        walk.schedule(3, walk.now + timedelta(days=20))


def test_session_three_may_be_scheduled_once_session_two_has_started() -> None:
    walk = walk_to(P.SESSION_TWO)
    at = walk.now + timedelta(days=7)
    walk.schedule(3, at)
    assert walk.state.sessions[3].scheduled_at == at


def test_session_three_cannot_start_while_session_two_is_in_progress() -> None:
    walk = walk_to(P.SESSION_TWO)
    with pytest.raises(RuleViolatedError, match="complete session 2 first"):
        walk.start_session(3)


def test_sessions_start_in_order_without_skipping() -> None:
    walk = walk_to(P.SESSION_TWO)
    walk.complete(2)
    with pytest.raises(RuleViolatedError, match="then start session 3"):
        walk.start_session(4)


def test_sessions_three_and_four_run_after_session_two() -> None:
    walk = walk_to(P.SESSION_TWO)
    walk.complete(2)
    assert walk.start_session(3)[1:] == []
    assert walk.complete(3)[1:] == []
    walk.start_session(4)
    walk.complete(4)
    assert all(walk.state.sessions[n].completed_at is not None for n in (2, 3, 4))
    assert walk.state.phase is P.SESSION_TWO


def test_a_session_that_was_not_started_cannot_be_completed() -> None:
    walk = walk_to(P.SESSION_TWO)
    walk.complete(2)
    with pytest.raises(RuleViolatedError, match="Session 3 cannot be completed: no session"):
        walk.complete(3)


def test_only_the_session_in_progress_can_be_completed() -> None:
    walk = walk_to(P.SESSION_TWO)
    with pytest.raises(RuleViolatedError, match="the session in progress is 2"):
        walk.complete(3)


def test_session_one_cannot_be_completed_in_session_two() -> None:
    walk = walk_to(P.SESSION_TWO)
    with pytest.raises(RuleViolatedError, match="Session 1 cannot be completed now"):
        walk.complete(1)


# --- analysis ------------------------------------------------------------------------------------


def test_the_analysis_needs_a_red_thread() -> None:
    walk = walk_to(P.SESSION_TWO)
    walk.learning_point("lp-1")
    walk.complete(2)
    with pytest.raises(RuleViolatedError, match="at least one red thread and one learning point"):
        walk.conclude_analysis()


def test_the_analysis_needs_a_learning_point() -> None:
    walk = walk_to(P.SESSION_TWO)
    walk.red_thread()
    walk.complete(2)
    with pytest.raises(RuleViolatedError, match="at least one red thread and one learning point"):
        walk.conclude_analysis()


def test_the_analysis_cannot_conclude_while_a_session_is_in_progress() -> None:
    walk = walk_to(P.SESSION_TWO)
    walk.red_thread()
    walk.learning_point("lp-1")
    with pytest.raises(RuleViolatedError, match="Session 2 is still in progress"):
        walk.conclude_analysis()


def test_concluding_the_analysis_enters_the_safety_nets_phase() -> None:
    walk = walk_to(P.SESSION_TWO)
    walk.red_thread()
    walk.learning_point("lp-1")
    walk.complete(2)
    decided = walk.conclude_analysis()
    assert [e.type for e in decided] == ["analysis.concluded", "phase.entered"]
    assert walk.state.phase is P.SAFETY_NETS


def test_a_learning_point_id_cannot_be_recorded_twice() -> None:
    walk = walk_to(P.SESSION_TWO)
    walk.learning_point("lp-1")
    with pytest.raises(RuleViolatedError, match="'lp-1' is already recorded"):
        walk.learning_point("lp-1", "keep")


# --- safety nets ---------------------------------------------------------------------------------


def test_a_safety_net_id_cannot_be_defined_twice() -> None:
    walk = walk_to(P.SAFETY_NETS)
    walk.safety_net("sn-1")
    with pytest.raises(RuleViolatedError, match="Safety net 'sn-1' is already defined"):
        walk.safety_net("sn-1")


def test_a_safety_net_addresses_only_recorded_learning_points() -> None:
    walk = walk_to(P.SAFETY_NETS)
    with pytest.raises(RuleViolatedError, match="only address recorded learning points; unknown"):
        walk.safety_net("sn-1", addresses=["lp-change-1", "lp-ghost"])


def test_an_experiment_needs_a_hypothesis() -> None:
    walk = walk_to(P.SAFETY_NETS)
    with pytest.raises(RuleViolatedError, match="An experiment needs a hypothesis"):
        walk.safety_net("sn-1", kind="experiment")


def test_an_experiment_with_a_hypothesis_is_defined() -> None:
    walk = walk_to(P.SAFETY_NETS)
    walk.safety_net("sn-1", kind="experiment", hypothesis="Fewer interruptions.")
    assert walk.state.safety_nets == {"sn-1": False}


def test_the_safety_nets_phase_needs_at_least_one_safety_net() -> None:
    walk = walk_to(P.SAFETY_NETS)
    with pytest.raises(RuleViolatedError, match="at least one safety net"):
        walk.conclude_safety_nets()


def test_concluding_the_safety_nets_enters_follow_up() -> None:
    walk = walk_to(P.SAFETY_NETS)
    walk.safety_net("sn-1")
    decided = walk.conclude_safety_nets()
    assert [e.type for e in decided] == ["safety_nets.concluded", "phase.entered"]
    assert walk.state.phase is P.FOLLOW_UP


def test_an_unknown_safety_net_cannot_be_completed() -> None:
    walk = walk_to(P.FOLLOW_UP)
    with pytest.raises(RuleViolatedError, match="Safety net 'sn-ghost' is not defined"):
        walk.send(c.SafetyNetCompleted(event_id=walk.eid("done"), safety_net_id="sn-ghost"))


def test_a_safety_net_cannot_be_completed_twice() -> None:
    walk = walk_to(P.FOLLOW_UP)
    walk.send(c.SafetyNetCompleted(event_id=walk.eid("done"), safety_net_id="sn-1"))
    assert walk.state.safety_nets["sn-1"] is True
    with pytest.raises(RuleViolatedError, match="'sn-1' is already completed"):
        walk.send(c.SafetyNetCompleted(event_id=walk.eid("done"), safety_net_id="sn-1"))


# --- success criteria and follow-up --------------------------------------------------------------


def test_a_criterion_needs_an_existing_safety_net() -> None:
    walk = walk_to(P.FOLLOW_UP)
    with pytest.raises(RuleViolatedError, match="Safety net 'sn-ghost' is not defined"):
        walk.criterion("c-1", "sn-ghost")


def test_a_criterion_id_cannot_be_defined_twice() -> None:
    walk = walk_to(P.FOLLOW_UP)
    walk.criterion("c-1")
    with pytest.raises(RuleViolatedError, match="'c-1' is already defined"):
        walk.criterion("c-1", "sn-2")


def test_no_criteria_are_added_after_the_follow_up_has_started() -> None:
    walk = walk_to(P.FOLLOW_UP)
    walk.criterion("c-1")
    walk.start_follow_up()
    with pytest.raises(RuleViolatedError, match="fixed once the follow-up has started"):
        walk.criterion("c-2", "sn-2")


def test_the_follow_up_needs_at_least_one_criterion() -> None:
    walk = walk_to(P.FOLLOW_UP)
    with pytest.raises(RuleViolatedError, match="at least one success criterion"):
        walk.start_follow_up()


def test_the_follow_up_starts_only_once() -> None:
    walk = walk_to(P.FOLLOW_UP)
    walk.criterion("c-1")
    walk.start_follow_up()
    assert walk.state.follow_up_started_at == walk.now
    with pytest.raises(RuleViolatedError, match="already started"):
        walk.start_follow_up()


def test_a_review_needs_a_started_follow_up() -> None:
    walk = walk_to(P.FOLLOW_UP)
    walk.criterion("c-1")
    with pytest.raises(RuleViolatedError, match="follow-up has not started yet"):
        walk.review("c-1", met=True)


def test_a_review_of_an_unknown_criterion_is_rejected() -> None:
    walk = walk_to(P.FOLLOW_UP)
    _meet_follow_up(walk)
    with pytest.raises(RuleViolatedError, match="Success criterion 'c-ghost' is not defined"):
        walk.review("c-ghost", met=True)


def test_the_review_that_meets_every_criterion_ends_the_follow_up() -> None:
    walk = walk_to(P.FOLLOW_UP)
    walk.criterion("c-1", "sn-1")
    walk.criterion("c-2", "sn-2")
    walk.start_follow_up()
    assert walk.review("c-1", met=True)[1:] == []
    decided = walk.review("c-2", met=True)
    assert [e.type for e in decided] == ["review.recorded", "follow_up.ended", "phase.entered"]
    ended, entered = decided[1], decided[2]
    assert isinstance(ended, c.FollowUpEnded)
    assert ended.outcome == "criteria_met"
    assert isinstance(entered, c.PhaseEntered)
    assert entered.phase == 7
    assert walk.state.phase is P.COMMUNICATE


def test_a_later_unmet_review_resets_a_criterion() -> None:
    walk = walk_to(P.FOLLOW_UP)
    walk.criterion("c-1", "sn-1")
    walk.criterion("c-2", "sn-2")
    walk.start_follow_up()
    walk.review("c-1", met=True)
    walk.review("c-1", met=False)
    assert walk.review("c-2", met=True)[1:] == []
    assert walk.state.phase is P.FOLLOW_UP
    decided = walk.review("c-1", met=True)
    assert [e.type for e in decided][1:] == ["follow_up.ended", "phase.entered"]


def test_an_unmet_review_keeps_the_follow_up_going() -> None:
    walk = walk_to(P.FOLLOW_UP)
    _meet_follow_up(walk)
    assert walk.review("c-1", met=False)[1:] == []
    assert walk.state.criteria == {"c-1": False}
    assert walk.state.phase is P.FOLLOW_UP


def test_the_end_of_the_follow_up_period_enters_phase_seven() -> None:
    walk = walk_to(P.FOLLOW_UP)
    _meet_follow_up(walk)
    walk.tick(timedelta(days=90))
    decided = walk.send(c.FollowUpEnded(event_id="timer-follow-up-ended", outcome="period_ended"))
    assert [e.type for e in decided] == ["follow_up.ended", "phase.entered"]
    assert walk.state.phase is P.COMMUNICATE


def test_the_follow_up_cannot_end_with_criteria_met_while_one_is_not() -> None:
    walk = walk_to(P.FOLLOW_UP)
    _meet_follow_up(walk)
    with pytest.raises(RuleViolatedError, match="latest review is met yet"):
        walk.send(c.FollowUpEnded(event_id="timer-follow-up-ended", outcome="criteria_met"))


@pytest.mark.parametrize(
    "cmd",
    [
        c.FollowUpEnded(event_id="timer-ended", outcome="period_ended"),
        c.ReviewDue(event_id="timer-review-1", review=1, criteria=["c-1"]),
    ],
    ids=["follow_up.ended", "review.due"],
)
def test_follow_up_timers_need_a_started_follow_up(cmd: c.Command) -> None:
    walk = walk_to(P.FOLLOW_UP)
    walk.criterion("c-1")
    with pytest.raises(RuleViolatedError, match="follow-up has not started yet"):
        walk.send(cmd)


def test_reflection_timers_fire_once_each() -> None:
    walk = walk_to(P.PROCESSING_TIME)
    latest = walk.state.reflection_latest
    assert latest is not None
    walk.send(c.ReflectionReminderDue(event_id="timer-reminder", latest=latest))
    walk.send(c.ReflectionOverdue(event_id="timer-overdue", latest=latest, facilitator="f-fatima"))
    assert walk.state.reflection_reminded
    assert walk.state.reflection_overdue
    with pytest.raises(RuleViolatedError, match="reminder was already sent"):
        walk.send(c.ReflectionReminderDue(event_id="timer-reminder-2", latest=latest))
    with pytest.raises(RuleViolatedError, match="already marked overdue"):
        walk.send(
            c.ReflectionOverdue(event_id="timer-overdue-2", latest=latest, facilitator="f-fatima")
        )


# --- erasure (an extension of the contract: the right to be forgotten) ---------------------------


def _erase(walk: Walk, participant_id: str) -> list[c.Command]:
    walk.tick()
    return walk.send(c.ParticipantErased(event_id=walk.eid("erase"), participant_id=participant_id))


def test_an_erased_participant_leaves_the_team_and_is_listed_as_erased() -> None:
    walk = _phase_one(4)
    assert _erase(walk, "p-2")[1:] == []
    assert walk.state.participants["p-2"] is False
    assert walk.state.erased == ["p-2"]
    assert "p-2" not in walk.state.active_participants


def test_an_erased_participant_no_longer_counts_towards_the_team_size() -> None:
    walk = _phase_one(3)
    _erase(walk, "p-3")
    with pytest.raises(RuleViolatedError, match="there are 2"):
        walk.confirm_scope()


def test_an_erased_participant_cannot_be_invited_again_under_the_same_id() -> None:
    walk = _phase_one(3)
    _erase(walk, "p-1")
    with pytest.raises(RuleViolatedError, match="'p-1' was erased from this team; invite them"):
        walk.invite("p-1")


def test_a_withdrawn_participant_can_still_be_erased() -> None:
    walk = _phase_one(3)
    walk.withdraw("p-1")
    _erase(walk, "p-1")
    assert walk.state.erased == ["p-1"]


def test_someone_who_was_never_on_the_team_cannot_be_erased() -> None:
    walk = _phase_one(3)
    with pytest.raises(RuleViolatedError, match="'p-ghost' was never on this team"):
        _erase(walk, "p-ghost")


def test_a_participant_is_erased_only_once() -> None:
    walk = _phase_one(3)
    _erase(walk, "p-1")
    with pytest.raises(RuleViolatedError, match="'p-1' is already erased"):
        _erase(walk, "p-1")


@pytest.mark.parametrize("where", ["closed", "abandoned"])
def test_a_participant_can_be_erased_after_the_team_has_ended(where: Where) -> None:
    walk = walk_to(where)
    status = walk.state.status
    _erase(walk, "p-bram")
    assert walk.state.erased == ["p-bram"]
    assert walk.state.status is status


def test_an_event_whose_content_was_erased_still_counts_as_a_repeat() -> None:
    walk = walk_to(P.GOAL_AND_SCOPE)
    cmd = c.ParticipantInvited(event_id="inv-eva", participant_id="p-eva", role="nurse")
    walk.tick()
    decided = walk.decide(cmd)
    # As the aggregate folds it once the participant's key is shredded: the digest is unreadable.
    evolve(
        walk.state,
        decided[0],
        version=walk.state.version + 1,
        occurred_at=walk.now,
        fingerprint=ERASED_FINGERPRINT,
    )
    other = c.ParticipantInvited(event_id="inv-eva", participant_id="p-eva", role="doctor")
    seen = rules.check_idempotency(walk.state, other)
    assert seen == Processed(fingerprint=ERASED_FINGERPRINT, version=walk.state.version)


# --- closing and abandoning ----------------------------------------------------------------------


def test_the_team_cannot_close_before_its_story_is_communicated() -> None:
    walk = walk_to(P.COMMUNICATE)
    with pytest.raises(RuleViolatedError, match="Communicate the story at least once"):
        walk.close()
    assert walk.state.status is Status.ACTIVE


def test_the_team_closes_after_its_story_is_communicated() -> None:
    walk = walk_to(P.COMMUNICATE)
    walk.story()
    assert walk.close()[1:] == []
    assert walk.state.status is Status.CLOSED


@pytest.mark.parametrize("phase", list(Phase), ids=where_id)
def test_a_team_can_be_abandoned_in_any_phase_and_then_takes_nothing_more(phase: Phase) -> None:
    walk = walk_to(phase)
    walk.abandon()
    assert walk.state.status is Status.ABANDONED
    assert walk.state.phase is phase
    for type_ in ("team.abandoned", "participant.withdrawn", "team.closed"):
        with pytest.raises(WrongPhaseError, match="The team is abandoned"):
            walk.decide(VALID[type_](walk))


def test_a_closed_team_takes_nothing_more() -> None:
    walk = walk_to("closed")
    with pytest.raises(WrongPhaseError, match="The team is closed") as raised:
        walk.decide(VALID["story.communicated"](walk))
    assert raised.value.details["status"] == "closed"


def test_the_wrong_phase_message_names_the_current_and_the_allowed_phases() -> None:
    walk = walk_to(P.GOAL_AND_SCOPE)
    with pytest.raises(WrongPhaseError) as raised:
        walk.decide(VALID["red_thread.recorded"](walk))
    assert raised.value.message == (
        "'red_thread.recorded' is not allowed in phase 1 (goal and scope); it belongs to "
        "phase 4 (session 2: red thread and learning points)."
    )
    assert raised.value.details == {
        "phase": 1,
        "type": "red_thread.recorded",
        "allowed_phases": [4],
    }


# --- business time -------------------------------------------------------------------------------


def test_occurred_at_in_the_future_beyond_the_clock_skew_is_invalid() -> None:
    walk = walk_to(P.GOAL_AND_SCOPE)
    received = walk.now
    future = received + rules.CLOCK_SKEW + timedelta(seconds=1)
    with pytest.raises(InvalidEventError, match="lies in the future") as raised:
        rules.check_occurred_at(walk.state, future, received)
    assert raised.value.code == "invalid_event"
    assert future.isoformat() in raised.value.message


def test_occurred_at_within_the_clock_skew_is_accepted() -> None:
    walk = walk_to(P.GOAL_AND_SCOPE)
    rules.check_occurred_at(walk.state, walk.now + rules.CLOCK_SKEW, walk.now)
    rules.check_occurred_at(None, walk.now + rules.CLOCK_SKEW, walk.now)


def test_occurred_at_before_the_last_recorded_event_is_rejected() -> None:
    walk = walk_to(P.GOAL_AND_SCOPE)
    last = walk.state.last_occurred_at
    with pytest.raises(RuleViolatedError, match="before the team's last recorded event") as raised:
        rules.check_occurred_at(walk.state, last - timedelta(seconds=1), walk.now)
    assert last.isoformat() in raised.value.message


def test_occurred_at_equal_to_the_last_recorded_event_is_accepted() -> None:
    walk = walk_to(P.GOAL_AND_SCOPE)
    rules.check_occurred_at(walk.state, walk.state.last_occurred_at, walk.now)


def test_a_new_team_has_no_last_event_to_be_before() -> None:
    rules.check_occurred_at(None, T0 - timedelta(days=365), T0)
    with pytest.raises(InvalidEventError):
        rules.check_occurred_at(None, T0 + timedelta(hours=1), T0)


# --- idempotency ---------------------------------------------------------------------------------


def test_a_new_event_id_is_not_a_repeat() -> None:
    walk = walk_to(P.GOAL_AND_SCOPE)
    assert rules.check_idempotency(walk.state, VALID["participant.invited"](walk)) is None


def test_a_repeated_event_answers_with_its_first_record_after_its_consequences() -> None:
    walk = walk_to(P.GOAL_AND_SCOPE)
    cmd = c.ScopeConfirmed(event_id="scope-1")
    decided = walk.send(cmd)
    assert len(decided) == 2
    seen = rules.check_idempotency(walk.state, cmd)
    assert seen == Processed(fingerprint=cmd.fingerprint(), version=walk.state.version)
    walk.share("p-anna")
    assert rules.check_idempotency(walk.state, cmd) == seen


def test_the_same_event_id_with_other_content_is_a_conflict() -> None:
    walk = walk_to(P.GOAL_AND_SCOPE)
    walk.send(c.ParticipantInvited(event_id="inv-1", participant_id="p-eva", role="nurse"))
    other = c.ParticipantInvited(event_id="inv-1", participant_id="p-eva", role="doctor")
    with pytest.raises(IdempotencyConflictError, match="'inv-1' was already used") as raised:
        rules.check_idempotency(walk.state, other)
    assert raised.value.code == "idempotency_conflict"


def test_opening_a_case_again_with_the_same_content_is_no_conflict() -> None:
    walk = walk_to(P.SESSION_ONE)
    rules.check_convene_repeat(walk.state, convene_cmd())


def test_opening_a_case_again_with_other_content_is_a_conflict() -> None:
    walk = walk_to(P.SESSION_ONE)
    with pytest.raises(IdempotencyConflictError, match="already has a Learning Team") as raised:
        rules.check_convene_repeat(walk.state, convene_cmd(goal="Something else."))
    assert raised.value.details["team_id"] == str(TEAM_ID)


# --- the aggregate and the pure fold agree -------------------------------------------------------


def test_the_aggregate_records_the_same_state_as_the_pure_walk() -> None:
    walk = walk_to("closed")
    team = LearningTeam.convene(walk.convened, team_id=TEAM_ID, actor="f-fatima", occurred_at=T0)
    sent = [e for e in walk.log if "#" not in e.event.event_id]
    for entry in sent:
        team.handle(entry.event, actor="f-fatima", occurred_at=entry.at)
    assert team.state.model_dump() == walk.state.model_dump()
    assert team.version == walk.state.version
    assert replay(walk.convened, T0, walk.log).model_dump() == walk.state.model_dump()
