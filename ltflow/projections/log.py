"""The application's notification log, as the projections read it.

Rows come from the one reader of the events table (:mod:`ltflow.store.events`) a batch at a
time, and are decoded by the one decoder (:mod:`ltflow.eventstore.decode`): exactly as the
application's mapper decodes them, the lean way wherever that gives the same values, except
that personal fields stay encrypted with their participants' keys (the views keep them so). On
PostgreSQL :meth:`EventLog.listen` waits for the ``NOTIFY`` the library's recorder sends in every
insert transaction (push); on SQLite there is no such signal, and the runner polls.

A row this code cannot decode (a topic it does not know, a payload it cannot read) does not fail
the read: it comes as an :class:`~ltflow.projections.poison.Undecodable`, so that only its team
is quarantined. Failures of the database are raised as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder

from ltflow.eventstore.decode import EventDecoder, StoredTeamEvent, TeamEvent, encrypted_mapper
from ltflow.projections.base import ProjectionError
from ltflow.projections.poison import NOT_POISON, Entry, Undecodable, undecodable
from ltflow.store.events import EventRow, event_rows

__all__ = ["EventLog", "StoredTeamEvent", "Waiter"]

#: Wait for a push up to this many seconds; returns True when one arrived.
Waiter = Callable[[float], bool]


class EventLog:
    """Read access to one application's notification log."""

    def __init__(self, app: Application[Any]) -> None:
        self.recorder: ApplicationRecorder = app.recorder
        self.rows = event_rows(app.recorder)
        # Personal fields stay encrypted in the views: readers decrypt them with the keys
        # (team_detail.read_team_detail), and an erasure needs no rebuild to take effect.
        self.decoder = EventDecoder(encrypted_mapper(app.mapper))
        #: The mapper that decodes what the lean way cannot.
        self.mapper = self.decoder.mapper

    def read(self, after: int, limit: int) -> list[tuple[int, Entry]]:
        """Up to ``limit`` notifications after ``after``, decoded (None: not a team event)."""
        rows = self.rows.page(after, limit)
        return list(zip([row[0] for row in rows], self._decode(rows), strict=True))

    def team_events(self, team_id: UUID, upto: int) -> list[tuple[int, TeamEvent | Undecodable]]:
        """One team's events up to notification ``upto``, in order, with their ids."""
        rows = [row for row in self.rows.team_rows([str(team_id)]) if row[0] <= upto]
        if any(row[0] == 0 for row in rows):
            raise ProjectionError(
                "Folding one team again needs an event store that keeps notification ids "
                "with its events (SQLite or PostgreSQL)."
            )
        decoded = zip([row[0] for row in rows], self._decode(rows), strict=True)
        return [(position, event) for position, event in decoded if event is not None]

    def _decode(self, rows: list[EventRow]) -> list[Entry]:
        try:
            return list(self.decoder.decode(rows))
        except NOT_POISON:
            raise
        except Exception:  # one row spoils the batch: find it (them), decode the rest
            return [self._decode_one(row) for row in rows]

    def _decode_one(self, row: EventRow) -> Entry:
        try:
            return self.decoder.decode([row])[0]
        except NOT_POISON:
            raise
        except Exception as exc:  # whatever it is, it is this row's
            try:
                UUID(str(row[1]))
            except ValueError:
                return None  # not a team's: no team id to quarantine, nothing to fold
            return undecodable(row[1], row[2], row[3], exc, self._payload(row[4]))

    def _payload(self, state: bytes) -> Any:
        """The stored payload as plain JSON, where it parses: only to keep its texts out of
        the error's record."""
        mapper = self.mapper
        try:
            if mapper.cipher is not None:
                state = mapper.cipher.decrypt(state)
            if mapper.compressor is not None:
                state = mapper.compressor.decompress(state)
            return orjson.loads(state).get("payload")
        except Exception:  # then there is no readable text to take out either
            return None

    def max_id(self) -> int:
        """The highest notification id stored (0: none)."""
        return self.rows.max_position()

    def count_after(self, position: int) -> int:
        """Exactly how many notifications follow ``position`` (ids may have gaps)."""
        return self.rows.count_after(position)

    @property
    def can_push(self) -> bool:
        """Whether :meth:`listen` gives a waiter (PostgreSQL)."""
        from eventsourcing.postgres import PostgresApplicationRecorder

        return isinstance(self.recorder, PostgresApplicationRecorder)

    @contextmanager
    def listen(self) -> Iterator[Waiter | None]:
        """On PostgreSQL, a waiter woken by the recorder's ``NOTIFY``; elsewhere None."""
        from eventsourcing.postgres import PostgresApplicationRecorder

        recorder = self.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            yield None
            return
        from psycopg.sql import SQL, Identifier

        with recorder.datastore.get_connection() as conn:
            conn.execute(SQL("LISTEN {0}").format(Identifier(recorder.channel_name)))

            def wait(timeout: float) -> bool:
                arrived = False
                for _ in conn.notifies(timeout=timeout, stop_after=1):
                    arrived = True
                return arrived

            try:
                yield wait
            finally:
                conn.execute("UNLISTEN *")
