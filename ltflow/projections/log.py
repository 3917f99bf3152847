"""The application's notification log, as the projections read it.

Rows come from the one reader of the events table (:mod:`ltflow.store.events`) a batch at a
time, and are decoded by the one decoder (:mod:`ltflow.eventstore.decode`): exactly as the
application's mapper decodes them, the lean way wherever that gives the same values, with the
encrypted personal fields of each batch decrypted with keys looked up once. On PostgreSQL
:meth:`EventLog.listen` waits for the ``NOTIFY`` the library's recorder sends in every insert
transaction (push); on SQLite there is no such signal, and the runner polls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder

from ltflow.eventstore.decode import EventDecoder, StoredTeamEvent, TeamEvent
from ltflow.store.events import event_rows

__all__ = ["EventLog", "StoredTeamEvent", "Waiter"]

#: Wait for a push up to this many seconds; returns True when one arrived.
Waiter = Callable[[float], bool]


class EventLog:
    """Read access to one application's notification log."""

    def __init__(self, app: Application[Any]) -> None:
        self.recorder: ApplicationRecorder = app.recorder
        self.rows = event_rows(app.recorder)
        self.decoder = EventDecoder(app.mapper)
        #: The mapper that decodes what the lean way cannot.
        self.mapper = self.decoder.mapper

    def read(self, after: int, limit: int) -> list[tuple[int, TeamEvent | None]]:
        """Up to ``limit`` notifications after ``after``, decoded (None: not a team event)."""
        rows = self.rows.page(after, limit)
        return list(zip([row[0] for row in rows], self.decoder.decode(rows), strict=True))

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
