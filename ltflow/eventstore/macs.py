"""The writer's seal on each stored event: a keyed MAC, written in the same transaction.

The audit chain proves that nothing changed *after* anchoring; it cannot tell a row ltflow wrote
from one that someone with database access inserted before the next anchoring run (a copy of a
stored event as a new version of the same or another team, say). So every event ltflow stores
gets ``HMAC-SHA256(key, F("event-mac") F(team_id) F(version) F(topic) F(state))`` (the audit
chain's field encoding, ``docs/audit.md``) in the table ``ltflow_event_macs`` beside the events,
written by the recorder in the very transaction that inserts the events: an event is never stored
without its MAC, and a MAC never without its event. The key is outside the database
(``LTFLOW_EVENT_MAC_KEY``, or the key file ``event.mac.key`` in the data dir), so a row copied or
made by anyone else has no valid MAC: it binds the bytes to their team and version, and to the
key holder. Anchoring refuses to chain such a row and verification names it (``forged``).
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

TABLE = "ltflow_event_macs"


def field(value: str | bytes | int) -> bytes:
    """The audit chain's field encoding (``ltflow.audit.chain.field``, which this module cannot
    import: the audit package reads the application, which writes through this recorder)."""
    if isinstance(value, int):
        return struct.pack(">q", value)
    data = value.encode() if isinstance(value, str) else value
    return struct.pack(">I", len(data)) + data


_TAG = field("event-mac")


def event_mac(key: bytes, team_id: str, version: int, topic: str, state: bytes) -> bytes:
    """The MAC of one stored event (``team_id`` canonical: ``str(UUID)``)."""
    message = _TAG + field(team_id) + field(version) + field(topic) + field(state)
    return hmac.digest(key, message, "sha256")  # the one-shot C path: no HMAC object per event


def valid(key: bytes, team_id: str, version: int, topic: str, state: bytes, mac: Any) -> bool:
    """Whether ``mac`` (None: absent) is the MAC of this row."""
    if mac is None:
        return False
    return hmac.compare_digest(event_mac(key, team_id, version, topic, state), bytes(mac))


def _rows(key: bytes | None, events: Sequence[StoredEvent]) -> list[tuple[str, int, bytes]]:
    if key is None:
        raise RuntimeError("The event store has no MAC key: it cannot store events.")
    return [
        (
            str(e.originator_id),
            e.originator_version,
            event_mac(key, str(e.originator_id), e.originator_version, e.topic, e.state),
        )
        for e in events
    ]


class MacSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, storing each event's MAC in the same transaction."""

    #: Set by :class:`~ltflow.eventstore.application.LearningTeams` after construction.
    mac_key: bytes | None = None

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {TABLE} (originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, mac BLOB NOT NULL, "
            "PRIMARY KEY (originator_id, originator_version))",
        ]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        ids = super()._insert_events(c, stored_events, **kwargs)
        c.executemany(f"INSERT INTO {TABLE} VALUES (?,?,?)", _rows(self.mac_key, stored_events))
        return ids


class MacPostgresRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, storing each event's MAC in the same transaction
    (its pipeline runs ``_insert_events`` first, inside the transaction of the events)."""

    mac_key: bytes | None = None

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        if datastore.enable_db_functions:  # that insert path never calls ``_insert_events``
            raise ValueError("POSTGRES_ENABLE_DB_FUNCTIONS cannot be used with event MACs.")
        self._macs = f'"{datastore.schema}".{TABLE}'
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {t} (originator_id TEXT NOT NULL, "
                "originator_version BIGINT NOT NULL, mac BYTEA NOT NULL, "
                "PRIMARY KEY (originator_id, originator_version))"
            ).format(t=Identifier(datastore.schema, TABLE))
        )

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        curs.executemany(
            f"INSERT INTO {self._macs} VALUES (%s, %s, %s)", _rows(self.mac_key, stored_events)
        )


def mac_table(recorder: Any) -> str:
    """The qualified MAC table beside ``recorder``'s events."""
    schema = getattr(recorder.datastore, "schema", None)
    return f'"{schema}".{TABLE}' if isinstance(recorder, PostgresApplicationRecorder) else TABLE


def canonical_id(value: Any) -> str:
    """A stored originator id as the MAC writes it (``str(UUID)``)."""
    if isinstance(value, bytes):
        value = value.decode()
    try:
        return str(UUID(str(value)))
    except ValueError:
        return str(value)


def recorder_topic(event_store: str) -> str:
    """The ``APPLICATION_RECORDER_TOPIC`` of the MAC-writing recorder for this backend."""
    name = "MacPostgresRecorder" if event_store == "postgres" else "MacSQLiteRecorder"
    return f"{__name__}:{name}"
