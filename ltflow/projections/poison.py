"""A poison event: one stored event a team's views cannot fold, found without stopping the rest.

When the runner's quick fold of a team's events in a batch raises, :func:`fold_carefully` folds
them again one at a time from the team's stored fold, deriving every read model's rows after
each event, to find the first event that fails and the rows as they stood just before it. The
failure becomes a :class:`Poison`: which event, which view, the error's class and a message with
every text of the event's payload and of the team's view taken out (payloads hold personal
data; a record for operators must not), and where in the code it was raised.

Failures of the infrastructure (the database, the process) are never poison: they concern every
team alike, and the runner stops or waits them out as before (:data:`NOT_POISON`).
"""

from __future__ import annotations

import sqlite3
import sysconfig
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ConnectionNotFromPoolError,
    ConnectionPoolClosedError,
    PersistenceError,
)
from pydantic import BaseModel, ValidationError

from ltflow.eventstore.decode import TeamEvent
from ltflow.projections import team_detail
from ltflow.projections.base import Row, TeamProjection
from ltflow.projections.team_models import TeamDetailView

#: Errors of the database or the process: they stop (or pause) the runner, never one team.
NOT_POISON: tuple[type[BaseException], ...] = (
    PersistenceError,
    ConnectionPoolClosedError,
    ConnectionNotFromPoolError,
    sqlite3.Error,
    OSError,
    MemoryError,
)
try:
    import psycopg

    NOT_POISON += (psycopg.Error,)
except ImportError:  # pragma: no cover - psycopg comes with eventsourcing[postgres]
    pass

#: What stands in for a text taken out of an error message.
REDACTED = "…"
#: Shorter texts are left in messages: they identify nobody, and removing them would garble
#: the message (field names, short words).
MIN_REDACTED = 3
MAX_MESSAGE = 300
_STDLIB = sysconfig.get_paths()["stdlib"]


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A stored event this code cannot decode (an unknown topic, a payload it cannot read)."""

    originator_id: UUID
    originator_version: int
    topic: str
    error: Exception
    #: The stored payload's texts, when it could be parsed at all: kept out of the record.
    texts: tuple[str, ...] = ()


#: What a log read gives per notification: a team event, an undecodable one, or None (not a
#: team event).
Entry = TeamEvent | Undecodable | None


@dataclass(frozen=True, slots=True)
class Poison:
    """One event a team's views could not fold, before it is stored as a quarantine record."""

    team_id: UUID
    #: The read model that failed (``team_detail``: the fold itself, or reading the event).
    projection: str
    #: The event's notification id, version and type (None: no event to blame, as when a read
    #: model failed while re-derived from a stored fold).
    notification_id: int | None
    version: int | None
    event_type: str | None
    error_class: str
    #: The error's message, without any text of the payload or the view.
    error: str
    #: ``file:line in function`` where it was raised (the deepest frame of ltflow's own code).
    location: str
    #: The team's later events in the same read, not applied either.
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class Careful:
    """What folding a team event by event gave."""

    #: The team's fold after every event (None when one failed: the team is not cached).
    view: TeamDetailView | None
    #: Each read model's rows after the last event that folded (None: no event folded; what
    #: is stored for the team stands).
    rows: dict[str, list[Row]] | None
    #: How many events folded.
    applied: int
    poison: Poison | None


def fold_carefully(
    team_id: UUID,
    stored: Callable[[], TeamDetailView | None],
    events: Sequence[tuple[int, TeamEvent | Undecodable]],
    projections: Sequence[TeamProjection],
) -> Careful:
    """Fold ``events`` one by one onto the team's ``stored`` fold; stop at the first that fails.

    Slow (every read model's rows after every event) and only taken when the quick fold failed.
    """
    base = projections[0].name
    try:
        view = stored()
    except NOT_POISON:
        raise
    except Exception as exc:  # the stored fold itself cannot be read: blame the first event
        return Careful(None, None, 0, _blame(team_id, base, events, 0, exc, None))
    rows: dict[str, list[Row]] | None = None
    for index, (_, event) in enumerate(events):
        if isinstance(event, Undecodable):
            poison = _blame(team_id, base, events, index, event.error, None)
            return Careful(None, rows, index, poison)
        failing = base
        try:
            view = team_detail.apply_event(view, event)
            after: dict[str, list[Row]] = {}
            for projection in projections:
                failing = projection.name
                after[projection.name] = projection.rows(view)
        except NOT_POISON:
            raise
        except Exception as exc:  # whatever a step or a view raises: it is this event's
            return Careful(None, rows, index, _blame(team_id, failing, events, index, exc, view))
        rows = after
    return Careful(view, rows, len(events), None)


def _blame(
    team_id: UUID,
    projection: str,
    events: Sequence[tuple[int, TeamEvent | Undecodable]],
    index: int,
    exc: BaseException,
    context: object,
) -> Poison:
    notification_id, event = events[index]
    if isinstance(event, Undecodable):
        texts, event_type = set(event.texts), event.topic
    else:
        texts, event_type = set(texts_in((event.payload, context))), event.TYPE
    error_class, message, location = describe(exc, texts)
    return Poison(
        team_id=team_id,
        projection=projection,
        notification_id=notification_id,
        version=event.originator_version,
        event_type=event_type,
        error_class=error_class,
        error=message,
        location=location,
        skipped=len(events) - index - 1,
    )


def rederive_poison(
    team_id: UUID, projection: str, view: TeamDetailView | None, exc: BaseException
) -> Poison:
    """A read model failed on a team's stored fold while it was re-derived (no event to blame)."""
    error_class, message, location = describe(exc, set(texts_in(view)))
    version = None if view is None else view.version
    return Poison(team_id, projection, None, version, None, error_class, message, location)


def describe(exc: BaseException, texts: Iterable[str]) -> tuple[str, str, str]:
    """The error's class, its message with ``texts`` taken out, and where it was raised."""
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    return name, redact(_message(exc), texts), _location(exc)


def _message(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        # pydantic's own message shows the input, shortened, so it could not be taken out.
        problems = exc.errors(include_url=False, include_input=False, include_context=False)
        parts = [f"{'.'.join(map(str, p['loc'])) or '(root)'}: {p['msg']}" for p in problems]
        return f"{exc.error_count()} validation error(s) for {exc.title}: " + "; ".join(parts)
    return str(exc)


def redact(message: str, texts: Iterable[str]) -> str:
    """``message`` without any of ``texts`` (as written, or escaped as ``repr`` writes them)."""
    for text in sorted({t for t in texts if len(t) >= MIN_REDACTED}, key=len, reverse=True):
        message = message.replace(text, REDACTED)
        escaped = repr(text)[1:-1]
        if escaped != text:
            message = message.replace(escaped, REDACTED)
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + REDACTED
    return message


def texts_in(value: object, depth: int = 0) -> Iterable[str]:
    """Every text inside ``value`` (payload JSON, or a view's models), keys of mappings aside."""
    if isinstance(value, str):
        yield value
    elif depth > 32:
        return
    elif isinstance(value, dict):
        for item in value.values():
            yield from texts_in(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from texts_in(item, depth + 1)
    elif isinstance(value, BaseModel):
        # The instance's own values, not model_dump(): a half-changed view may not serialize,
        # and pydantic's warning about that would print the very values.
        yield from texts_in(dict(value.__dict__), depth + 1)


def _location(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    frame = ([f for f in frames if _own(f.filename)] or frames)[-1]
    path = frame.filename.replace("\\", "/")
    start = max(path.rfind("/ltflow/"), path.rfind("/tests/"))
    short = path[start + 1 :] if start >= 0 else Path(path).name
    return f"{short}:{frame.lineno} in {frame.name}"


def _own(filename: str) -> bool:
    """Code of ltflow (or of the host), not of a library or Python: where a fix would go."""
    if "/ltflow/" in filename.replace("\\", "/"):
        return True
    return not ("site-packages" in filename or filename.startswith((_STDLIB, "<")))


def undecodable(row_id: Any, version: int, topic: Any, exc: Exception, payload: Any) -> Undecodable:
    """An :class:`Undecodable` for a stored row (``payload``: its parsed payload, if any)."""
    return Undecodable(UUID(str(row_id)), version, str(topic), exc, tuple(texts_in(payload)))
