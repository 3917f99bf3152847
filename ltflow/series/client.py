"""``SeriesClient``: create, change, pause, resume, delete, backfill and read series.

Temporal is the record of a series: its Schedule (id ``ltflow-series-<series id>``) holds the
definition as the one argument of its action, the rhythm as its spec, the pause and its note as
its state. Nothing else keeps a copy; :meth:`SeriesClient.show` reads it back with
``describe()``. Validate a body with :func:`~ltflow.series.model.parse_series` first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from ltflow.aggregates.errors import IdempotencyConflictError, InvalidEventError, LtflowError
from ltflow.series import rhythm as r
from ltflow.series.model import SeriesDefinition, schedule_id_for
from ltflow.series.payloads import ConveneSlotResult
from ltflow.series.workflow import SeriesConveneWorkflow

log = structlog.get_logger("ltflow.series")
#: Slots missed while the worker or server was down are still convened within this window.
CATCHUP_WINDOW = timedelta(days=7)
_PREFIX = schedule_id_for("")


class SeriesNotFoundError(LtflowError):
    """No series has this id."""

    code = "not_found"


class SlotRecord(BaseModel):
    """One recent slot: when it was due, and what its convening workflow recorded (None while it
    runs)."""

    scheduled_at: datetime
    started_at: datetime
    workflow_id: str
    result: ConveneSlotResult | None = None


class SeriesInfo(BaseModel):
    """A series as its Schedule holds it, with its next runs and its recent slots."""

    series: SeriesDefinition
    paused: bool
    note: str | None = None
    #: The next slots (none while paused).
    next_runs: list[datetime]
    recent: list[SlotRecord]


def schedule_of(series: SeriesDefinition, task_queue: str, now: datetime) -> Schedule:
    """The Schedule of a series: the rhythm as calendars in its time zone, the definition as
    the action's one argument. A series without a start starts ``now``."""
    tz = r.zone(series.time_zone)
    start = series.start or now.replace(microsecond=0)
    calendars, intervals = r.calendars_of(series.rhythm, tz, start, series.end)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            SeriesConveneWorkflow.run,
            series,
            id=f"{series.schedule_id}-convene",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=calendars,
            intervals=intervals,
            time_zone_name=series.time_zone,
            start_at=start,
            end_at=series.end,
        ),
        # In order, one at a time: a backfill of several slots convenes them oldest first, so
        # each one's overlap check sees the team before it.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ALL, catchup_window=CATCHUP_WINDOW
        ),
        state=ScheduleState(),
    )


class SeriesClient:
    """Series on Temporal Schedules, through a client with ``LtflowPlugin``."""

    def __init__(self, client: Client, task_queue: str = "ltflow") -> None:
        self.client = client
        self.task_queue = task_queue

    def _handle(self, series_id: str) -> ScheduleHandle:
        return self.client.get_schedule_handle(schedule_id_for(series_id))

    async def create(self, series: SeriesDefinition) -> tuple[SeriesInfo, bool]:
        """Create a series; the same definition again is answered with it (False: not new),
        another definition under the same id is ``idempotency_conflict``."""
        try:
            await self.client.create_schedule(
                series.schedule_id, schedule_of(series, self.task_queue, datetime.now(UTC))
            )
        except ScheduleAlreadyRunningError:
            existing = await self.show(series.series_id)
            if existing.series.model_copy(update={"changed_by": None}) != series.model_copy(
                update={"changed_by": None}
            ):
                raise IdempotencyConflictError(
                    f"A series with id {series.series_id!r} exists with another definition; "
                    "update it instead.",
                    series_id=series.series_id,
                ) from None
            return existing, False
        return await self.show(series.series_id), True

    async def update(self, series: SeriesDefinition) -> SeriesInfo:
        """Replace the definition and the rhythm; the pause and its note stay as they are."""
        await self.show(series.series_id)  # unknown: not_found, before anything changes

        def change(current: ScheduleUpdateInput) -> ScheduleUpdate:
            new = schedule_of(series, self.task_queue, datetime.now(UTC))
            new.state = current.description.schedule.state
            return ScheduleUpdate(schedule=new)

        await self._call(series.series_id, self._handle(series.series_id).update(change))
        return await self.show(series.series_id)

    async def pause(self, series_id: str, note: str) -> SeriesInfo:
        """No team is convened until :meth:`resume`; the note says why (kept by Temporal)."""
        await self._call(series_id, self._handle(series_id).pause(note=note))
        return await self.show(series_id)

    async def resume(self, series_id: str, note: str | None = None) -> SeriesInfo:
        """Convene again from the next slot on; missed slots wait for :meth:`backfill`."""
        await self._call(series_id, self._handle(series_id).unpause(note=note or "resumed"))
        return await self.show(series_id)

    async def delete(self, series_id: str) -> None:
        """Remove the Schedule; the teams it convened stay as they are."""
        await self._call(series_id, self._handle(series_id).delete())

    async def backfill(self, series_id: str, start: datetime, end: datetime) -> SeriesInfo:
        """Convene the slots between start and end that have no team yet (slots with a team
        open nothing new: their case_ref finds it)."""
        if end <= start:
            raise InvalidEventError(
                "The backfill is invalid at 'end': the end must lie after the start.",
                field="end",
                problems=[{"field": "end", "problem": "the end must lie after the start"}],
            )
        backfill = ScheduleBackfill(
            start_at=start, end_at=end, overlap=ScheduleOverlapPolicy.BUFFER_ALL
        )
        await self._call(series_id, self._handle(series_id).backfill(backfill))
        return await self.show(series_id)

    async def show(self, series_id: str) -> SeriesInfo:
        described = await self._call(series_id, self._handle(series_id).describe())
        return await self._info(described)

    async def list(self) -> list[SeriesInfo]:
        """Every series (Temporal's list is eventually consistent: a series created a moment
        ago may show a moment later)."""
        found = []
        async for listed in await self.client.list_schedules():
            if listed.id.startswith(_PREFIX):
                series_id = listed.id.removeprefix(_PREFIX)
                try:
                    found.append(await self.show(series_id))
                except SeriesNotFoundError:
                    continue  # deleted since it was listed
                except Exception as exc:  # one unreadable series must not hide the others
                    log.warning("series unreadable", series_id=series_id, error=type(exc).__name__)
        return sorted(found, key=lambda info: info.series.series_id)

    async def _info(self, described: ScheduleDescription) -> SeriesInfo:
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        [series] = await self.client.data_converter.decode(list(action.args), [SeriesDefinition])
        recent = [await self._slot(a) for a in described.info.recent_actions]
        paused = described.schedule.state.paused
        return SeriesInfo(
            series=series,
            paused=paused,
            note=described.schedule.state.note,
            # A paused Schedule still lists its spec's times; none of them will run.
            next_runs=[] if paused else list(described.info.next_action_times),
            recent=sorted(recent, key=lambda s: s.scheduled_at),
        )

    async def _slot(self, taken: ScheduleActionResult) -> SlotRecord:
        action = taken.action
        assert isinstance(action, ScheduleActionExecutionStartWorkflow)
        handle = self.client.get_workflow_handle_for(
            SeriesConveneWorkflow.run, action.workflow_id, run_id=action.first_execution_run_id
        )
        result = None
        described = await handle.describe()
        if described.close_time is not None:
            try:
                result = await handle.result()
            except Exception:  # a failed slot shows without a result; its history says why
                result = None
        return SlotRecord(
            scheduled_at=taken.scheduled_at,
            started_at=taken.started_at,
            workflow_id=action.workflow_id,
            result=result,
        )

    async def _call(self, series_id: str, call: Any) -> Any:
        try:
            return await call
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise SeriesNotFoundError(
                    f"No series with id {series_id!r}.", series_id=series_id
                ) from None
            raise
