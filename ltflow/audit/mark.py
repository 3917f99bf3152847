"""The event store remembers its audit store, so a lost, replaced or reset audit store fails.

The audit store alone cannot tell "nothing was ever anchored" from "the anchors were deleted":
an empty ``audit.sqlite3`` (or truncated ``lta_*`` tables) looks like a fresh install, and
anchoring would happily chain every event again into it. So the *event store* keeps a note in
its own database (the table ``ltflow_audit_mark``, one row): which audit store it is anchored
in (the digest of that store's anchor #1, unique to it: it commits to the moment and the heads
of the first run), the latest anchor it saw written there (seq, position), how many events that
store holds anchored, and how many access-log entries that anchor recorded.

The note is written after every anchoring run, only ever forward (a slower concurrent run never
moves it back), and only after the audit store's transaction committed, so it is never ahead of
what the audit store holds. Anchoring refuses to write into a store the note does not describe
(:class:`AuditStoreLost`), and verification reports the same disagreement as a failure
(``audit_store_lost``), never "OK". A store without a note (a fresh install, or one anchored
before this note existed) is judged as before; the first anchoring run writes the note.

An attacker who can write to the event store's database can delete the note as well: against
that, only an anchor published outside ltflow helps (``verify --anchor``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from ltflow.aggregates.errors import LtflowError
from ltflow.audit import access_log, ledger
from ltflow.audit.findings import Finding
from ltflow.audit.source import EventSource
from ltflow.store.sql import Tx, advisory_key

TABLE = "ltflow_audit_mark"
_DDL = (
    "CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY, store TEXT NOT NULL,"
    " seq BIGINT NOT NULL, position BIGINT NOT NULL, events BIGINT NOT NULL,"
    " access_seq BIGINT NOT NULL)"
)


class AuditStoreLost(LtflowError):
    """The audit store is not the one the event store was anchored in, or is behind it."""

    code = "audit_store_lost"


@dataclass(frozen=True)
class Mark:
    """What the event store remembers of its audit store (see the module docstring)."""

    #: Hex digest of the audit store's anchor #1: the store's identity.
    store: str
    seq: int
    position: int
    #: Events anchored in the store when anchor ``seq`` was written.
    events: int
    #: Access-log entries anchor ``seq`` recorded.
    access_seq: int


class MarkBook:
    """The note in the event store's database (SQLite or PostgreSQL, through the library's
    connections)."""

    def __init__(self, source: EventSource) -> None:
        db: Any = source.events.db
        if not hasattr(db, "write"):
            raise TypeError(f"Cannot write beside the events in a {type(db).__name__}.")
        self.db = db
        qualified = getattr(db, "qualified", None)
        self.table: str = qualified(TABLE) if qualified is not None else TABLE
        self._ready = False

    def _prepare(self) -> None:
        if not self._ready:
            # Under a lock: PostgreSQL's CREATE TABLE IF NOT EXISTS races a concurrent one.
            with self.db.write(advisory_key("ltflow-audit-mark", self.table)) as tx:
                tx.execute(_DDL.format(t=self.table))
            self._ready = True

    def read(self) -> Mark | None:
        """The note, or None when no anchoring run has written one."""
        self._prepare()
        with self.db.read() as tx:
            row = tx.fetchone(
                f"SELECT store, seq, position, events, access_seq FROM {self.table} WHERE id = 1"
            )
        if row is None:
            return None
        store, seq, position, events, access_seq = row
        return Mark(str(store), int(seq), int(position), int(events), int(access_seq))

    def record(self, mark: Mark) -> None:
        """Move the note forward to ``mark`` (never back: a later anchor has a higher seq)."""
        self._prepare()
        with self.db.write() as tx:
            tx.execute(
                f"INSERT INTO {self.table} (id, store, seq, position, events, access_seq) "
                "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, "
                "position = excluded.position, events = excluded.events, "
                f"access_seq = excluded.access_seq WHERE {TABLE}.store = excluded.store "
                f"AND {TABLE}.seq < excluded.seq",
                (mark.store, mark.seq, mark.position, mark.events, mark.access_seq),
            )


_BOOKS: WeakKeyDictionary[EventSource, MarkBook] = WeakKeyDictionary()


def book_of(source: EventSource) -> MarkBook:
    """The note beside ``source``'s events (one per source: its table is prepared once)."""
    book = _BOOKS.get(source)
    if book is None:
        book = _BOOKS[source] = MarkBook(source)
    return book


def current(tx: Tx) -> Mark | None:
    """The note the audit store (read in ``tx``) deserves now (None: it holds no anchor)."""
    first = ledger.anchor_at(tx, 1)
    latest = ledger.latest_anchor(tx)
    if first is None or latest is None:
        return None
    return Mark(first.digest.hex(), latest.seq, latest.position, _anchored(tx), latest.access_seq)


def check(tx: Tx, mark: Mark | None) -> list[Finding]:
    """Whether the audit store (read in ``tx``) is the one ``mark`` describes, and not behind it;
    the failures, each with its sentence."""
    if mark is None:
        return []
    first = ledger.anchor_at(tx, 1)
    latest = ledger.latest_anchor(tx)
    anchored = _anchored(tx)
    found: list[Finding] = []
    if first is None or first.digest.hex() != mark.store:
        what = "holds no anchor" if first is None else "begins with another anchor #1"
        found.append(
            _lost(
                f"{mark.events} events were never anchored in this audit store; the audit store "
                f"was replaced or lost: the event store was anchored up to anchor #{mark.seq} "
                f"(position {mark.position}) in another audit store, and this one {what}.",
                mark.seq,
            )
        )
    elif latest is None or latest.seq < mark.seq or anchored < mark.events:
        have = latest.seq if latest else 0
        found.append(
            _lost(
                f"{max(mark.events - anchored, 0)} events were never anchored in this audit "
                "store; the audit store is younger than the events (replaced by an older copy, "
                f"or cut short): the event store saw anchor #{mark.seq} with {mark.events} "
                f"events, this store ends at anchor #{have} with {anchored}.",
                mark.seq,
            )
        )
    entries = access_log.head(tx)[0]
    if entries < mark.access_seq:
        found.append(
            Finding(
                kind="access_log_altered",
                seq=mark.access_seq,
                message=f"The access log was reset: anchor #{mark.seq} recorded "
                f"{mark.access_seq} entries, the log holds {entries}.",
            )
        )
    return found


def refuse_if_lost(tx: Tx, mark: Mark | None) -> None:
    """Raise :class:`AuditStoreLost` where :func:`check` finds the store lost or behind:
    anchoring into it would launder the loss."""
    lost = [f for f in check(tx, mark) if f.kind == "audit_store_lost"]
    if lost:
        raise AuditStoreLost(lost[0].message, seq=mark.seq if mark else None)


def _anchored(tx: Tx) -> int:
    row = tx.fetchone(f"SELECT COUNT(*) FROM {tx.t['lta_links']}")
    return int(row[0]) if row else 0


def _lost(message: str, seq: int) -> Finding:
    return Finding(kind="audit_store_lost", seq=seq, message=message)
