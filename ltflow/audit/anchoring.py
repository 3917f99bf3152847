"""Anchoring: extend every team's hash chain over newly stored events, and anchor the run.

:func:`anchor` follows the application's notification log from the position of the last anchor.
Each batch is one transaction on the audit store: for every event after that position it
appends ``(position, team, version, digest, link)`` to ``lta_links``, then writes one anchor that
commits to the heads of the teams the batch advanced, to the access log's head and to the previous
anchor. A crash before the commit leaves nothing behind, and the batch is anchored again; two
anchoring runs never interleave (the store's :data:`LOCK`); an event whose version is already
anchored is never chained again (a row re-inserted under a new notification id is judged by
``verify``). So anchoring is idempotent and safe to run anywhere, as often as you like.

How it runs in production:

* **continuously**: the projection service (or the worker) calls :func:`anchor` after each
  catch-up or every few seconds, so the window in which an event is stored but not yet anchored
  stays small (an event changed inside that window cannot be told from one stored that way);
* **before every verify and export**: :class:`~ltflow.audit.service.Audit` anchors first, so what
  it checks or exports is covered up to the moment of the read;
* **from cron**, as a safety net: ``ltflow audit anchor`` (one catch-up, then exit).

Publish the latest anchor (``seq:digest``, logged by every run and printed by
``ltflow audit anchor`` and ``verify --all``) somewhere ltflow cannot write: a ticket, an e-mail to
the board, a WORM bucket. ``verify --anchor seq:digest`` then proves that nobody rewrote the
audit store itself after that moment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog

from ltflow.audit import access_log, chain, ledger, mark
from ltflow.audit.forgery import MacCheck
from ltflow.audit.ledger import Anchor, Head
from ltflow.audit.source import EventSource
from ltflow.audit.store import AuditStore, Tx

log = structlog.get_logger("ltflow.audit")

#: The audit store's lock that anchoring runs hold. The name is the one older versions of ltflow
#: hold too (it names a PostgreSQL advisory lock): while old and new processes run side by side
#: in a rolling upgrade, they must still exclude each other, so it never changes with the words.
LOCK = "seal"


@dataclass
class AnchorResult:
    """What one :func:`anchor` call did."""

    events: int = 0
    teams: set[str] = field(default_factory=set)
    anchors: list[Anchor] = field(default_factory=list)
    #: Rows after the position whose version was already anchored (re-inserted rows).
    skipped: int = 0
    #: Rows without a valid writer's MAC, never chained (``verify`` names them ``forged``).
    forged: int = 0

    @property
    def latest(self) -> Anchor | None:
        return self.anchors[-1] if self.anchors else None


def anchor(
    source: EventSource,
    store: AuditStore,
    *,
    now: Callable[[], datetime],
    batch_size: int = 5000,
    macs: MacCheck | None = None,
) -> AnchorResult:
    """Anchor everything stored so far (see the module docstring); returns what was done.
    ``macs``: chain only rows with a valid writer's MAC (:mod:`ltflow.audit.forgery`)."""
    result = AnchorResult()
    book = mark.book_of(source)
    noted = book.read()
    first = True
    while True:
        with store.write(LOCK) as tx:
            if first:  # never chain into a store that lost what the event store saw anchored
                mark.refuse_if_lost(tx, noted)
                first = False
            done = _anchor_batch(tx, source, now(), batch_size, result, macs)
        if done:
            break
    if result.anchors or noted is None:
        with store.read() as tx:
            now_noted = mark.current(tx)
        if now_noted is not None:  # after the commit: the note is never ahead of the store
            book.record(now_noted)
    if result.anchors:
        latest = result.anchors[-1]
        log.info("audit anchored", events=result.events, anchor=latest.ref)
    return result


def _anchor_batch(
    tx: Tx,
    source: EventSource,
    at: datetime,
    batch_size: int,
    result: AnchorResult,
    macs: MacCheck | None,
) -> bool:
    """Anchor one batch; True when the log holds nothing more after it."""
    last = ledger.latest_anchor(tx)
    position = last.position if last else 0
    rows = source.after(position, batch_size)
    access = access_log.head(tx)
    unchanged = (last.access_seq, last.access_digest) if last else (0, chain.ZERO)
    if not rows and access == unchanged:
        return True
    seq = (last.seq if last else 0) + 1
    heads = ledger.chain_heads(tx, sorted({row[0] for _, row in rows}))
    links: list[tuple[int, str, int, bytes, bytes, int]] = []
    forged = set(macs.forged([row for _, row in rows])) if macs is not None and rows else set()
    for position, (team, version, topic, state) in rows:
        if (team, version) in forged:  # no ltflow process wrote it: never vouch for it
            result.forged += 1
            continue
        head_version, head_link = heads.get(team, (0, chain.ZERO))
        if version <= head_version:
            result.skipped += 1
            continue
        new_link = chain.link(head_link, team, version, topic, state)
        heads[team] = (version, new_link)
        links.append((position, team, version, chain.event_digest(topic, state), new_link, seq))
    advanced = {team: heads[team] for team in {row[1] for row in links}}
    anchor = _new_anchor(
        seq=seq,
        prev=last.digest if last else chain.ZERO,
        position=rows[-1][0] if rows else position,
        at=at,
        events=len(links),
        access=access,
        heads=[Head(seq, t, v, lk) for t, (v, lk) in sorted(advanced.items())],
    )
    _insert(tx, links, anchor, advanced)
    result.events += len(links)
    result.teams.update(advanced)
    result.anchors.append(anchor)
    return len(rows) < batch_size


def _new_anchor(
    *,
    seq: int,
    prev: bytes,
    position: int,
    at: datetime,
    events: int,
    access: tuple[int, bytes],
    heads: list[Head],
) -> Anchor:
    draft = Anchor(seq, position, at.isoformat(), events, access[0], access[1], prev, b"")
    return replace(draft, digest=draft.recompute(heads))


def _insert(
    tx: Tx,
    links: list[tuple[int, str, int, bytes, bytes, int]],
    anchor: Anchor,
    advanced: dict[str, tuple[int, bytes]],
) -> None:
    tx.executemany(
        f"INSERT INTO {tx.t['lta_links']} (position, team_id, version, digest, link, anchor) "
        "VALUES (?,?,?,?,?,?)",
        links,
    )
    tx.executemany(
        f"INSERT INTO {tx.t['lta_anchor_heads']} (seq, team_id, version, link) VALUES (?,?,?,?)",
        [(anchor.seq, team, v, lk) for team, (v, lk) in sorted(advanced.items())],
    )
    tx.execute(
        f"INSERT INTO {tx.t['lta_anchors']} (seq, position, anchored_at, events, access_seq, "
        "access_digest, prev, digest) VALUES (?,?,?,?,?,?,?,?)",
        (
            anchor.seq,
            anchor.position,
            anchor.anchored_at,
            anchor.events,
            anchor.access_seq,
            anchor.access_digest,
            anchor.prev,
            anchor.digest,
        ),
    )
