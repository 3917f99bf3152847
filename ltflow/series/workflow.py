"""``SeriesConveneWorkflow``: what a series' Schedule starts at every slot.

A Schedule appends the scheduled time to the id of the workflow it starts, so the team cannot
be that workflow: this small workflow opens it (by update-with-start, idempotent by
``case_ref``) and ends. Its result is the slot's record, also when the overlap policy skipped it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from ltflow.series.activities import SeriesActivities
    from ltflow.series.model import SeriesDefinition, case_ref_for
    from ltflow.series.payloads import ConveneSlotInput, ConveneSlotResult

#: Set by Temporal on every workflow a Schedule starts (also by a backfill): the nominal slot.
SCHEDULED_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
_TIMEOUT = timedelta(minutes=1)
_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


@workflow.defn(name="LtflowSeriesConvene")
class SeriesConveneWorkflow:
    @workflow.run
    async def run(self, series: SeriesDefinition) -> ConveneSlotResult:
        slot = ConveneSlotInput(series=series, slot=_scheduled_time())
        if series.overlap == "skip":
            blocking = await workflow.execute_activity_method(
                SeriesActivities.blocking_team,
                slot,
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            if blocking is not None:
                workflow.logger.info("slot skipped: the previous team is before session 1")
                return ConveneSlotResult(
                    series_id=series.series_id,
                    slot=slot.slot,
                    case_ref=case_ref_for(series.series_id, slot.slot),
                    outcome="skipped",
                    blocked_by=blocking,
                )
        return await workflow.execute_activity_method(
            SeriesActivities.convene_slot,
            slot,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )


def _scheduled_time() -> datetime:
    scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_TIME)
    if scheduled is None:
        raise ApplicationError(
            "A series' convening workflow runs only from its Schedule (no scheduled time).",
            type="invalid_event",
            non_retryable=True,
        )
    return scheduled.astimezone(UTC).replace(microsecond=0)
