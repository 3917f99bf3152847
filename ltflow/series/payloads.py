"""What crosses the Temporal boundary for a series: a slot to convene, and what came of it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from ltflow.series.model import SeriesDefinition


class ConveneSlotInput(BaseModel):
    """One slot of a series: the series as its Schedule holds it, and the scheduled time."""

    model_config = ConfigDict(frozen=True)

    series: SeriesDefinition
    slot: datetime


class BlockingTeam(BaseModel):
    """The series' previous team, still before session 1: the reason a slot is skipped."""

    team_id: UUID
    case_ref: str
    phase: int


class ConveneSlotResult(BaseModel):
    """The convening workflow's result: the durable record of each slot, also of a skipped one
    (``outcome: skipped`` with the team that held it back)."""

    series_id: str
    slot: datetime
    case_ref: str
    #: ``opened``: this slot's team was convened now; ``existing``: it was convened before (a
    #: retry, a backfill over it); ``skipped``: the overlap policy held it back.
    outcome: Literal["opened", "existing", "skipped"]
    team_id: UUID | None = None
    blocked_by: BlockingTeam | None = None
