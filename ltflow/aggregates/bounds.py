"""Bounds on what a sender may ask for, and time arithmetic that cannot overflow.

A policy duration lies between a deployment's floor (``LTFLOW_MIN_POLICY_DURATION``: one hour in
production, one second in ``ltflow dev`` and ``ltflow demo``) and two years; business times and
due dates lie in the years 1900-2999. These bounds only stop absurd values: the method's own
defaults stay the defaults. They judge new input only. A stored record is never judged again
(:data:`STORED`), so the arithmetic here saturates instead of raising for whatever an older
version of ltflow may have stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

from ltflow.aggregates.errors import InvalidEventError

if TYPE_CHECKING:
    from ltflow.aggregates.vocabulary import Policy

#: No policy duration is longer: a follow-up or a reflection beyond two years means a typo.
MAX_POLICY_DURATION = timedelta(days=730)
#: The deployment floor when none is configured (production).
DEFAULT_POLICY_FLOOR = timedelta(hours=1)
#: The floor of ``ltflow dev``, ``ltflow demo`` and the tests: demos run in seconds.
DEV_POLICY_FLOOR = timedelta(seconds=1)
#: No deployment may configure a lower floor, and the timers never run closer than this.
MIN_POLICY_FLOOR = timedelta(seconds=1)

#: Business times and due dates a sender may give (a fixed era: a model reads no clock).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
#: Where saturated arithmetic stops: a day inside ``datetime``'s range, so that a conversion to
#: any UTC offset still fits.
FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 30, tzinfo=UTC)

#: The validation context of a stored record (:func:`~ltflow.aggregates.vocabulary.load_command`):
#: the bounds of new input are not applied to it again.
STORED: dict[str, Any] = {"ltflow_stored": True}


def is_stored(info: ValidationInfo) -> bool:
    """Whether the model being validated is a stored record."""
    return isinstance(info.context, dict) and bool(info.context.get("ltflow_stored"))


def human(duration: timedelta) -> str:
    """``1 hour``, ``730 days``, ``90 seconds``: the largest whole unit."""
    seconds = duration.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}" + ("s" if count != 1 else "")
    return f"{seconds:.6f}".rstrip("0") + " seconds"


def within_ceiling(policy: Policy, info: ValidationInfo) -> Policy:
    """The plain model rule of a team's policy: no duration beyond two years (positivity and
    order are the policy's own rules). A stored record is not judged again."""
    if is_stored(info):
        return policy
    for name in type(policy).model_fields:
        if getattr(policy, name) > MAX_POLICY_DURATION:
            raise PydanticCustomError(
                "policy_duration_range",
                "policy.{field} must be positive and at most {maximum}",
                {"field": name, "maximum": human(MAX_POLICY_DURATION)},
            )
    return policy


def check_policy_floor(policy: Policy, floor: timedelta) -> None:
    """The deployment's floor (and the ceiling) for a team being convened; raises the
    contract's ``invalid_event`` naming the field and the range."""
    for name in type(policy).model_fields:
        value: timedelta = getattr(policy, name)
        if not floor <= value <= MAX_POLICY_DURATION:
            problem = (
                f"policy.{name} must be between {human(floor)} and {human(MAX_POLICY_DURATION)}"
            )
            raise InvalidEventError(
                f"{problem}; it is {human(value)}.",
                problems=[{"field": f"policy.{name}", "problem": problem}],
                minimum_seconds=floor.total_seconds(),
                maximum_seconds=MAX_POLICY_DURATION.total_seconds(),
            )


def within_era(moment: datetime, info: ValidationInfo) -> datetime:
    """A business time a sender gives lies in the years 1900-2999 (UTC)."""
    if not is_stored(info) and not EARLIEST <= moment <= LATEST:
        raise PydanticCustomError(
            "datetime_range", "must lie between 1900-01-01 and 2999-12-31 (UTC)"
        )
    return moment


def day_within_era(day: date, info: ValidationInfo) -> date:
    """A due date a sender gives lies in the years 1900-2999."""
    if not is_stored(info) and not EARLIEST.date() <= day <= LATEST.date():
        raise PydanticCustomError("date_range", "must lie between 1900-01-01 and 2999-12-31")
    return day


def shift(moment: datetime, delta: timedelta, times: int = 1) -> datetime:
    """``moment + delta * times``, saturated at :data:`FAR_PAST` / :data:`FAR_FUTURE`."""
    try:
        shifted = moment + delta * times
    except OverflowError:
        return FAR_FUTURE if delta * (1 if times >= 0 else -1) > timedelta(0) else FAR_PAST
    return min(max(shifted, FAR_PAST), FAR_FUTURE)


def to_utc(moment: datetime) -> datetime:
    """The moment in UTC; one at the very edge of ``datetime``'s range saturates."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return FAR_FUTURE if moment.year > 1 else FAR_PAST
