"""Series on the real dev server: firings, pause, resume, backfill, overlap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID

from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.phases import Status
from ltflow.eventstore.application import team_id_for
from ltflow.series.client import SeriesClient, SeriesInfo, SlotRecord
from ltflow.series.model import SeriesDefinition, case_ref_for
from tests.series.conftest import at_seconds, eventually, parse, series_body
from tests.workflows.conftest import Stack
from tests.workflows.test_personal_fields import history_text

SECRET = "Dr. Qx7-Secret"
SERIES_TYPES = {"team.convened", "participant.invited", "sponsor.assigned"}


def results(info: SeriesInfo, outcome: str) -> list[datetime]:
    return [s.scheduled_at for s in info.recent if s.result and s.result.outcome == outcome]


def team_of(definition: SeriesDefinition, slot: datetime) -> UUID:
    return team_id_for(case_ref_for(definition.series_id, slot))


async def until_outcomes(
    series: SeriesClient, series_id: str, outcome: str, count: int
) -> SeriesInfo:
    async def enough() -> SeriesInfo | None:
        shown = await series.show(series_id)
        return shown if len(results(shown, outcome)) >= count else None

    found: SeriesInfo = await eventually(enough)
    return found


async def test_a_series_fires_twice_and_opens_two_teams_as_the_series(
    dev_stack: Stack, series: SeriesClient
) -> None:
    body = series_body(start=at_seconds(1).isoformat())
    body["participants"][1]["display_name"] = SECRET
    definition = parse(body)
    info, created = await series.create(definition)
    assert created
    assert len(info.next_runs) >= 2

    shown = await until_outcomes(series, definition.series_id, "opened", 2)
    first, second = results(shown, "opened")[:2]
    assert second - first == timedelta(seconds=2)
    for slot in (first, second):
        team_id = team_of(definition, slot)
        summary = await dev_stack.ltflow.summary(team_id)
        assert summary.case_ref == case_ref_for(definition.series_id, slot)
        assert summary.active_participants == 3
        facts = dev_stack.app().history(team_id)
        assert {f.type for f in facts if f.actor == definition.actor} == SERIES_TYPES
        assert {f.actor for f in facts if f.type in SERIES_TYPES} == {definition.actor}
        convened = next(f for f in facts if f.type == "team.convened")
        assert convened.occurred_at == slot  # the scheduled time, not when the worker ran
        sponsor = next(f for f in facts if f.type == "sponsor.assigned")
        assert sponsor.payload["sponsor_id"] == "mgr-1"
        # The display name enters the team's workflow encrypted with the participant's key.
        invited = [f.payload.get("display_name") for f in facts if f.type == "participant.invited"]
        assert SECRET in invited
        assert SECRET not in await history_text(dev_stack, team_id)


async def test_pause_stops_it_and_resume_with_backfill_fills_the_missed_slots_once(
    dev_stack: Stack, series: SeriesClient
) -> None:
    start = at_seconds(1)
    definition = parse(series_body(start=start.isoformat()))
    await series.create(definition)
    await until_outcomes(series, definition.series_id, "opened", 1)

    paused = await series.pause(definition.series_id, "ward closed for the holidays")
    paused_at = datetime.now(UTC)
    assert paused.paused
    assert paused.note == "ward closed for the holidays"
    assert paused.next_runs == []
    await asyncio.sleep(0.5)  # a slot that was starting as the pause came in settles
    before = await series.show(definition.series_id)
    await asyncio.sleep(4)  # two slots pass while paused
    still = await series.show(definition.series_id)
    assert [s.scheduled_at for s in still.recent] == [s.scheduled_at for s in before.recent]

    resumed = await series.resume(definition.series_id, "back")
    resumed_at = datetime.now(UTC)
    assert not resumed.paused
    assert resumed.next_runs
    missed = [
        start + timedelta(seconds=2 * k)
        for k in range(60)
        if paused_at + timedelta(seconds=2) < start + timedelta(seconds=2 * k) < resumed_at
    ]
    assert missed
    assert not any(dev_stack.app().exists(team_of(definition, m)) for m in missed)

    await series.backfill(definition.series_id, start, resumed_at)

    async def filled() -> bool:
        return all(dev_stack.app().exists(team_of(definition, m)) for m in missed)

    await eventually(filled)
    # A backfill over slots that all have a team stores nothing new, not even an invitation.
    await series.pause(definition.series_id, "hold still for the check")
    await asyncio.sleep(0.5)
    stored = dev_stack.app().recorder.max_notification_id()
    again_at = datetime.now(UTC)
    await series.backfill(definition.series_id, start, paused_at)
    expected = [s for s in _slots(start, paused_at)]

    async def all_again() -> list[SlotRecord]:
        shown = await series.show(definition.series_id)
        done = [s for s in shown.recent if s.started_at >= again_at and s.result]
        return done if len(done) >= min(len(expected), 10) else []

    again = await eventually(all_again)
    assert {s.result.outcome for s in again if s.result} == {"existing"}
    assert dev_stack.app().recorder.max_notification_id() == stored


def _slots(start: datetime, end: datetime) -> list[datetime]:
    return [
        start + timedelta(seconds=2 * k)
        for k in range(int((end - start).total_seconds()) // 2 + 1)
        if start + timedelta(seconds=2 * k) < end
    ]


async def test_a_slot_is_skipped_while_the_previous_team_is_before_session_one(
    dev_stack: Stack, series: SeriesClient
) -> None:
    definition = parse(series_body(start=at_seconds(1).isoformat(), overlap="skip"))
    await series.create(definition)
    shown = await until_outcomes(series, definition.series_id, "skipped", 1)
    [opened] = results(shown, "opened")
    skipped = next(s.result for s in shown.recent if s.result and s.result.outcome == "skipped")
    assert skipped is not None
    assert skipped.blocked_by is not None
    assert skipped.blocked_by.team_id == team_of(definition, opened)
    assert skipped.blocked_by.phase == 1
    assert skipped.team_id is None
    assert not dev_stack.app().exists(team_of(definition, skipped.slot))

    # Once the previous team no longer waits for session 1 (here: abandoned), the next opens.
    await dev_stack.ltflow.send(
        team_of(definition, opened),
        v.TeamAbandoned(event_id="stop", reason="the ward chose another date"),
        actor="fac-1",
    )
    assert (await dev_stack.ltflow.summary(team_of(definition, opened))).status is Status.ABANDONED
    later = await until_outcomes(series, definition.series_id, "opened", 2)
    assert results(later, "opened")[1] > skipped.slot
