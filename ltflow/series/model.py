"""The series definition: a template and a rhythm, validated once where it enters.

:func:`parse_series` judges a body the way a team's opening is judged: the template as a
``team.convened`` (with the deployment's policy floor), the default participants with the fields
of a ``participant.invited`` (each id and each identity once), the sponsor with those of a
``sponsor.assigned``, the rhythm as something that
can fall on a date between the start and the end. Bad input raises ``invalid_event`` naming the
field; nothing is scheduled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.bounds import human
from ltflow.aggregates.errors import InvalidEventError
from ltflow.series import rhythm as r
from ltflow.series.refs import SERIES_ID, case_ref_for, parse_case_ref, slot_label

#: The actor of everything a series records: its teams' opening, invitations and sponsor.
ACTOR_PREFIX = "series:"
#: The example slot a template is validated with (any slot gives the same judgement).
_EXAMPLE_SLOT = datetime(2026, 1, 1, tzinfo=UTC)
Overlap = Literal["skip", "allow"]
__all__ = ["SERIES_ID", "SeriesDefinition", "case_ref_for", "parse_case_ref", "slot_label"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeamTemplate(_Model):
    """What every team of the series is about: a ``team.convened`` without its case."""

    title: v.Name
    trigger: Literal["periodic", "daily_practice"] = "periodic"
    theme: v.Name | None = None
    goal: v.Text
    scope: v.Text
    facilitator: v.Name
    facilitator_id: v.Ref | None = None
    policy: v.Policy = Field(default_factory=v.Policy)


class DefaultParticipant(_Model):
    """Invited to every team of the series (``participant.invited``)."""

    participant_id: v.Ref
    role: v.Name
    subject: v.Ref | None = None
    display_name: v.Name | None = None
    relation: v.Relation | None = None


class SeriesSponsor(_Model):
    """Assigned to every team of the series (``sponsor.assigned``)."""

    sponsor_id: v.Ref
    name: v.Name | None = None


class SeriesDefinition(_Model):
    """A series: the one argument of its Schedule's action (Temporal is its record)."""

    series_id: str = Field(pattern=f"^{SERIES_ID}$")
    template: TeamTemplate
    participants: list[DefaultParticipant] = Field(default_factory=list, max_length=200)
    sponsor: SeriesSponsor | None = None
    rhythm: r.Rhythm
    time_zone: str = "Europe/Amsterdam"
    start: v.Moment | None = None
    end: v.Moment | None = None
    #: ``skip``: no new team while the series' previous team is still before session 1.
    overlap: Overlap = "skip"
    #: Who created or last changed it (the caller's actor).
    changed_by: str | None = None

    @property
    def actor(self) -> str:
        return actor_for(self.series_id)

    @property
    def schedule_id(self) -> str:
        return schedule_id_for(self.series_id)


def actor_for(series_id: str) -> str:
    return f"{ACTOR_PREFIX}{series_id}"


def schedule_id_for(series_id: str) -> str:
    """The Schedule of a series: its id carries the series id."""
    return f"ltflow-series-{series_id}"


def convene_for(series: SeriesDefinition, slot: datetime) -> v.TeamConvened:
    """The ``team.convened`` of a slot: the same body for every attempt at the same slot."""
    return v.TeamConvened(
        case_ref=case_ref_for(series.series_id, slot),
        occurred_at=slot,
        **series.template.model_dump(),
    )


def invitations(series: SeriesDefinition) -> list[v.ParticipantInvited]:
    """The default participants' invitations, with event ids stable per team (a retry repeats)."""
    return [
        v.ParticipantInvited(event_id=f"series-invite-{p.participant_id}", **p.model_dump())
        for p in series.participants
    ]


def sponsor_event(series: SeriesDefinition) -> v.SponsorAssigned | None:
    if series.sponsor is None:
        return None
    return v.SponsorAssigned(event_id="series-sponsor", **series.sponsor.model_dump())


def _problem(field: str, problem: str) -> InvalidEventError:
    return InvalidEventError(
        f"The series is invalid{f' at {field!r}' if field else ''}: {problem.rstrip('.')}.",
        field=field,
        problems=[{"field": field, "problem": problem}],
    )


def _from_validation(exc: ValidationError) -> InvalidEventError:
    errors = exc.errors(include_url=False, include_input=False)
    problems = [
        {"field": _field(e["loc"]), "problem": e["msg"].removeprefix("Value error, ")}
        for e in errors
    ]
    first = problems[0]
    error = _problem(first["field"], first["problem"])
    error.details["problems"] = problems
    return error


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts[:1] == ["rhythm"] and parts[1:2] and parts[1] in ("every", "monthly", "calendar"):
        del parts[1]  # the union's tag is the rhythm's kind, no field of it
    return ".".join(parts)


def parse_series(data: Any, *, floor: timedelta, now: datetime) -> SeriesDefinition:
    """Validate a series body; ``now`` stands for the start when it names none (the series then
    starts when it is created, and a repeat of the same body is the same series)."""
    try:
        series = SeriesDefinition.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(exc) from None
    try:
        tz = r.zone(series.time_zone)
    except ValueError as exc:
        raise _problem("time_zone", str(exc)) from None
    start = series.start or now.replace(microsecond=0)
    if series.end is not None and series.end <= start:
        raise _problem("end", "the end must lie after the start")
    _check_template(series, floor)
    _check_rhythm(series, tz, floor, start)
    return series


def _check_template(series: SeriesDefinition, floor: timedelta) -> None:
    body = {
        **series.template.model_dump(mode="json"),
        "case_ref": case_ref_for(series.series_id, _EXAMPLE_SLOT),
    }
    try:
        v.parse_convene(body, min_policy_duration=floor)
    except InvalidEventError as exc:
        field = str(exc.details.get("field") or _first_field(exc) or "")
        raise _problem(f"template.{field}".rstrip("."), exc.message) from None
    seen: set[str] = set()
    subjects: set[str] = set()
    for number, participant in enumerate(series.participants):
        if participant.participant_id in seen:
            raise _problem(f"participants.{number}.participant_id", "a participant is listed twice")
        if participant.subject is not None and participant.subject in subjects:
            # One identity is one participant of a team (the rulebook would refuse the invite).
            raise _problem(f"participants.{number}.subject", "an identity is listed twice")
        seen.add(participant.participant_id)
        if participant.subject is not None:
            subjects.add(participant.subject)


def _first_field(exc: InvalidEventError) -> str | None:
    problems = exc.details.get("problems") or []
    return str(problems[0]["field"]) if problems else None


def _check_rhythm(series: SeriesDefinition, tz: Any, floor: timedelta, start: datetime) -> None:
    rhythm = series.rhythm
    if isinstance(rhythm, r.Every):
        if rhythm.every < floor:
            raise _problem("rhythm.every", f"a series convenes at most every {human(floor)} here")
        if rhythm.every >= r.DAY and not r.every_days(rhythm, tz, start, series.end):
            raise _problem("rhythm", "no slot falls between the start and the end")
    elif isinstance(rhythm, r.Calendar) and not r.occurs(rhythm, start, series.end, tz):
        raise _problem("rhythm", "the calendar falls on no date (after the start)")
