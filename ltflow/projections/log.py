"""The application's notification log, as the projections read it.

Events are read in batches with the recorder's ``select_notifications`` and decoded with the
application's own mapper, so upcasting (and a cipher or compressor, when configured) apply
exactly as they do for the aggregate. On PostgreSQL :meth:`EventLog.listen` waits for the
``NOTIFY`` the library's recorder sends in every insert transaction (push); on SQLite there is
no such signal, and the runner polls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder

from ltflow.aggregates.learning_team import LearningTeam
from ltflow.projections.team_models import TeamEvent

_TEAM_EVENTS = (LearningTeam.Event, LearningTeam.TeamConvened)
#: Wait for a push up to this many seconds; returns True when one arrived.
Waiter = Callable[[float], bool]


class EventLog:
    """Read access to one application's notification log."""

    def __init__(self, app: Application[Any]) -> None:
        self.recorder: ApplicationRecorder = app.recorder
        self.mapper = app.mapper

    def read(self, after: int, limit: int) -> list[tuple[int, TeamEvent | None]]:
        """Up to ``limit`` notifications after ``after``, decoded (None: not a team event)."""
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        decoded: list[tuple[int, TeamEvent | None]] = []
        for notification in notifications:
            event = self.mapper.to_domain_event(notification)
            team_event = cast("TeamEvent", event) if isinstance(event, _TEAM_EVENTS) else None
            decoded.append((notification.id, team_event))
        return decoded

    def max_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def count_after(self, position: int) -> int:
        """Exactly how many notifications follow ``position`` (ids may have gaps)."""
        from eventsourcing.postgres import PostgresApplicationRecorder
        from eventsourcing.sqlite import SQLiteApplicationRecorder

        recorder = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            sql = f"SELECT COUNT(*) FROM {recorder.events_table_name} WHERE rowid > ?"
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(sql, (position,))
                return int(cursor.fetchone()[0])
        if isinstance(recorder, PostgresApplicationRecorder):
            from psycopg.sql import SQL, Identifier

            query = SQL("SELECT COUNT(*) FROM {0}.{1} WHERE notification_id > %s").format(
                Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
            )
            with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
                cursor.execute(query, (position,))
                row = cursor.fetchone()
                assert row is not None
                return int(next(iter(row.values())))
        return self._count_by_paging(position)

    def _count_by_paging(self, position: int) -> int:
        count, after = 0, position
        while page := self.recorder.select_notifications(
            start=after, limit=10_000, inclusive_of_start=False
        ):
            count, after = count + len(page), page[-1].id
        return count

    @property
    def can_push(self) -> bool:
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
