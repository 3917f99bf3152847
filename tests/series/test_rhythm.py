"""Rhythms in a time zone: Temporal's own next action times across a DST change, and bad input."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ltflow.aggregates.bounds import DEFAULT_POLICY_FLOOR, DEV_POLICY_FLOOR
from ltflow.aggregates.errors import InvalidEventError
from ltflow.series.client import SeriesClient
from ltflow.series.model import parse_series
from tests.series.conftest import parse, series_body

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


async def test_every_other_monday_at_two_stays_at_two_in_amsterdam_across_dst(
    series: SeriesClient,
) -> None:
    # Summer time starts on Sunday 28 March 2027: 14:00 is 13:00 UTC before it, 12:00 after.
    body = series_body(
        rhythm={"kind": "every", "every": "P14D", "at": "14:00", "weekday": "monday"},
        start="2027-02-26T00:00:00+01:00",
    )
    definition = parse(body)
    info, _ = await series.create(definition)
    runs = info.next_runs[:4]
    assert [r.astimezone(AMSTERDAM).strftime("%a %d %b %H:%M") for r in runs] == [
        "Mon 01 Mar 14:00",
        "Mon 15 Mar 14:00",
        "Mon 29 Mar 14:00",
        "Mon 12 Apr 14:00",
    ]
    assert [r.astimezone(UTC).hour for r in runs] == [13, 13, 12, 12]


async def test_the_first_tuesday_of_the_month_across_the_end_of_summer_time(
    series: SeriesClient,
) -> None:
    # Summer time ends on Sunday 31 October 2027.
    body = series_body(
        rhythm={"kind": "monthly", "weekday": "tuesday", "week": 1, "at": "09:30"},
        start="2027-09-01T00:00:00+02:00",
        time_zone="Europe/Amsterdam",
    )
    info, _ = await series.create(parse(body))
    runs = info.next_runs[:3]
    assert [r.astimezone(AMSTERDAM).strftime("%a %d %b %H:%M") for r in runs] == [
        "Tue 07 Sep 09:30",
        "Tue 05 Oct 09:30",
        "Tue 02 Nov 09:30",
    ]
    assert [r.astimezone(UTC).hour for r in runs] == [7, 7, 8]


async def test_a_raw_calendar_is_read_in_the_series_time_zone(series: SeriesClient) -> None:
    body = series_body(
        rhythm={
            "kind": "calendar",
            "hour": [{"start": 17}],
            "minute": [{"start": 0}],
            "day_of_week": [{"start": 1, "end": 5}],
        },
        start="2027-03-26T00:00:00+01:00",
    )
    info, _ = await series.create(parse(body))
    local = [r.astimezone(AMSTERDAM).strftime("%a %H:%M") for r in info.next_runs[:3]]
    assert local == ["Fri 17:00", "Mon 17:00", "Tue 17:00"]
    assert [r.astimezone(UTC).hour for r in info.next_runs[:2]] == [16, 15]


def test_every_few_days_is_written_out_up_to_the_end() -> None:
    from ltflow.series import rhythm as r

    definition = parse(
        series_body(
            rhythm={"kind": "every", "every": "P3D", "at": "08:00"},
            start="2027-01-30T07:00:00+01:00",
            end="2027-02-06T09:00:00+01:00",
        )
    )
    assert isinstance(definition.rhythm, r.Every)
    assert definition.start
    days = r.every_days(definition.rhythm, AMSTERDAM, definition.start, definition.end)
    assert [d.isoformat() for d in days] == ["2027-01-30", "2027-02-02", "2027-02-05"]
    calendars, intervals = r.calendars_of(
        definition.rhythm, AMSTERDAM, definition.start, definition.end
    )
    assert not intervals
    assert len(calendars) == 2


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("every 0 days", {"rhythm": {"kind": "every", "every": "P0D"}}, "rhythm.every"),
    ("a microsecond", {"rhythm": {"kind": "every", "every": "PT0.000001S"}}, "rhythm.every"),
    ("below the floor", {"rhythm": {"kind": "every", "every": "PT30M"}}, "rhythm.every"),
    ("a day and a bit", {"rhythm": {"kind": "every", "every": "P1DT1H"}}, "rhythm.every"),
    (
        "the 31st of February",
        {"rhythm": {"kind": "calendar", "month": [{"start": 2}], "day_of_month": [{"start": 31}]}},
        "rhythm",
    ),
    ("hour 24", {"rhythm": {"kind": "calendar", "hour": [{"start": 24}]}}, "rhythm.hour"),
    (
        "the fifth Monday",
        {"rhythm": {"kind": "monthly", "weekday": "monday", "week": 5, "at": "09:00"}},
        "rhythm.week",
    ),
    ("an unknown kind", {"rhythm": {"kind": "fortnightly"}}, "rhythm"),
    ("an unknown zone", {"time_zone": "Europe/Atlantis"}, "time_zone"),
    (
        "an end before the start",
        {"start": "2027-01-10T00:00:00Z", "end": "2027-01-09T00:00:00Z"},
        "end",
    ),
    (
        "no slot before the end",
        {
            "rhythm": {"kind": "every", "every": "P7D", "at": "14:00"},
            "start": "2027-01-10T15:00:00+01:00",
            "end": "2027-01-11T00:00:00+01:00",
        },
        "rhythm",
    ),
    ("a bad series id", {"series_id": "Ward 5"}, "series_id"),
    ("an incident trigger", {"template": {"trigger": "incident"}}, "template.trigger"),
    ("no goal", {"template": {"goal": ""}}, "template.goal"),
    (
        "a policy below the floor",
        {"template": {"policy": {"min_reflection": "PT10M"}}},
        "template.policy.min_reflection",
    ),
    (
        "a policy that contradicts itself",
        {"template": {"policy": {"min_reflection": "P10D", "max_reflection": "P2D"}}},
        "template.policy",
    ),
    (
        "a participant twice",
        {
            "participants": [
                {"participant_id": "p1", "role": "a"},
                {"participant_id": "p1", "role": "b"},
            ]
        },
        "participants.1.participant_id",
    ),
    (
        "an identity twice",
        {
            "participants": [
                {"participant_id": "p1", "role": "a", "subject": "s"},
                {"participant_id": "p2", "role": "b", "subject": "s"},
            ]
        },
        "participants.1.subject",
    ),
    ("a start in the year 3000", {"start": "3000-01-01T00:00:00Z"}, "start"),
    (
        "a participant without a role",
        {"participants": [{"participant_id": "p1"}]},
        "participants.0.role",
    ),
]


@pytest.mark.parametrize(("case", "changes", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_series_input_names_the_field(case: str, changes: dict[str, Any], field: str) -> None:
    body = series_body(rhythm={"kind": "every", "every": "P1D", "at": "14:00"})
    body["template"] = {k: v for k, v in body["template"].items() if k != "policy"}
    for key, value in changes.items():
        body[key] = {**body[key], **value} if key == "template" else value
    with pytest.raises(InvalidEventError) as raised:
        parse_series(body, floor=DEFAULT_POLICY_FLOOR, now=NOW)
    assert raised.value.code == "invalid_event"
    assert raised.value.details["field"].startswith(field), raised.value.details


def test_the_floor_of_dev_allows_seconds_and_a_series_without_a_start_keeps_none() -> None:
    # It starts when it is created; a repeat of the same body is the same series.
    definition = parse_series(series_body(), floor=DEV_POLICY_FLOOR, now=NOW)
    assert definition.start is None
    assert definition.rhythm.every == timedelta(seconds=2)


async def test_the_worked_example_of_the_docs_runs_as_they_say(series: SeriesClient) -> None:
    text = (Path(__file__).parents[2] / "docs" / "rhythm.md").read_text()
    block = next(b for b in text.split("```json")[1:] if '"ward-5-monthly"' in b)
    body = json.loads(block.split("```")[0])
    body["series_id"] = f"ward-5-monthly-{uuid.uuid4().hex[:6]}"  # the dev server is shared
    info, _ = await series.create(parse_series(body, floor=DEFAULT_POLICY_FLOOR, now=NOW))
    assert [r.astimezone(UTC).strftime("%d %b %H:%M") for r in info.next_runs[:4]] == [
        "05 Jan 13:00",
        "02 Feb 13:00",
        "02 Mar 13:00",
        "06 Apr 12:00",
    ]
    assert {r.astimezone(AMSTERDAM).strftime("%a %H:%M") for r in info.next_runs} == {"Tue 14:00"}
