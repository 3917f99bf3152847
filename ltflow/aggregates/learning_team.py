"""The ``LearningTeam`` aggregate: one Learning Team, event-sourced.

Every accepted phase event becomes one stored domain event (one nested class per contract type),
followed by its consequences (a phase entered, the reflection window opened). The rules live in
:mod:`ltflow.aggregates.rules`; the fold lives in :mod:`ltflow.aggregates.state`. This class only
joins them to the event store, and stores who (``actor``), when (``occurred_at``; ``timestamp`` is
the moment ltflow recorded it) and which sender event (``event_id``) each fact came from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from ltflow.aggregates import commands as c
from ltflow.aggregates import rules
from ltflow.aggregates.state import TeamState, evolve, start

SYSTEM_ACTOR = "system"
_META_FIELDS = {"type", "event_id", "occurred_at"}


class LearningTeam(Aggregate):
    """A Learning Team, from ``team.convened`` to ``team.closed`` or ``team.abandoned``."""

    class Event(Aggregate.Event):
        """A stored fact. ``payload`` holds the contract fields of the event type, as JSON values.

        ``class_version`` lets each event type evolve with ``upcast_vN_vN+1`` static methods.
        """

        TYPE: ClassVar[str] = ""
        class_version: ClassVar[int] = 1

        event_id: str
        actor: str
        occurred_at: datetime
        fingerprint: str
        payload: dict[str, Any]

        def command(self) -> c.Command:
            """The phase event this fact records, as the vocabulary's model."""
            return c.load_command(
                self.TYPE,
                {**self.payload, "event_id": self.event_id, "occurred_at": self.occurred_at},
            )

        def apply(self, aggregate: Any) -> None:
            team = cast("LearningTeam", aggregate)
            evolve(
                team.state,
                self.command(),
                version=self.originator_version,
                occurred_at=self.occurred_at,
                fingerprint=self.fingerprint,
            )

    class TeamConvened(Aggregate.Created):
        TYPE: ClassVar[str] = "team.convened"
        class_version: ClassVar[int] = 1

        event_id: str
        actor: str
        occurred_at: datetime
        fingerprint: str
        payload: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            """The state is started by ``__init__``; nothing more to fold."""

    class ParticipantInvited(Event):
        TYPE = "participant.invited"

    class ParticipantWithdrawn(Event):
        TYPE = "participant.withdrawn"

    class ScopeConfirmed(Event):
        TYPE = "scope.confirmed"

    class SessionScheduled(Event):
        TYPE = "session.scheduled"

    class PerspectiveShared(Event):
        TYPE = "perspective.shared"

    class SessionCompleted(Event):
        TYPE = "session.completed"

    class ReflectionNoted(Event):
        TYPE = "reflection.noted"

    class SessionStarted(Event):
        TYPE = "session.started"

    class RedThreadRecorded(Event):
        TYPE = "red_thread.recorded"

    class LearningPointRecorded(Event):
        TYPE = "learning_point.recorded"

    class AnalysisConcluded(Event):
        TYPE = "analysis.concluded"

    class SafetyNetDefined(Event):
        TYPE = "safety_net.defined"

    class SafetyNetsConcluded(Event):
        TYPE = "safety_nets.concluded"

    class SuccessCriterionDefined(Event):
        TYPE = "success_criterion.defined"

    class FollowUpStarted(Event):
        TYPE = "follow_up.started"

    class ReviewRecorded(Event):
        TYPE = "review.recorded"

    class SafetyNetCompleted(Event):
        TYPE = "safety_net.completed"

    class StoryCommunicated(Event):
        TYPE = "story.communicated"

    class TeamClosed(Event):
        TYPE = "team.closed"

    class TeamAbandoned(Event):
        TYPE = "team.abandoned"

    class ParticipantErased(Event):
        TYPE = "participant.erased"

    class PhaseEntered(Event):
        TYPE = "phase.entered"

    class ReflectionOpened(Event):
        TYPE = "reflection.opened"

    class ReflectionReminderDue(Event):
        TYPE = "reflection.reminder_due"

    class ReflectionOverdue(Event):
        TYPE = "reflection.overdue"

    class ReviewDue(Event):
        TYPE = "review.due"

    class FollowUpEnded(Event):
        TYPE = "follow_up.ended"

    def __init__(
        self,
        event_id: str,
        actor: str,
        occurred_at: datetime,
        fingerprint: str,
        payload: dict[str, Any],
    ) -> None:
        opened = c.load_command(
            "team.convened", {**payload, "event_id": event_id, "occurred_at": occurred_at}
        )
        self.state: TeamState = start(
            cast("c.TeamConvened", opened), self.id, occurred_at, fingerprint
        )

    @classmethod
    def convene(
        cls, cmd: c.TeamConvened, *, team_id: UUID, actor: str, occurred_at: datetime
    ) -> LearningTeam:
        """Open a team (phase 1). ``occurred_at`` is already resolved by the caller."""
        team = cls._create(
            cls.TeamConvened,
            id=team_id,
            event_id=cmd.event_id,
            actor=actor,
            occurred_at=occurred_at,
            fingerprint=cmd.fingerprint(),
            payload=_payload(cmd),
        )
        team._record(rules.convene_consequences(cmd, occurred_at), occurred_at)
        return team

    def handle(self, cmd: c.Command, *, actor: str, occurred_at: datetime) -> None:
        """Judge a phase event by the rulebook and record it with its consequences, or raise."""
        decided = rules.decide(self.state, cmd, occurred_at)
        self._trigger(decided[0], actor, occurred_at)
        self._record(decided[1:], occurred_at)

    def _record(self, consequences: list[c.Command], occurred_at: datetime) -> None:
        for consequence in consequences:
            self._trigger(consequence, SYSTEM_ACTOR, occurred_at)

    def _trigger(self, cmd: c.Command, actor: str, occurred_at: datetime) -> None:
        self.trigger_event(
            EVENT_CLASSES[cmd.type],
            event_id=cmd.event_id,
            actor=actor,
            occurred_at=occurred_at,
            fingerprint=cmd.fingerprint(),
            payload=_payload(cmd),
        )


def _payload(cmd: c.Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude=_META_FIELDS)


EVENT_CLASSES: dict[str, type[LearningTeam.Event]] = {
    cls.TYPE: cls
    for cls in vars(LearningTeam).values()
    if isinstance(cls, type) and issubclass(cls, LearningTeam.Event) and cls.TYPE
}
