"""Builders for the pure rulebook tests: walk a genuine team through the method, event by event.

A :class:`Walk` starts a team with :func:`ltflow.aggregates.state.start` and sends every later
event through :func:`ltflow.aggregates.rules.decide` and :func:`ltflow.aggregates.state.evolve`,
exactly as the aggregate does. So every state a test looks at was reached by valid prior events;
none is assembled by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeAlias
from uuid import NAMESPACE_URL, UUID, uuid5

from ltflow.aggregates import rules
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.state import Phase, Status, TeamState, evolve, start

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CASE_REF = "INC-2026-0042"
TEAM_ID: UUID = uuid5(NAMESPACE_URL, f"ltflow-tests/{CASE_REF}")
#: The four people the standard walk invites (a team needs 3 to 8).
PARTICIPANTS = ("p-anna", "p-bram", "p-chen", "p-dewi")
STEP = timedelta(hours=1)

Where: TypeAlias = Phase | Literal["closed", "abandoned"]
#: Every place a team can be: the seven phases and the two terminal statuses.
EVERYWHERE: tuple[Where, ...] = (*Phase, "closed", "abandoned")


def where_id(where: Where) -> str:
    """A readable test id for a place: ``phase3-processing_time`` or ``closed``."""
    if isinstance(where, Phase):
        return f"phase{int(where)}-{where.name.lower()}"
    return where


def convene_cmd(policy: c.Policy | None = None, **overrides: Any) -> c.TeamConvened:
    fields: dict[str, Any] = {
        "case_ref": CASE_REF,
        "title": "Medication given twice on the night shift",
        "trigger": "incident",
        "theme": "medication",
        "goal": "Understand how double administration could happen in normal night work.",
        "scope": "Ward 4 night shifts, the hand-over and the medication round.",
        "facilitator": "f-fatima",
        **overrides,
    }
    if policy is not None:
        fields["policy"] = policy
    return c.TeamConvened(**fields)


def replay(convened: c.TeamConvened, opened_at: datetime, log: list[Logged]) -> TeamState:
    """Build the state again from scratch from the opening and the decided events."""
    state = start(convened, TEAM_ID, opened_at)
    for entry in log:
        evolve(state, entry.event, version=entry.version, occurred_at=entry.at)
    return state


@dataclass(frozen=True)
class Logged:
    """One recorded event: what, at which version, with which business time."""

    event: c.Command
    version: int
    at: datetime


@dataclass
class Walk:
    """A team on its way through the method, with a hand-moved clock and its full record."""

    convened: c.TeamConvened
    state: TeamState
    now: datetime
    log: list[Logged] = field(default_factory=list)
    counter: int = 0

    @classmethod
    def open(cls, policy: c.Policy | None = None, at: datetime = T0) -> Walk:
        convened = convene_cmd(policy)
        state = start(convened, TEAM_ID, at)
        walk = cls(convened=convened, state=state, now=at)
        walk.record(rules.convene_consequences(convened, at), at)
        return walk

    # --- plumbing -----------------------------------------------------------------------------

    def eid(self, what: str) -> str:
        """A fresh sender event id."""
        self.counter += 1
        return f"evt-{self.counter:03d}-{what}"

    def tick(self, delta: timedelta = STEP) -> datetime:
        self.now = self.now + delta
        return self.now

    def decide(self, cmd: c.Command, at: datetime | None = None) -> list[c.Command]:
        """Only judge ``cmd`` (nothing is folded)."""
        return rules.decide(self.state, cmd, self.now if at is None else at)

    def send(self, cmd: c.Command, at: datetime | None = None) -> list[c.Command]:
        """Judge ``cmd`` and fold what is decided; the clock moves to ``at`` if given."""
        if at is not None:
            self.now = at
        decided = rules.decide(self.state, cmd, self.now)
        self.record(decided, self.now)
        return decided

    def record(self, decided: list[c.Command], at: datetime) -> None:
        """Fold events ``decide`` returned, one version each, and keep them in the log."""
        for event in decided:
            version = self.state.version + 1
            evolve(self.state, event, version=version, occurred_at=at)
            self.log.append(Logged(event, version, at))

    # --- the vocabulary, one sent event each (the clock moves one step first) ----------------

    def invite(self, participant_id: str, role: str = "nurse") -> list[c.Command]:
        self.tick()
        return self.send(
            c.ParticipantInvited(
                event_id=self.eid("invite"), participant_id=participant_id, role=role
            )
        )

    def withdraw(self, participant_id: str) -> list[c.Command]:
        self.tick()
        return self.send(
            c.ParticipantWithdrawn(event_id=self.eid("withdraw"), participant_id=participant_id)
        )

    def schedule(self, session: int, at: datetime) -> list[c.Command]:
        self.tick()
        return self.send(c.SessionScheduled(event_id=self.eid("schedule"), session=session, at=at))

    def confirm_scope(self) -> list[c.Command]:
        self.tick()
        return self.send(c.ScopeConfirmed(event_id=self.eid("scope")))

    def share(self, participant_id: str) -> list[c.Command]:
        self.tick()
        return self.send(
            c.PerspectiveShared(
                event_id=self.eid("perspective"),
                participant_id=participant_id,
                perspective="The round started late because the hand-over ran over.",
                consent_to_share=True,
            )
        )

    def complete(self, session: int, attendees: list[str] | None = None) -> list[c.Command]:
        self.tick()
        return self.send(
            c.SessionCompleted(
                event_id=self.eid(f"complete-{session}"),
                session=session,
                attendees=list(PARTICIPANTS[:3]) if attendees is None else attendees,
            )
        )

    def note(self, participant_id: str = "p-anna") -> list[c.Command]:
        self.tick()
        return self.send(
            c.ReflectionNoted(
                event_id=self.eid("note"), participant_id=participant_id, note="Slept on it."
            )
        )

    def start_session(self, session: int, at: datetime | None = None) -> list[c.Command]:
        if at is None:
            self.tick()
        return self.send(
            c.SessionStarted(event_id=self.eid(f"start-{session}"), session=session), at
        )

    def red_thread(self) -> list[c.Command]:
        self.tick()
        return self.send(
            c.RedThreadRecorded(
                event_id=self.eid("red-thread"),
                summary="Interruptions during the round are normal, and nothing absorbs them.",
            )
        )

    def learning_point(
        self, learning_point_id: str, kind: Literal["keep", "change"] = "change"
    ) -> list[c.Command]:
        self.tick()
        return self.send(
            c.LearningPointRecorded(
                event_id=self.eid("learning-point"),
                learning_point_id=learning_point_id,
                kind=kind,
                text="Double-check what was given before the hand-over.",
            )
        )

    def conclude_analysis(self) -> list[c.Command]:
        self.tick()
        return self.send(c.AnalysisConcluded(event_id=self.eid("analysis")))

    def safety_net(
        self,
        safety_net_id: str,
        *,
        kind: Literal["micro_action", "experiment"] = "micro_action",
        addresses: list[str] | None = None,
        hypothesis: str | None = None,
        due: date | None = None,
    ) -> list[c.Command]:
        self.tick()
        return self.send(
            c.SafetyNetDefined(
                event_id=self.eid("safety-net"),
                safety_net_id=safety_net_id,
                kind=kind,
                description="Mark the chart at the moment of administration.",
                owner="p-bram",
                addresses=addresses or [],
                hypothesis=hypothesis,
                due=due,
            )
        )

    def conclude_safety_nets(self) -> list[c.Command]:
        self.tick()
        return self.send(c.SafetyNetsConcluded(event_id=self.eid("safety-nets")))

    def criterion(self, criterion_id: str, safety_net_id: str = "sn-1") -> list[c.Command]:
        self.tick()
        return self.send(
            c.SuccessCriterionDefined(
                event_id=self.eid("criterion"),
                criterion_id=criterion_id,
                safety_net_id=safety_net_id,
                description="Charts are marked at administration.",
                target="No unmarked administration in a month of audits.",
            )
        )

    def start_follow_up(self) -> list[c.Command]:
        self.tick()
        return self.send(c.FollowUpStarted(event_id=self.eid("follow-up")))

    def review(self, criterion_id: str, *, met: bool) -> list[c.Command]:
        self.tick()
        return self.send(
            c.ReviewRecorded(
                event_id=self.eid("review"),
                criterion_id=criterion_id,
                observed="Audit of 40 charts.",
                met=met,
            )
        )

    def story(self) -> list[c.Command]:
        self.tick()
        return self.send(
            c.StoryCommunicated(
                event_id=self.eid("story"),
                audience="All ward teams",
                channel="intranet",
                summary="How the night round absorbs interruptions now.",
            )
        )

    def close(self) -> list[c.Command]:
        self.tick()
        return self.send(c.TeamClosed(event_id=self.eid("close")))

    def abandon(self) -> list[c.Command]:
        self.tick()
        return self.send(c.TeamAbandoned(event_id=self.eid("abandon"), reason="Merged elsewhere."))

    # --- composite steps -----------------------------------------------------------------------

    def past_reflection(self) -> datetime:
        """Move the clock to the earliest moment session 2 may start."""
        assert self.state.reflection_earliest is not None
        self.now = max(self.now, self.state.reflection_earliest)
        return self.now


def _to_session_one(walk: Walk) -> None:
    walk.schedule(1, walk.now + timedelta(days=2))
    walk.confirm_scope()


def _to_processing_time(walk: Walk) -> None:
    for participant in PARTICIPANTS:
        walk.share(participant)
    walk.complete(1, list(PARTICIPANTS))


def _to_session_two(walk: Walk) -> None:
    walk.note("p-anna")
    assert walk.state.reflection_earliest is not None
    walk.schedule(2, walk.state.reflection_earliest + timedelta(hours=1))
    walk.start_session(2, at=walk.state.reflection_earliest + timedelta(hours=1))


def _to_safety_nets(walk: Walk) -> None:
    walk.red_thread()
    walk.learning_point("lp-keep-1", "keep")
    walk.learning_point("lp-change-1", "change")
    walk.complete(2)
    walk.conclude_analysis()


def _to_follow_up(walk: Walk) -> None:
    walk.safety_net("sn-1", addresses=["lp-change-1"])
    walk.safety_net(
        "sn-2",
        kind="experiment",
        addresses=["lp-keep-1"],
        hypothesis="Fewer interruptions.",
        due=(walk.now + timedelta(days=60)).date(),
    )
    walk.conclude_safety_nets()


def _to_communicate(walk: Walk) -> None:
    walk.criterion("c-1", "sn-1")
    walk.start_follow_up()
    walk.tick(timedelta(days=28))
    walk.review("c-1", met=True)


_STEPS: dict[Phase, Callable[[Walk], None]] = {
    Phase.SESSION_ONE: _to_session_one,
    Phase.PROCESSING_TIME: _to_processing_time,
    Phase.SESSION_TWO: _to_session_two,
    Phase.SAFETY_NETS: _to_safety_nets,
    Phase.FOLLOW_UP: _to_follow_up,
    Phase.COMMUNICATE: _to_communicate,
}

#: The phase an abandoned team of :func:`walk_to` was in when it was abandoned.
ABANDONED_IN = Phase.SESSION_TWO


def walk_to(where: Where, policy: c.Policy | None = None) -> Walk:
    """A team that has just entered ``where`` (or was closed / abandoned), by the standard case."""
    walk = Walk.open(policy)
    for participant in PARTICIPANTS:
        walk.invite(participant)
    if where == "closed":
        target = Phase.COMMUNICATE
    elif where == "abandoned":
        target = ABANDONED_IN
    else:
        target = where
    for phase in Phase:
        if phase > target:
            break
        if phase in _STEPS:
            _STEPS[phase](walk)
        assert walk.state.phase is phase, f"the walk did not reach phase {phase}"
    if where == "closed":
        walk.story()
        walk.close()
        assert walk.state.status is Status.CLOSED
    elif where == "abandoned":
        walk.abandon()
        assert walk.state.status is Status.ABANDONED
    return walk
