"""The stored events exactly as the event store holds them: no decoding, no cipher, no upcasting.

The audit chain covers these raw rows, read through :mod:`ltflow.store.events` (the one reader
of the events table, on the application's own connections). Team ids are given in one
canonical text form (``str(UUID)``) on both backends; a row whose id is not a UUID keeps its
text as stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from ltflow.store.events import EventRow, SQLEventRows, event_rows
from ltflow.store.sqlite import path_uri

__all__ = [
    "Canon",
    "EventSource",
    "Positioned",
    "PostgresEventSource",
    "RawRow",
    "SQLiteEventSource",
    "canonical",
    "path_uri",
]

#: ``(team_id, version, topic, state)``: one stored event.
RawRow = tuple[str, int, str, bytes]
#: ``(notification_id, row)``.
Positioned = tuple[int, RawRow]


def canonical(originator_id: object) -> str:
    """The team id as the audit trail writes it (from a UUID, its text, or that text's bytes)."""
    if isinstance(originator_id, UUID):
        return str(originator_id)
    if isinstance(originator_id, bytes):
        originator_id = originator_id.decode()
    text = str(originator_id)
    try:
        return str(UUID(text))
    except ValueError:
        return text


class Canon(dict[Any, str]):
    """Canonical ids by the store's own ids, memoised: a team's rows share one id."""

    def __missing__(self, key: Any) -> str:
        value = self[key] = canonical(key)
        return value


class EventSource:
    """Read access to the raw rows of one application's event store."""

    def __init__(self, rows: SQLEventRows) -> None:
        self.events = rows

    @property
    def path(self) -> str | None:
        """The SQLite file (None: not a file), for :meth:`reopened`."""
        return self.events.path

    def teams(self) -> list[str]:
        """Every originator id with stored events, canonical, sorted."""
        return sorted(canonical(team) for team in self.events.teams())

    def rows(self, team_ids: Sequence[str]) -> list[RawRow]:
        """Every stored event of these teams, by team id then version."""
        canon = Canon()
        found = [(canon[i], v, t, s) for _, i, v, t, s in self.events.team_rows(team_ids)]
        found.sort(key=lambda row: (row[0], row[1]))
        return found

    def page(self, position: int, limit: int) -> list[EventRow]:
        """Up to ``limit`` rows with notification id above ``position``, in that order, as the
        store gives them: ``(notification_id, originator_id, version, topic, state)`` with the
        id in the store's own text (see :class:`Canon`)."""
        return self.events.page(position, limit)

    def sweep_page(self, position: int, limit: int, upto: int | None = None) -> list[EventRow]:
        """:meth:`page` for the whole-store sweep, which only hashes what it reads: the id and
        the topic may come as their UTF-8 bytes where that is cheaper to read (SQLite); no
        row past ``upto`` (if given)."""
        return self.events.sweep_page(position, limit, upto)

    def last_position(self) -> int:
        """The highest notification id stored (0: none)."""
        return self.events.max_position()

    def after(self, position: int, limit: int) -> list[Positioned]:
        """Up to ``limit`` events with notification id above ``position``, in that order."""
        canon = Canon()
        return [(n, (canon[i], v, t, s)) for n, i, v, t, s in self.page(position, limit)]

    def reopened(self) -> EventSource:
        """The same source on a connection of its own (for a forked process, which must never
        use its parent's connections)."""
        return type(self)(self.events.reopened())

    def close(self) -> None:
        """Release what this source opened itself (not the application's connections)."""
        self.events.close()

    @staticmethod
    def for_recorder(recorder: ApplicationRecorder) -> EventSource:
        """The source of a SQLite or PostgreSQL recorder (the audit trail reads no other)."""
        rows = event_rows(recorder)
        if not isinstance(rows, SQLEventRows):
            raise TypeError(f"The audit trail cannot read a {type(recorder).__name__}.")
        return (SQLiteEventSource if rows.db.dialect == "sqlite" else PostgresEventSource)(rows)


class SQLiteEventSource(EventSource):
    """The rows of a SQLite event store (a file may be reopened in a forked process)."""


class PostgresEventSource(EventSource):
    """The rows of a PostgreSQL event store."""
