"""The access log: who read which case's audit trail, when, how and for whom (NEN 7513).

Every audit read (history, state, verify, export, and reading this log) appends one entry
*before* its answer is returned: a read that cannot be logged fails. Entries are append-only
(no update or delete exists in code, and the store's triggers refuse them) and hash-chained:
``digest_n = digest("access", digest_{n-1}, n, at, actor, on_behalf_of, channel, action,
team_id, detail)``. Each sealing run's anchor records the log's head, so cutting the log short
is detected too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from ltflow.audit import chain
from ltflow.audit.findings import Finding
from ltflow.audit.ledger import Anchor
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
    **detail: Any,
) -> AccessEntry:
    """Append one entry (exclusive among writers of the log) and return it."""
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
        tx.execute(
            f"INSERT INTO {tx.t['lta_access']} ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
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
            ),
        )
    return _entry(
        (
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
    )


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


def check_access_log(tx: Tx, anchor: Anchor | None) -> tuple[int, list[Finding]]:
    """Recompute the whole chain; returns the number of entries and what disagrees."""
    rows = tx.fetchall(f"SELECT {_COLUMNS} FROM {tx.t['lta_access']} ORDER BY seq")
    found: list[Finding] = []
    prev, expected_seq = chain.ZERO, 1
    digests: dict[int, bytes] = {}
    for seq, at, actor, behalf, channel, action, team, detail, stored_prev, stored in rows:
        if seq != expected_seq:
            found.append(_altered(seq, f"Access-log entries {expected_seq}-{seq - 1} are gone."))
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
    if anchor is not None and anchor.access_seq > 0:
        if anchor.access_seq not in digests:
            found.append(_altered(anchor.access_seq, _CUT.format(a=anchor)))
        elif digests[anchor.access_seq] != anchor.access_digest:
            found.append(
                _altered(
                    anchor.access_seq,
                    f"Access-log entry {anchor.access_seq} differs from "
                    f"what anchor #{anchor.seq} recorded.",
                )
            )
    return len(rows), found


_CUT = "The access log was cut short: anchor #{a.seq} recorded entry {a.access_seq}, now gone."


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
