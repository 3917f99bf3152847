"""The convening workflow's activities: they speak to the teams through Temporal.

Both are idempotent by the slot's ``case_ref``: the team id derives from it, so a second
attempt (a retry, a backfill over an opened slot) finds the team the first one opened, and the
invitations and the sponsor carry stable event ids, so sending them again is a repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ltflow.aggregates.errors import IdempotencyConflictError, LtflowError, TeamNotFoundError
from ltflow.aggregates.phases import Phase, Status
from ltflow.aggregates.state import TeamSummary
from ltflow.eventstore.application import team_id_for
from ltflow.series.model import (
    SeriesDefinition,
    case_ref_for,
    convene_for,
    invitations,
    sponsor_event,
)
from ltflow.series.payloads import BlockingTeam, ConveneSlotInput, ConveneSlotResult
from ltflow.workflows.client import LtflowClient
from ltflow.workflows.naming import WorkflowIds

if TYPE_CHECKING:
    from ltflow.privacy.keys import KeyStore


KeysFactory = Callable[[], "KeyStore | None"]


_UNREADABLE = "unreadable"


async def _summary(teams: LtflowClient, team_id: UUID) -> TeamSummary | str | None:
    """The team's summary; None when it does not exist; ``unreadable`` when it exists but does
    not answer (its workflow stopped: ``ltflow team repair``)."""
    try:
        return await teams.summary(team_id)
    except TeamNotFoundError:
        return None
    except LtflowError:
        return _UNREADABLE


def team_of(series_id: str, slot: datetime) -> UUID:
    return team_id_for(case_ref_for(series_id, slot))


class SeriesActivities:
    """Registered by :class:`~ltflow.workflows.plugin.LtflowPlugin` beside the team's own.

    ``keys``: the worker's participant keys, so a default participant's personal fields (their
    display name) enter the team's workflow already encrypted, as from any sender."""

    def __init__(
        self, keys: KeysFactory | None = None, workflow_ids: WorkflowIds | None = None
    ) -> None:
        self._keys = keys
        self._workflow_ids = workflow_ids

    def _teams(self) -> LtflowClient:
        # The worker's own client (with ltflow's plugin), on the task queue this worker serves.
        keys = self._keys() if self._keys is not None else None
        return LtflowClient(
            activity.client(),
            activity.info().task_queue,
            keys=keys,
            workflow_ids=self._workflow_ids,
        )

    @activity.defn(name="ltflow_series_blocking_team")
    async def blocking_team(self, slot: ConveneSlotInput) -> BlockingTeam | None:
        """The series' latest earlier team if it is still active before session 1, else None.

        A slot whose own team exists is never held back (a backfill over it opens nothing and
        skips nothing), and a team that does not answer holds nothing back. The earlier slots
        are those the Schedule lists as its recent actions (Temporal keeps the last ten), newest
        first; a slot without a team was skipped."""
        teams, series = self._teams(), slot.series
        if await _summary(teams, team_of(series.series_id, slot.slot)) is not None:
            return None
        handle = teams.client.get_schedule_handle(series.schedule_id)
        described = await handle.describe()
        earlier = sorted(
            {a.scheduled_at for a in described.info.recent_actions if a.scheduled_at < slot.slot},
            reverse=True,
        )
        for at in earlier:
            found = await _summary(teams, team_of(series.series_id, at))
            if found is None:
                continue
            if not isinstance(found, TeamSummary):
                return None  # a team that cannot answer holds no slot back
            if found.status is Status.ACTIVE and found.phase <= Phase.SESSION_ONE:
                return BlockingTeam(
                    team_id=found.team_id, case_ref=found.case_ref, phase=int(found.phase)
                )
            return None
        return None

    @activity.defn(name="ltflow_series_convene_slot")
    async def convene_slot(self, slot: ConveneSlotInput) -> ConveneSlotResult:
        """Open the slot's team as the series, invite the default participants, assign the
        sponsor."""
        teams, series = self._teams(), slot.series
        convene = convene_for(series, slot.slot)
        try:
            opened = await teams.open_team_result(convene, actor=series.actor)
            created, team_id = opened.created, opened.summary.team_id
        except IdempotencyConflictError:
            # The slot's team was opened before the series' template changed: it stands.
            created, team_id = False, team_id_for(convene.case_ref)
        except LtflowError as error:
            raise _final(error) from None
        await _members(teams, series, team_id, created=created)
        return ConveneSlotResult(
            series_id=series.series_id,
            slot=slot.slot,
            case_ref=convene.case_ref,
            outcome="opened" if created else "existing",
            team_id=team_id,
        )

    def all(self) -> list[Callable[..., Any]]:
        return [self.blocking_team, self.convene_slot]


async def _members(
    teams: LtflowClient, series: SeriesDefinition, team_id: UUID, *, created: bool
) -> None:
    sponsor = sponsor_event(series)
    events = [*invitations(series), *([sponsor] if sponsor else [])]
    for event in events:
        try:
            await teams.send(team_id, event, actor=series.actor)
        except LtflowError as error:
            if created:
                raise _final(error) from None
            # A team opened before (the template changed since, or it moved on): its record
            # stands; a repeat of the same event was answered as a repeat, not as an error.


def _final(error: LtflowError) -> ApplicationError:
    """A domain refusal no retry changes: the slot's workflow fails with it, visibly."""
    return ApplicationError(error.message, error.details, type=error.code, non_retryable=True)
