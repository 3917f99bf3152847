"""The ``LearningTeam`` aggregate: one Learning Team, event-sourced.

Every accepted phase event becomes one stored domain event (a nested class per vocabulary type,
made from its declaration),
followed by its consequences (a phase entered, the reflection window opened). The rules live in
:mod:`ltflow.aggregates.rules`; the fold lives in :mod:`ltflow.aggregates.state`. This class only
joins them to the event store, and stores who (``actor``), when (``occurred_at``; ``timestamp`` is
the moment ltflow recorded it) and which sender event (``event_id``) each fact came from.
"""

from __future__ import annotations

import types
from datetime import datetime
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from ltflow.aggregates import rules
from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.actors import SYSTEM_ACTOR
from ltflow.aggregates.state import TeamState, evolve, start

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

        def command(self) -> v.Command:
            """The phase event this fact records, as the vocabulary's model."""
            return v.load_command(
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
        TYPE: ClassVar[str] = v.TeamConvened.TYPE
        class_version: ClassVar[int] = 1

        event_id: str
        actor: str
        occurred_at: datetime
        fingerprint: str
        payload: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            """The state is started by ``__init__``; nothing more to fold."""

    def __init__(
        self,
        event_id: str,
        actor: str,
        occurred_at: datetime,
        fingerprint: str,
        payload: dict[str, Any],
    ) -> None:
        opened = v.load_command(
            "team.convened", {**payload, "event_id": event_id, "occurred_at": occurred_at}
        )
        self.state: TeamState = start(
            cast("v.TeamConvened", opened), self.id, occurred_at, fingerprint
        )

    @classmethod
    def convene(
        cls, cmd: v.TeamConvened, *, team_id: UUID, actor: str, occurred_at: datetime
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

    def handle(self, cmd: v.Command, *, actor: str, occurred_at: datetime) -> None:
        """Judge a phase event by the rulebook and record it with its consequences, or raise."""
        decided = rules.decide(self.state, cmd, occurred_at)
        self._trigger(decided[0], actor, occurred_at)
        self._record(decided[1:], occurred_at)

    def _record(self, consequences: list[v.Command], occurred_at: datetime) -> None:
        for consequence in consequences:
            self._trigger(consequence, SYSTEM_ACTOR, occurred_at)

    def _trigger(self, cmd: v.Command, actor: str, occurred_at: datetime) -> None:
        self.trigger_event(
            EVENT_CLASSES[cmd.type],
            event_id=cmd.event_id,
            actor=actor,
            occurred_at=occurred_at,
            fingerprint=cmd.fingerprint(),
            payload=_payload(cmd),
        )


def _payload(cmd: v.Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude=_META_FIELDS)


def _stored_event_class(declared: type[v.Command]) -> type[LearningTeam.Event]:
    """``LearningTeam.<Name>`` for a vocabulary type: the stored event's class. Its topic
    (``ltflow.aggregates.learning_team:LearningTeam.<Name>``) is what the event store keeps,
    so the class name of a declared type never changes."""
    name = declared.__name__
    cls = types.new_class(
        name,
        (LearningTeam.Event,),
        exec_body=lambda ns: ns.update(
            TYPE=declared.TYPE, __module__=__name__, __qualname__=f"LearningTeam.{name}"
        ),
    )
    setattr(LearningTeam, name, cls)
    return cls


#: The stored event class of every type the aggregate records after ``team.convened``.
EVENT_CLASSES: dict[str, type[LearningTeam.Event]] = {
    name: _stored_event_class(declared)
    for name, declared in v.ALL_TYPES.items()
    if declared.origin is not v.Origin.OPENING
}
