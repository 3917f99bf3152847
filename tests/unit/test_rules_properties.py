"""Properties of the rulebook over random histories (hypothesis).

A history is a random sequence of events sent to one team, mostly plausible for the phase it is in
(so runs get deep into the method), some arbitrary (any type, any ids), some backdated or from the
future, some repeats of an earlier ``event_id``. Each event goes the way the application sends it:
``check_idempotency``, ``check_occurred_at``, ``decide``, then the fold. The driver only records
what happened; the tests state what must hold after every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltflow.aggregates import rules
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import IdempotencyConflictError, LtflowError, RuleViolatedError
from ltflow.aggregates.state import Phase, Processed, Status
from tests.unit.builders import T0, Walk, replay

PEOPLE = [f"p-{i}" for i in range(1, 11)]
LEARNING_POINTS = ["lp-1", "lp-2", "lp-3"]
SAFETY_NETS = ["sn-1", "sn-2", "sn-3"]
CRITERIA = ["c-1", "c-2", "c-3"]
DELTAS = [
    timedelta(hours=1),
    timedelta(0),
    timedelta(minutes=1),
    timedelta(days=1),
    timedelta(days=3),
]
#: How a step is made. "advance" and "plausible" dominate, so that runs reach the later phases.
KINDS = ["advance"] * 3 + ["plausible"] * 8 + ["arbitrary"] * 2
KINDS += ["repeat", "reuse", "backdated", "future"]

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Draw = Callable[[st.SearchStrategy[Any]], Any]


@dataclass
class Step:
    """One event sent, and the state around it (as ``model_dump``)."""

    kind: str
    cmd: c.Command
    outcome: list[c.Command] | Processed | LtflowError
    before: dict[str, Any]
    after: dict[str, Any]
    #: The state right after ``decide`` returned or raised, before anything was folded.
    after_decide: dict[str, Any] | None = None


@dataclass
class History:
    walk: Walk
    steps: list[Step] = field(default_factory=list)
    #: Every accepted sender event: the command and the version its answer was given at.
    accepted: dict[str, tuple[c.Command, int]] = field(default_factory=dict)


# --- generating events ---------------------------------------------------------------------------


def _some(draw: Draw, items: list[str], low: int, high: int) -> list[str]:
    """A few distinct items, in order: the first ``k`` after a random rotation."""
    if not items:
        return []
    k = draw(st.integers(min(low, len(items)), min(high, len(items))))
    shift = draw(st.integers(0, len(items) - 1))
    return (items[shift:] + items[:shift])[:k]


def _one(draw: Draw, items: list[str], fallback: list[str]) -> str:
    return str(draw(st.sampled_from(items or fallback)))


def _advance(walk: Walk, eid: str, team_size: int) -> c.Command:
    """The next step of a well-run case from where the team stands (it may still be too early).

    In phase 1 it invites newcomers until there are ``team_size``; meanwhile plausible steps
    invite more people, so some teams try to grow past the maximum.
    """
    s = walk.state
    active = s.active_participants
    if s.phase is Phase.GOAL_AND_SCOPE:
        if len(active) < team_size:
            newcomer = next(p for p in PEOPLE if p not in active)
            return c.ParticipantInvited(event_id=eid, participant_id=newcomer, role="r")
        return c.ScopeConfirmed(event_id=eid)
    if s.phase is Phase.SESSION_ONE:
        return c.SessionCompleted(event_id=eid, session=1, attendees=active[:8])
    if s.phase is Phase.PROCESSING_TIME:
        return c.SessionStarted(event_id=eid, session=2)
    if s.phase is Phase.SESSION_TWO:
        open_session = _open_session(walk)
        if s.red_threads == 0:
            return c.RedThreadRecorded(event_id=eid, summary="r")
        if not s.learning_points:
            return c.LearningPointRecorded(
                event_id=eid, learning_point_id="lp-1", kind="keep", text="t"
            )
        if open_session is not None:
            return c.SessionCompleted(event_id=eid, session=open_session, attendees=active[:8])
        return c.AnalysisConcluded(event_id=eid)
    if s.phase is Phase.SAFETY_NETS:
        if not s.safety_nets:
            return c.SafetyNetDefined(
                event_id=eid, safety_net_id="sn-1", kind="micro_action", description="d", owner="o"
            )
        return c.SafetyNetsConcluded(event_id=eid)
    if s.phase is Phase.FOLLOW_UP:
        if not s.criteria:
            return c.SuccessCriterionDefined(
                event_id=eid,
                criterion_id="c-1",
                safety_net_id=next(iter(s.safety_nets)),
                description="d",
                target="t",
            )
        if s.follow_up_started_at is None:
            return c.FollowUpStarted(event_id=eid)
        unmet = [k for k, met in s.criteria.items() if not met]
        return c.ReviewRecorded(event_id=eid, criterion_id=unmet[0], observed="o", met=True)
    if s.stories == 0:
        return c.StoryCommunicated(event_id=eid, audience="a", channel="c", summary="s")
    return c.TeamClosed(event_id=eid)


def _open_session(walk: Walk) -> int | None:
    sessions = walk.state.sessions
    return next(
        (n for n in sorted(sessions) if sessions[n].started_at and not sessions[n].completed_at),
        None,
    )


def _plausible(draw: Draw, walk: Walk, eid: str) -> c.Command:
    """An event that fits the team's phase; it may still break a rule (that is fine)."""
    s = walk.state
    active = s.active_participants

    def person() -> str:
        return _one(draw, active, PEOPLE)

    def newcomer() -> str:
        return next((p for p in PEOPLE if p not in active), PEOPLE[0])

    open_session = _open_session(walk)
    next_session = max((n for n in s.sessions if s.sessions[n].started_at), default=1) + 1
    options: dict[Phase, list[Callable[[], c.Command]]] = {
        Phase.GOAL_AND_SCOPE: [  # scope.confirmed comes from _advance, at the drawn team size
            lambda: c.ParticipantInvited(event_id=eid, participant_id=newcomer(), role="r"),
            lambda: c.ParticipantInvited(event_id=eid, participant_id=newcomer(), role="r"),
            lambda: c.ParticipantInvited(
                event_id=eid, participant_id=_one(draw, PEOPLE, []), role="r"
            ),
            lambda: c.ParticipantWithdrawn(event_id=eid, participant_id=person()),
            lambda: c.SessionScheduled(event_id=eid, session=1, at=walk.now + timedelta(days=2)),
        ],
        Phase.SESSION_ONE: [
            lambda: c.SessionCompleted(
                event_id=eid, session=1, attendees=_some(draw, active, 2, 8)
            ),
            lambda: c.PerspectiveShared(
                event_id=eid, participant_id=person(), perspective="p", consent_to_share=True
            ),
        ],
        Phase.PROCESSING_TIME: [
            lambda: c.SessionStarted(event_id=eid, session=2),
            lambda: c.ReflectionNoted(event_id=eid, participant_id=person(), note="n"),
            lambda: c.SessionScheduled(
                event_id=eid, session=2, at=walk.now + draw(st.sampled_from(DELTAS))
            ),
            lambda: c.ReflectionReminderDue(event_id=eid, latest=s.reflection_latest or walk.now),
            lambda: c.ReflectionOverdue(
                event_id=eid, latest=s.reflection_latest or walk.now, facilitator=s.facilitator
            ),
        ],
        Phase.SESSION_TWO: [
            lambda: c.AnalysisConcluded(event_id=eid),
            lambda: c.RedThreadRecorded(event_id=eid, summary="r"),
            lambda: c.LearningPointRecorded(
                event_id=eid,
                learning_point_id=_one(draw, LEARNING_POINTS, []),
                kind=draw(st.sampled_from(["keep", "change"])),
                text="t",
            ),
            lambda: c.SessionCompleted(
                event_id=eid,
                session=open_session or next_session,
                attendees=_some(draw, active, 2, 8),
            ),
            lambda: c.SessionStarted(event_id=eid, session=next_session),
            lambda: c.SessionScheduled(
                event_id=eid, session=next_session, at=walk.now + timedelta(days=7)
            ),
        ],
        Phase.SAFETY_NETS: [
            lambda: c.SafetyNetsConcluded(event_id=eid),
            lambda: _safety_net(draw, walk, eid),
            lambda: _safety_net(draw, walk, eid),
        ],
        Phase.FOLLOW_UP: [
            lambda: c.ReviewRecorded(
                event_id=eid,
                criterion_id=_one(draw, list(s.criteria), CRITERIA),
                observed="o",
                met=draw(st.booleans()),
            ),
            lambda: c.SuccessCriterionDefined(
                event_id=eid,
                criterion_id=_one(draw, CRITERIA, []),
                safety_net_id=_one(draw, list(s.safety_nets), SAFETY_NETS),
                description="d",
                target="t",
            ),
            lambda: c.FollowUpStarted(event_id=eid),
            lambda: c.SafetyNetCompleted(
                event_id=eid, safety_net_id=_one(draw, list(s.safety_nets), SAFETY_NETS)
            ),
            lambda: c.ReviewDue(event_id=eid, review=s.reviews_due + 1, criteria=list(s.criteria)),
            lambda: c.FollowUpEnded(event_id=eid, outcome="period_ended"),
        ],
        Phase.COMMUNICATE: [
            lambda: c.TeamClosed(event_id=eid),
            lambda: c.StoryCommunicated(event_id=eid, audience="a", channel="c", summary="s"),
            lambda: c.SafetyNetCompleted(
                event_id=eid, safety_net_id=_one(draw, list(s.safety_nets), SAFETY_NETS)
            ),
        ],
    }
    # People may step out at any time; in sessions 1 and 2 that may stall the team (fine too).
    withdraw: list[Callable[[], c.Command]] = [
        lambda: c.ParticipantWithdrawn(event_id=eid, participant_id=person())
    ]
    if draw(st.integers(0, 9)) == 0:  # now and then someone asks to be forgotten
        withdraw.append(lambda: c.ParticipantErased(event_id=eid, participant_id=person()))
    make: Callable[[], c.Command] = draw(
        st.sampled_from(options[s.phase] + (withdraw if s.phase >= Phase.PROCESSING_TIME else []))
    )
    return make()


def _safety_net(draw: Draw, walk: Walk, eid: str) -> c.Command:
    kind = draw(st.sampled_from(["micro_action", "experiment"]))
    return c.SafetyNetDefined(
        event_id=eid,
        safety_net_id=_one(draw, SAFETY_NETS, []),
        kind=kind,
        description="d",
        owner="o",
        addresses=_some(draw, [*walk.state.learning_points, "lp-ghost"], 0, 2),
        hypothesis=draw(st.sampled_from(["h", None])),
    )


def _arbitrary(draw: Draw, walk: Walk, eid: str) -> c.Command:
    """Any type of the vocabulary, with ids from small pools, whatever the phase."""
    type_ = str(draw(st.sampled_from(sorted(c.ALL_TYPES))))
    pid = _one(draw, PEOPLE, [])
    fields: dict[str, Any] = {
        "team.convened": {
            "case_ref": "x",
            "title": "t",
            "trigger": "periodic",
            "goal": "g",
            "scope": "s",
            "facilitator": "f",
        },
        "participant.invited": {"participant_id": pid, "role": "r"},
        "participant.withdrawn": {"participant_id": pid},
        "session.scheduled": {"session": draw(st.integers(1, 4)), "at": walk.now},
        "perspective.shared": {
            "participant_id": pid,
            "perspective": "p",
            "consent_to_share": False,
        },
        "session.completed": {
            "session": draw(st.integers(1, 4)),
            "attendees": _some(draw, PEOPLE, 0, 9),
        },
        "reflection.noted": {"participant_id": pid, "note": "n"},
        "session.started": {"session": draw(st.integers(2, 4))},
        "red_thread.recorded": {"summary": "s"},
        "learning_point.recorded": {
            "learning_point_id": _one(draw, LEARNING_POINTS, []),
            "kind": "keep",
            "text": "t",
        },
        "safety_net.defined": {
            "safety_net_id": _one(draw, SAFETY_NETS, []),
            "kind": "experiment",
            "description": "d",
            "owner": "o",
            "hypothesis": "h",
        },
        "success_criterion.defined": {
            "criterion_id": _one(draw, CRITERIA, []),
            "safety_net_id": _one(draw, SAFETY_NETS, []),
            "description": "d",
            "target": "t",
        },
        "review.recorded": {
            "criterion_id": _one(draw, CRITERIA, []),
            "observed": "o",
            "met": draw(st.booleans()),
        },
        "safety_net.completed": {"safety_net_id": _one(draw, SAFETY_NETS, [])},
        "story.communicated": {"audience": "a", "channel": "c", "summary": "s"},
        "team.abandoned": {"reason": "r"},
        "participant.erased": {"participant_id": pid},
        "sponsor.assigned": {"sponsor_id": "sub-s"},
        "facilitator.handed_over": {"facilitator": "f", "facilitator_id": "sub-f"},
        "consent.changed": {"participant_id": pid, "consent_to_share": draw(st.booleans())},
        "phase.entered": {"phase": draw(st.integers(1, 7)), "name": "n"},
        "reflection.opened": {"earliest": walk.now, "latest": walk.now},
        "reflection.reminder_due": {"latest": walk.now},
        "reflection.overdue": {"latest": walk.now, "facilitator": "f"},
        "review.due": {"review": draw(st.integers(1, 3)), "criteria": ["c-1"]},
        "follow_up.ended": {"outcome": draw(st.sampled_from(["criteria_met", "period_ended"]))},
        "session.reminder_due": {"session": draw(st.integers(1, 3)), "at": walk.now},
        "reflection.prompt_due": {"earliest": walk.now},
        "safety_net.reminder_due": {"safety_net_id": "sn-1", "due": walk.now.date()},
        "safety_net.overdue": {"safety_net_id": "sn-1", "due": walk.now.date()},
        "safety_net.escalated": {"safety_net_id": "sn-1", "due": walk.now.date()},
        "follow_up.ending_due": {"ends": walk.now},
    }.get(type_, {})
    return c.ALL_TYPES[type_].model_validate({"type": type_, "event_id": eid, **fields})


# --- the driver ----------------------------------------------------------------------------------


def receive(walk: Walk, cmd: c.Command, received_at: datetime, step: Step) -> None:
    """Send ``cmd`` the way the application does; fold what is decided; record the outcome."""
    walk.now = received_at
    try:
        seen = rules.check_idempotency(walk.state, cmd)
        if seen is not None:
            step.outcome = seen
            return
        at = cmd.occurred_at or received_at
        rules.check_occurred_at(walk.state, at, received_at)
        try:
            decided = rules.decide(walk.state, cmd, at)
        finally:
            step.after_decide = walk.state.model_dump()
        walk.record(decided, at)
        step.outcome = decided
    except LtflowError as error:
        step.outcome = error


def run(draw: Draw, max_steps: int = 80) -> History:
    history = History(walk=Walk.open())
    walk = history.walk
    team_size = draw(st.integers(rules.MIN_TEAM, rules.MAX_TEAM))
    for number in range(draw(st.integers(1, max_steps))):
        kind = str(draw(st.sampled_from(KINDS)))
        if kind in ("repeat", "reuse") and not history.accepted:
            kind = "plausible"
        eid = f"e-{number}"
        received_at = walk.now + draw(st.sampled_from(DELTAS))
        if kind in ("repeat", "reuse"):
            earlier_id = draw(st.sampled_from(sorted(history.accepted)))
            earlier = history.accepted[earlier_id][0]
            if kind == "repeat":
                cmd = earlier
            else:
                cmd = _plausible(draw, walk, eid).model_copy(update={"event_id": earlier_id})
        elif kind == "arbitrary" or walk.state.status is not Status.ACTIVE:
            cmd = _arbitrary(draw, walk, eid)
        elif kind == "advance":
            cmd = _advance(walk, eid, team_size)
        else:
            cmd = _plausible(draw, walk, eid)
        if kind == "backdated":
            cmd = cmd.model_copy(
                update={"occurred_at": walk.state.last_occurred_at - timedelta(seconds=1)}
            )
        elif kind == "future":
            cmd = cmd.model_copy(
                update={"occurred_at": received_at + rules.CLOCK_SKEW + timedelta(seconds=1)}
            )
        step = Step(kind, cmd, outcome=[], before=walk.state.model_dump(), after={})
        receive(walk, cmd, received_at, step)
        step.after = walk.state.model_dump()
        history.steps.append(step)
        if isinstance(step.outcome, list):
            history.accepted[cmd.event_id] = (cmd, walk.state.version)
    return history


def histories() -> st.SearchStrategy[History]:
    @st.composite
    def build(draw: Draw) -> History:
        return run(draw)

    return build()


# --- the properties ------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(histories())
def test_team_size_phase_order_and_versions_hold_after_every_step(history: History) -> None:
    for step in history.steps:
        before, after = step.before, step.after
        decided = len(step.outcome) if isinstance(step.outcome, list) else 0
        assert after["version"] == before["version"] + decided
        assert after["phase"] >= before["phase"]
        assert sum(after["participants"].values()) <= rules.MAX_TEAM
        assert not set(after["erased"]) & {p for p, on in after["participants"].items() if on}
        if before["status"] is not Status.ACTIVE and not step.cmd.after_end:
            assert after == before
        if isinstance(step.outcome, list):
            assert step.outcome[0] is step.cmd


@PROPERTY_SETTINGS
@given(histories())
def test_decide_never_changes_the_state_it_judges(history: History) -> None:
    for step in history.steps:
        if step.after_decide is not None:
            assert step.after_decide == step.before
        if not isinstance(step.outcome, list):
            assert step.after == step.before, f"{step.kind} {step.cmd.type} changed the state"


@PROPERTY_SETTINGS
@given(histories())
def test_folding_the_decided_events_again_gives_the_same_state(history: History) -> None:
    walk = history.walk
    once = replay(walk.convened, T0, walk.log).model_dump()
    twice = replay(walk.convened, T0, walk.log).model_dump()
    assert once == twice == walk.state.model_dump()
    assert [entry.version for entry in walk.log] == list(range(2, walk.state.version + 1))


@PROPERTY_SETTINGS
@given(histories())
def test_a_repeated_event_id_answers_with_its_first_record(history: History) -> None:
    state = history.walk.state
    for event_id, (cmd, version) in history.accepted.items():
        seen = rules.check_idempotency(state, cmd)
        assert seen == Processed(fingerprint=cmd.fingerprint(), version=version), event_id
    for step in history.steps:
        if step.kind == "repeat" and step.cmd.event_id in history.accepted:
            assert isinstance(step.outcome, Processed)


@PROPERTY_SETTINGS
@given(histories())
def test_reusing_an_event_id_for_other_content_is_a_conflict(history: History) -> None:
    for step in history.steps:
        if step.kind != "reuse" or step.cmd.event_id not in history.accepted:
            continue
        first = history.accepted[step.cmd.event_id][0]
        if first.fingerprint() == step.cmd.fingerprint():
            assert isinstance(step.outcome, Processed)
        else:
            assert isinstance(step.outcome, IdempotencyConflictError)


@PROPERTY_SETTINGS
@given(
    st.lists(
        st.tuples(st.sampled_from(["invite", "invite", "withdraw"]), st.sampled_from(PEOPLE)),
        max_size=40,
    )
)
def test_inviting_and_withdrawing_never_makes_a_team_of_more_than_eight(
    moves: list[tuple[str, str]],
) -> None:
    walk = Walk.open()
    expected: set[str] = set()
    for number, (move, person) in enumerate(moves):
        cmd: c.Command
        if move == "invite":
            cmd = c.ParticipantInvited(event_id=f"e-{number}", participant_id=person, role="r")
            allowed = person not in expected and len(expected) < rules.MAX_TEAM
        else:
            cmd = c.ParticipantWithdrawn(event_id=f"e-{number}", participant_id=person)
            allowed = person in expected
        before = walk.state.model_dump()
        try:
            walk.send(cmd)
        except RuleViolatedError:
            assert not allowed
            assert walk.state.model_dump() == before
        else:
            assert allowed
            if move == "invite":
                expected.add(person)
            else:
                expected.discard(person)
        assert set(walk.state.active_participants) == expected
        assert len(expected) <= rules.MAX_TEAM
