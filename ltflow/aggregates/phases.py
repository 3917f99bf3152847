"""The seven phases of a Learning Team (domain.md) and a team's status: the words every layer
shares, from the event vocabulary to the read models."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Phase(IntEnum):
    """The seven phases of a Learning Team."""

    GOAL_AND_SCOPE = 1
    SESSION_ONE = 2
    PROCESSING_TIME = 3
    SESSION_TWO = 4
    SAFETY_NETS = 5
    FOLLOW_UP = 6
    COMMUNICATE = 7

    @property
    def label(self) -> str:
        return PHASE_LABELS[self]


PHASE_LABELS: dict[Phase, str] = {
    Phase.GOAL_AND_SCOPE: "goal and scope",
    Phase.SESSION_ONE: "session 1: share perspectives",
    Phase.PROCESSING_TIME: "processing time",
    Phase.SESSION_TWO: "session 2: red thread and learning points",
    Phase.SAFETY_NETS: "safety nets",
    Phase.FOLLOW_UP: "success criteria and follow-up",
    Phase.COMMUNICATE: "communicate the story",
}

ALL_PHASES = frozenset(Phase)


class Status(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"
    ABANDONED = "abandoned"
