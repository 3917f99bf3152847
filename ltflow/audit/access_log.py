"""The access log: who read which case's audit trail, when, how and for whom (NEN 7513).

Every audit read (history, state, verify, export, and reading this log) appends one entry
*before* its answer is returned: a read that cannot be logged fails. Entries are append-only
(no update or delete exists in code, and the store's triggers refuse them) and hash-chained:
``digest_n = digest("access", digest_{n-1}, n, at, actor, on_behalf_of, channel, action,
team_id, detail)``. Each anchoring run's anchor records the log's head, so cutting the log short
is detected too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from ltflow.audit import chain
from ltflow.audit.findings import Finding
from ltflow.audit.store import AuditStore, Tx

Channel = Literal["cli", "http"]
_COLUMNS = "seq, at, actor, on_behalf_of, channel, action, team_id, detail, prev, digest"


@dataclass(frozen=True)
class Accessor:
    """Who reads: the authenticated caller (``actor``), for whom, through which channel, and why."""

    actor: str
    on_behalf_of: str | None = None
    channel: Channel = "cli"
    reason: str | None = None

    def __post_init__(self) -> None:
        if not self.actor.strip():
            raise ValueError("An accessor needs an actor: who reads the audit trail.")


class AccessEntry(BaseModel):
    """One entry of the access log."""

    seq: int
    at: datetime
    actor: str
    on_behalf_of: str | None
    channel: str
    action: str
    team_id: str | None
    detail: dict[str, Any]
    prev: str
    digest: str


def record_access(
    store: AuditStore,
    accessor: Accessor,
    action: str,
    team_id: str | None,
    at: datetime,
    detail: Mapping[str, Any],
) -> AccessEntry:
    """Append one entry (exclusive among writers of the log) and return it."""
    detail = dict(detail)
    if accessor.reason is not None:
        detail["reason"] = accessor.reason
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)
    when = at.isoformat()
    with store.write("access") as tx:
        seq, prev = head(tx)
        seq += 1
        digest = chain.access_digest(
            prev=prev,
            seq=seq,
            at=when,
            actor=accessor.actor,
            on_behalf_of=accessor.on_behalf_of,
            channel=accessor.channel,
            action=action,
            team_id=team_id,
            detail=text,
        )
        row = (
            seq,
            when,
            accessor.actor,
            accessor.on_behalf_of,
            accessor.channel,
            action,
            team_id,
            text,
            prev,
            digest,
        )
        tx.execute(
            f"INSERT INTO {tx.t['lta_access']} ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", row
        )
    return _entry(row)


def head(tx: Tx) -> tuple[int, bytes]:
    """The last entry's ``(seq, digest)``; ``(0, ZERO)`` for an empty log."""
    row = tx.fetchone(f"SELECT seq, digest FROM {tx.t['lta_access']} ORDER BY seq DESC LIMIT 1")
    return (0, chain.ZERO) if row is None else (int(row[0]), bytes(row[1]))


def entries(
    store: AuditStore, team_id: str | None = None, limit: int | None = None
) -> list[AccessEntry]:
    """The log, oldest first (only ``team_id``'s entries if given; the last ``limit`` if given)."""
    sql = f"SELECT {_COLUMNS} FROM {{t}}"
    params: tuple[Any, ...] = ()
    if team_id is not None:
        sql += " WHERE team_id = ?"
        params = (team_id,)
    sql += " ORDER BY seq DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with store.read() as tx:
        rows = tx.fetchall(sql.format(t=tx.t["lta_access"]), params)
    return [_entry(row) for row in reversed(rows)]


def check_access_log(tx: Tx, marks: Sequence[AccessMark]) -> tuple[int, list[Finding]]:
    """Recompute the whole chain, and find in it every head an anchor recorded (``marks``:
    ``(anchor seq, access seq, access digest)``). Returns the entry count and what disagrees."""
    rows = tx.fetchall(f"SELECT {_COLUMNS} FROM {tx.t['lta_access']} ORDER BY seq")
    found: list[Finding] = []
    prev, expected_seq = chain.ZERO, 1
    digests: dict[int, bytes] = {}
    for seq, at, actor, behalf, channel, action, team, detail, stored_prev, stored in rows:
        if seq != expected_seq:
            gone = str(expected_seq) if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
            found.append(_altered(seq, f"Access-log entries {gone} are gone."))
        recomputed = chain.access_digest(
            prev=prev,
            seq=seq,
            at=at,
            actor=actor,
            on_behalf_of=behalf,
            channel=channel,
            action=action,
            team_id=team,
            detail=detail,
        )
        if bytes(stored_prev) != prev or bytes(stored) != recomputed:
            found.append(_altered(seq, f"Access-log entry {seq} was changed."))
        prev, expected_seq = recomputed, seq + 1
        digests[seq] = bytes(stored)
    return len(rows), found + _check_marks(marks, digests, expected_seq - 1)


#: What an anchor recorded of the access log: ``(anchor seq, access seq, access digest)``.
AccessMark = tuple[int, int, bytes]


def _check_marks(
    marks: Sequence[AccessMark], digests: dict[int, bytes], last: int
) -> list[Finding]:
    found: dict[int, Finding] = {}
    for anchor, seq, digest in marks:
        if seq == 0 or seq in found:
            continue
        if seq not in digests:
            where = "cut short" if seq > last else "robbed of an entry"
            message = (
                f"The access log was {where}: anchor #{anchor} recorded entry {seq}, now gone."
            )
            found[seq] = _altered(seq, message)
        elif digests[seq] != bytes(digest):
            message = f"Access-log entry {seq} differs from what anchor #{anchor} recorded."
            found[seq] = _altered(seq, message)
    return list(found.values())


def _altered(seq: int, message: str) -> Finding:
    return Finding(kind="access_log_altered", seq=seq, message=message)


def _entry(row: tuple[Any, ...]) -> AccessEntry:
    seq, at, actor, behalf, channel, action, team, detail, prev, digest = row
    return AccessEntry(
        seq=int(seq),
        at=datetime.fromisoformat(str(at)),
        actor=actor,
        on_behalf_of=behalf,
        channel=channel,
        action=action,
        team_id=team,
        detail=json.loads(detail),
        prev=bytes(prev).hex(),
        digest=bytes(digest).hex(),
    )
