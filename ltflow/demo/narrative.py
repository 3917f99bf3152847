"""A realistic Learning Team, step by step: the case ``ltflow demo`` runs and the tests replay.

A medication-administration incident on a surgical ward: five people are invited and one
withdraws; two sessions with a processing time between them; one thing to keep and two to change;
a micro-action and an experiment; the success criteria are met at the second review; the story is
shared with two other wards.

The case itself is data, ``case.toml`` beside this module: the convene body, and every step with
its relative time, event and caption. Its times are written in the vocabulary of
:mod:`ltflow.demo.durations`; this module reads the file once and turns it into :class:`Step`
objects for a given start and a given pair of method durations.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any

from pydantic import BaseModel, ConfigDict

from ltflow.demo.durations import DurationError, evaluate, iso_duration, time_at

_DATA_FILE = "case.toml"
_PARAMETERS = ("reflection", "review_every")  # the keyword parameters of steps()
_TIME_FORMS = ("$datetime", "$date")


@dataclass(frozen=True)
class Step:
    """One thing that happens: ``after`` is the time since the previous step."""

    after: timedelta
    event: dict[str, Any]
    caption: str


class _StepData(BaseModel):
    """One ``[[steps]]`` entry of the data file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: str
    caption: str
    event: dict[str, Any]


class _CaseData(BaseModel):
    """The data file as a whole."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parameters: dict[str, str]
    durations: dict[str, str]
    convene: dict[str, Any]
    steps: list[_StepData]


def _load() -> _CaseData:
    text = files("ltflow.demo").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    case = _CaseData.model_validate(tomllib.loads(text))
    if tuple(case.parameters) != _PARAMETERS:
        raise DurationError(f"{_DATA_FILE}: [parameters] must be {_PARAMETERS}")
    return case


_CASE = _load()
_DEFAULTS = {name: iso_duration(value) for name, value in _CASE.parameters.items()}

CASE_REF: str = _CASE.convene["case_ref"]

#: ``(participant_id, display_name, role)`` of everyone the case invites, in order.
PARTICIPANTS: list[tuple[str, str, str]] = [
    (s.event["participant_id"], s.event["display_name"], s.event["role"])
    for s in _CASE.steps
    if s.event["type"] == "participant.invited"
]
#: Who attends the sessions.
ATTENDEES: list[str] = next(
    list(s.event["attendees"]) for s in _CASE.steps if s.event["type"] == "session.completed"
)


def convene(policy: dict[str, str] | None = None, case_ref: str = CASE_REF) -> dict[str, Any]:
    """The ``team.convened`` body that opens the case, under ``case_ref``, with ``policy`` if
    given (the method's durations; the engine's defaults otherwise)."""
    body: dict[str, Any] = {**_CASE.convene, "case_ref": case_ref}
    if policy is not None:
        body["policy"] = policy
    return body


def steps(
    start: datetime,
    reflection: timedelta = _DEFAULTS["reflection"],
    review_every: timedelta = _DEFAULTS["review_every"],
) -> list[Step]:
    """The case after ``team.convened`` at ``start``. ``reflection`` is the wait between
    sessions 1 and 2; ``review_every`` spaces the two follow-up reviews."""
    names = _names({"reflection": reflection, "review_every": review_every})
    return [
        Step(evaluate(s.after, names), _resolve(s.event, start, names), s.caption)
        for s in _CASE.steps
    ]


def _names(parameters: dict[str, timedelta]) -> dict[str, timedelta]:
    """The parameters, then the case's derived durations in order (each may use those before)."""
    names = dict(parameters)
    for name, expr in _CASE.durations.items():
        if name in names:
            raise DurationError(f"{_DATA_FILE}: duration {name!r} is defined twice")
        names[name] = evaluate(expr, names)
    return names


def _resolve(value: Any, start: datetime, names: dict[str, timedelta]) -> Any:
    """``value`` with every time form replaced by its text; fresh containers throughout."""
    if isinstance(value, dict):
        if any(key in _TIME_FORMS for key in value):
            return _time_text(value, start, names)
        return {key: _resolve(item, start, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, start, names) for item in value]
    return value


def _time_text(form: dict[str, Any], start: datetime, names: dict[str, timedelta]) -> str:
    """``{"$datetime": "start + …"}`` as an ISO date-time, ``{"$date": …}`` as an ISO date."""
    if len(form) != 1:
        raise DurationError(f"{_DATA_FILE}: a time form has one key, not {sorted(form)}")
    ((kind, expr),) = form.items()
    at = time_at(expr, start, names)
    return at.isoformat() if kind == "$datetime" else at.date().isoformat()
