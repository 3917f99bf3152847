"""The application's notification log, as the projections read it.

Events are read in batches and decoded exactly as the application's mapper decodes them (its
cipher and compressor, when configured, apply; an event stored under an older ``class_version``
goes through the mapper itself, so upcasting applies as it does for the aggregate). Because the
fold reads only a handful of fields, :class:`EventLog` decodes those and nothing more: one plain
JSON decode and the ``occurred_at`` conversion, instead of the transcoder's per-object hook,
whenever that gives the same values (see :meth:`EventLog._decode`); events with sealed personal
fields always go through the (shredding) mapper, which opens them. On PostgreSQL
:meth:`EventLog.listen` waits for the ``NOTIFY`` the library's recorder sends in every insert
transaction (push); on SQLite there is no such signal, and the runner polls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    JSONTranscoder,
    Mapper,
    Notification,
)
from eventsourcing.utils import resolve_topic

from ltflow.aggregates.learning_team import LearningTeam
from ltflow.aggregates.vocabulary import PERSONAL_FIELDS
from ltflow.privacy import BatchKeys, ShreddingMapper
from ltflow.projections.team_models import TeamEvent
from ltflow.transcoder import FastJSONTranscoder, has_float

_TEAM_EVENTS = (LearningTeam.Event, LearningTeam.TeamConvened)
#: Wait for a push up to this many seconds; returns True when one arrived.
Waiter = Callable[[float], bool]
#: A stored event as read: notification id, originator id, version, topic, state.
_Row = tuple[int, Any, int, str, bytes]
#: A team event stores two transcoded values at its top level (``timestamp``, ``occurred_at``).
_TYPED = b'"_type_"'
_TOP_LEVEL_TYPED = 2


@dataclass(slots=True)
class StoredTeamEvent:
    """A stored team event with the fields the fold reads (a :class:`TeamEvent`)."""

    TYPE: str
    originator_id: UUID
    originator_version: int
    occurred_at: datetime
    actor: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Kind:
    """What a topic names: a team event type (and its class version), or something else."""

    type: str | None
    class_version: int = 1
    #: Has sealed personal fields (opened with the participant's key).
    personal: bool = False


def _decoding(mapper: Mapper[Any]) -> tuple[Mapper[Any], frozenset[str] | None]:
    """The mapper to decode with, and the event types only it may decode (None: every type).

    ltflow's :class:`~ltflow.privacy.ShreddingMapper` opens sealed personal fields of a few
    types and decodes every other type exactly as the library's own mapper does. The log reads
    every type the lean way and opens those fields itself, with each team's keys looked up once
    per batch (:class:`~ltflow.privacy.BatchKeys`); the mapper's twin, with the same keys,
    decodes what the lean way cannot.
    """
    if type(mapper.transcoder) not in (JSONTranscoder, FastJSONTranscoder):
        return mapper, None
    if type(mapper).to_domain_event is Mapper.to_domain_event:
        return mapper, frozenset()
    if type(mapper) is ShreddingMapper:
        return mapper.reading(), frozenset()
    return mapper, None


class EventLog:
    """Read access to one application's notification log."""

    def __init__(self, app: Application[Any]) -> None:
        self.recorder: ApplicationRecorder = app.recorder
        transcoder = app.mapper.transcoder
        self._names = transcoder.names if isinstance(transcoder, JSONTranscoder) else {}
        #: Event types only the mapper may decode (None: all of them).
        self.mapper, self._via_mapper = _decoding(app.mapper)
        #: The batch's key lookups, when personal fields are sealed.
        self._keys: BatchKeys | None = None
        if isinstance(self.mapper, ShreddingMapper) and isinstance(self.mapper.keys, BatchKeys):
            self._keys = self.mapper.keys
        self._kinds: dict[str, _Kind] = {}

    def read(self, after: int, limit: int) -> list[tuple[int, TeamEvent | None]]:
        """Up to ``limit`` notifications after ``after``, decoded (None: not a team event)."""
        keys = self._keys
        if keys is not None:
            keys.forget()
        ids: dict[Any, UUID] = {}
        rows = self._select(after, limit)
        for row in rows:
            if row[1] not in ids:
                ids[row[1]] = row[1] if isinstance(row[1], UUID) else UUID(str(row[1]))
        if keys is not None:
            kinds = self._kinds
            personal = {
                ids[row[1]] for row in rows if (kinds.get(row[3]) or self._kind(row[3])).personal
            }
            keys.prefetch(list(personal))
        return [(row[0], self._decode(row, ids[row[1]])) for row in rows]

    def _decode(self, row: _Row, originator_id: UUID) -> TeamEvent | None:
        kind = self._kinds.get(row[3]) or self._kind(row[3])
        if kind.type is None:
            return None
        if self._via_mapper is not None and kind.type not in self._via_mapper:
            fields = self._fields(row[4])
            # Exact when nothing below the top level was transcoded (so no object hook is
            # needed) and no upcast is due; anything else goes through the mapper.
            if fields is not None and fields.get("class_version", 1) == kind.class_version:
                occurred = fields["occurred_at"]
                payload = fields["payload"]
                if kind.personal and self._keys is not None:
                    self._keys.open_payload(originator_id, kind.type, payload)
                return StoredTeamEvent(
                    kind.type,
                    originator_id,
                    row[2],
                    self._names[occurred["_type_"]].decode(occurred["_data_"]),
                    fields["actor"],
                    payload,
                )
        notification = Notification(
            id=row[0],
            originator_id=originator_id,
            originator_version=row[2],
            topic=row[3],
            state=row[4],
        )
        return cast("TeamEvent", self.mapper.to_domain_event(notification))

    def _fields(self, state: bytes) -> dict[str, Any] | None:
        mapper = self.mapper
        if mapper.cipher is not None:
            state = mapper.cipher.decrypt(state)
        if mapper.compressor is not None:
            state = mapper.compressor.decompress(state)
        if state.count(_TYPED) != _TOP_LEVEL_TYPED:
            return None
        try:
            fields: dict[str, Any] = orjson.loads(state)
        except orjson.JSONDecodeError:  # NaN, or not JSON at all: the mapper reads (or reports) it
            return None
        payload = fields.get("payload")
        if type(payload) is not dict or has_float(payload):
            return None  # a float may be an integer orjson did not keep exact: the mapper reads it
        return fields

    def _kind(self, topic: str) -> _Kind:
        kind = self._kinds.get(topic)
        if kind is None:
            cls = resolve_topic(topic)
            kind = self._kinds[topic] = (
                _Kind(cls.TYPE, getattr(cls, "class_version", 1), cls.TYPE in PERSONAL_FIELDS)
                if isinstance(cls, type) and issubclass(cls, _TEAM_EVENTS)
                else _Kind(None)
            )
        return kind

    def _select(self, after: int, limit: int) -> list[_Row]:
        """Raw rows after ``after``: one plain query on SQLite and PostgreSQL."""
        from eventsourcing.postgres import PostgresApplicationRecorder
        from eventsourcing.sqlite import SQLiteApplicationRecorder

        recorder = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            sql = (
                "SELECT rowid, originator_id, originator_version, topic, state FROM "
                f"{recorder.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?"
            )
            with recorder.datastore.transaction(commit=False) as cursor:
                raw = cursor.sqlite_cursor
                raw.row_factory = None  # plain tuples: no Row object per stored event
                raw.execute(sql, (after, limit))
                rows: list[_Row] = raw.fetchall()
                return rows
        if isinstance(recorder, PostgresApplicationRecorder):
            from psycopg.rows import tuple_row
            from psycopg.sql import SQL, Identifier

            query = SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {0}.{1} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
            ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
            with (
                recorder.datastore.get_connection() as conn,
                conn.cursor(row_factory=tuple_row) as cursor,
            ):
                cursor.execute(query, (after, limit), prepare=True)
                return [(i, o, v, t, bytes(s)) for i, o, v, t, s in cursor.fetchall()]
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in recorder.select_notifications(
                start=after, limit=limit, inclusive_of_start=False
            )
        ]

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
