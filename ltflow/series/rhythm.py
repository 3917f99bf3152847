"""A series' rhythm, and the Temporal ``ScheduleSpec`` it becomes.

Three kinds (docs/rhythm.md):

- ``every``: every N days or weeks at a wall-clock time (or, for demos and tests, every N
  seconds/minutes/hours). Days and weeks are written out as *calendar* entries, which Temporal
  reads in the series' time zone, so 14:00 in Amsterdam stays 14:00 across a DST change; a
  Schedule's intervals count UTC seconds and would drift by an hour. Every day and every week
  are one calendar each; calendars have no "every N days", so for N of two or more the
  occurrences are listed (grouped per month) up to the end, or two years ahead when there is
  none (an update of the series writes them out again).
- ``monthly``: a weekday of a week of the month (the first Tuesday) at a time: one calendar.
- ``calendar``: Temporal's own calendar fields (ranges of seconds, minutes, hours, days of the
  month, months, years, days of the week), for what the other two do not say.

Everything here is pure: validation raises ``ValueError`` with the field's path, and
:func:`occurs` tells whether a calendar can fall on any date at all (the 31st of February).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal, TypeAlias
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from temporalio.client import ScheduleCalendarSpec, ScheduleIntervalSpec, ScheduleRange

#: How far ahead an ``every`` rhythm of days or weeks without an end is written out.
HORIZON = timedelta(days=730)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday: TypeAlias = Literal[
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
]
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


class _Rhythm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Every(_Rhythm):
    """Every ``every`` (ISO 8601 duration): whole days or weeks at ``at``, or a span shorter
    than a day (whole seconds) counted from the start."""

    kind: Literal["every"] = "every"
    every: timedelta
    #: The wall-clock time of each team (days and weeks); default: the start's own time.
    at: time | None = None
    #: For weeks: the first team falls on this weekday on or after the start.
    weekday: Weekday | None = None

    @field_validator("every")
    @classmethod
    def _possible(cls, every: timedelta) -> timedelta:
        if every <= timedelta(0):
            raise ValueError("every must be a positive duration")
        if every.microseconds:
            raise ValueError("every must be whole seconds")
        if every >= DAY and every % DAY:
            raise ValueError("every must be whole days (or weeks), or shorter than a day")
        return every

    @model_validator(mode="after")
    def _consistent(self) -> Every:
        if self.every < DAY and (self.at is not None or self.weekday is not None):
            raise ValueError("at and weekday apply to rhythms of whole days or weeks")
        if self.weekday is not None and self.every % timedelta(days=7):
            raise ValueError("weekday applies to rhythms of whole weeks")
        return self


class Monthly(_Rhythm):
    """Once a month on a weekday of the first to fourth week (``week: 1``, ``weekday:
    tuesday``: the first Tuesday), at ``at``."""

    kind: Literal["monthly"] = "monthly"
    weekday: Weekday
    week: int = Field(ge=1, le=4)
    at: time


class Range(_Rhythm):
    """``start`` to ``end`` (inclusive, default ``start``) in steps of ``step``."""

    start: int = Field(ge=0, le=9999)
    end: int | None = Field(default=None, ge=0, le=9999)
    step: int = Field(default=1, ge=1, le=9999)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")
        return self

    def values(self) -> range:
        return range(self.start, (self.end if self.end is not None else self.start) + 1, self.step)


_LIMITS = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month": (1, 12),
    "year": (1900, 2999),
    "day_of_week": (0, 6),
}


class Calendar(_Rhythm):
    """Temporal's calendar fields, read in the series' time zone. A field left out means its
    default (second, minute, hour: 0; the others: every value). ``day_of_week``: 0 is Sunday."""

    kind: Literal["calendar"] = "calendar"
    second: list[Range] = Field(default_factory=lambda: [Range(start=0)], min_length=1)
    minute: list[Range] = Field(default_factory=lambda: [Range(start=0)], min_length=1)
    hour: list[Range] = Field(default_factory=lambda: [Range(start=0)], min_length=1)
    day_of_month: list[Range] = Field(default_factory=lambda: [Range(start=1, end=31)])
    month: list[Range] = Field(default_factory=lambda: [Range(start=1, end=12)])
    year: list[Range] = Field(default_factory=list)
    day_of_week: list[Range] = Field(default_factory=lambda: [Range(start=0, end=6)])

    @field_validator(*_LIMITS)
    @classmethod
    def _in_limits(cls, ranges: list[Range], info: ValidationInfo) -> list[Range]:
        low, high = _LIMITS[str(info.field_name)]
        for rng in ranges:
            top = rng.end if rng.end is not None else rng.start
            if rng.start < low or top > high:
                raise ValueError(f"{info.field_name} must lie between {low} and {high}")
        return ranges

    def allowed(self, name: str) -> set[int]:
        ranges: list[Range] = getattr(self, name)
        return {value for rng in ranges for value in rng.values()}


Rhythm = Annotated[Every | Monthly | Calendar, Field(discriminator="kind")]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone; ``ValueError`` for a name the time-zone database does not know."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Amsterdam)"
        ) from None


def _range(values: list[int]) -> list[ScheduleRange]:
    return [ScheduleRange(value) for value in values]


def _at(
    moment: time,
    *,
    year: list[ScheduleRange] | None = None,
    month: list[ScheduleRange] | None = None,
    day_of_month: list[ScheduleRange] | None = None,
    day_of_week: list[ScheduleRange] | None = None,
) -> ScheduleCalendarSpec:
    return ScheduleCalendarSpec(
        second=_range([moment.second]),
        minute=_range([moment.minute]),
        hour=_range([moment.hour]),
        year=year or [],
        month=month or [ScheduleRange(1, 12)],
        day_of_month=day_of_month or [ScheduleRange(1, 31)],
        day_of_week=day_of_week or [ScheduleRange(0, 6)],
    )


def every_days(rhythm: Every, tz: ZoneInfo, start: datetime, end: datetime | None) -> list[date]:
    """The dates of an ``every`` rhythm of days or weeks from ``start`` to ``end`` (or the
    horizon), in the series' time zone."""
    local = start.astimezone(tz)
    at = rhythm.at or local.time().replace(microsecond=0)
    first = local.date()
    if rhythm.weekday is not None:
        first += timedelta(days=(WEEKDAYS.index(rhythm.weekday) - first.weekday()) % 7)
    if datetime.combine(first, at, tz) < local:
        first += rhythm.every if rhythm.weekday is None else timedelta(days=7)
    last = (end or start + HORIZON).astimezone(tz)
    days, day = [], first
    while datetime.combine(day, at, tz) <= last:
        days.append(day)
        day += timedelta(days=rhythm.every.days)
    return days


def calendars_of(
    rhythm: Every | Monthly | Calendar, tz: ZoneInfo, start: datetime, end: datetime | None
) -> tuple[list[ScheduleCalendarSpec], list[ScheduleIntervalSpec]]:
    """The calendars (and, for spans shorter than a day, the interval) of a rhythm."""
    if isinstance(rhythm, Every) and rhythm.every < DAY:
        # Counted from the start, so the first team falls on it.
        offset = timedelta(seconds=int(start.timestamp()) % int(rhythm.every.total_seconds()))
        return [], [ScheduleIntervalSpec(every=rhythm.every, offset=offset)]
    if isinstance(rhythm, Every):
        at = rhythm.at or start.astimezone(tz).time().replace(microsecond=0)
        if rhythm.every in (DAY, WEEK):
            return [_daily_or_weekly(rhythm, tz, start, at)], []
        months: dict[tuple[int, int], list[int]] = defaultdict(list)
        for day in every_days(rhythm, tz, start, end):
            months[(day.year, day.month)].append(day.day)
        return [
            _at(at, year=_range([y]), month=_range([m]), day_of_month=_range(days))
            for (y, m), days in sorted(months.items())
        ], []
    if isinstance(rhythm, Monthly):
        first = 7 * (rhythm.week - 1) + 1
        dow = (WEEKDAYS.index(rhythm.weekday) + 1) % 7  # Temporal: 0 is Sunday
        spec = _at(
            rhythm.at,
            day_of_month=[ScheduleRange(first, first + 6)],
            day_of_week=_range([dow]),
        )
        return [spec], []
    return [_raw(rhythm)], []


def _daily_or_weekly(
    rhythm: Every, tz: ZoneInfo, start: datetime, at: time
) -> ScheduleCalendarSpec:
    """Every day, or every week on one weekday: a calendar of its own, without a horizon."""
    if rhythm.every == DAY:
        return _at(at)
    weekday = rhythm.weekday or WEEKDAYS[start.astimezone(tz).weekday()]
    return _at(at, day_of_week=_range([(WEEKDAYS.index(weekday) + 1) % 7]))


def _raw(rhythm: Calendar) -> ScheduleCalendarSpec:
    def ranges(name: str) -> list[ScheduleRange]:
        return [
            ScheduleRange(r.start, r.end if r.end is not None else r.start, r.step)
            for r in getattr(rhythm, name)
        ]

    return ScheduleCalendarSpec(
        second=ranges("second"),
        minute=ranges("minute"),
        hour=ranges("hour"),
        day_of_month=ranges("day_of_month"),
        month=ranges("month"),
        year=ranges("year"),
        day_of_week=ranges("day_of_week"),
    )


def occurs(rhythm: Calendar, start: datetime, end: datetime | None, tz: ZoneInfo) -> bool:
    """Whether a raw calendar falls on some date between start and end (or in the 28 years
    after the start, one whole cycle of weekdays and leap years)."""
    days, months, dows = (rhythm.allowed(n) for n in ("day_of_month", "month", "day_of_week"))
    years = rhythm.allowed("year")
    day = start.astimezone(tz).date()
    last = min((end.astimezone(tz).date() if end else date.max), day + timedelta(days=28 * 366))
    while day <= last:
        if (
            day.month in months
            and day.day in days
            and (day.weekday() + 1) % 7 in dows
            and (not years or day.year in years)
        ):
            return True
        day += DAY
    return False
