"""What the audit store holds, as plain records, and the queries that read and append them.

* ``lta_links``: per team and version, the event's digest and its chain link (written once).
* ``lta_anchors``: one row per anchoring run, chained: the run's position in the notification
  log, the access log's head, and a digest over the heads of the teams it advanced.
* ``lta_anchor_heads``: those heads (team, version, link), so each anchor can be recomputed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ltflow.audit import chain
from ltflow.audit.store import Tx

#: ``(version, digest, link, anchor seq)``: one anchored event of a team, as its chain holds it.
Linked = tuple[int, bytes, bytes, int]


class Head(NamedTuple):
    """A team's head as an anchor recorded it (a tuple: anchors hold many)."""

    seq: int
    team_id: str
    version: int
    link: bytes

    @property
    def leaf(self) -> bytes:
        return chain.head_leaf(self.team_id, self.version, self.link)


@dataclass(frozen=True, slots=True)
class Anchor:
    """One anchoring run's commitment, chained to the anchor before it."""

    seq: int
    position: int
    anchored_at: str
    events: int
    access_seq: int
    access_digest: bytes
    prev: bytes
    digest: bytes

    def recompute(self, heads: Sequence[Head]) -> bytes:
        """The digest this anchor must have, given the heads it commits to."""
        ordered = sorted(heads, key=lambda h: h.team_id)
        return self.recompute_from(chain.head_leaves((h[1], h[2], h[3]) for h in ordered))

    def recompute_from(self, leaves: Sequence[bytes]) -> bytes:
        """:meth:`recompute` from the heads' leaves, in team-id order."""
        return chain.anchor_digest(
            prev=self.prev,
            seq=self.seq,
            position=self.position,
            anchored_at=self.anchored_at,
            events=self.events,
            access_seq=self.access_seq,
            access_digest=self.access_digest,
            root=chain.heads_root(leaves),
        )

    @property
    def ref(self) -> str:
        """``seq:hex``: what to publish, and what ``verify --anchor`` takes."""
        return f"{self.seq}:{self.digest.hex()}"


_ANCHOR_COLUMNS = "seq, position, anchored_at, events, access_seq, access_digest, prev, digest"


def _anchor(row: tuple[Any, ...]) -> Anchor:
    seq, position, at, events, access_seq, access, prev, digest = row
    return Anchor(
        int(seq),
        int(position),
        str(at),
        int(events),
        int(access_seq),
        bytes(access),
        bytes(prev),
        bytes(digest),
    )


def latest_anchor(tx: Tx) -> Anchor | None:
    row = tx.fetchone(
        f"SELECT {_ANCHOR_COLUMNS} FROM {tx.t['lta_anchors']} ORDER BY seq DESC LIMIT 1"
    )
    return None if row is None else _anchor(row)


def anchor_at(tx: Tx, seq: int) -> Anchor | None:
    """Anchor ``seq``, if the store holds it."""
    row = tx.fetchone(f"SELECT {_ANCHOR_COLUMNS} FROM {tx.t['lta_anchors']} WHERE seq = ?", (seq,))
    return None if row is None else _anchor(row)


def anchors(tx: Tx, from_seq: int = 0) -> list[Anchor]:
    """Every anchor from ``from_seq`` on, in order."""
    rows = tx.fetchall(
        f"SELECT {_ANCHOR_COLUMNS} FROM {tx.t['lta_anchors']} WHERE seq >= ? ORDER BY seq",
        (from_seq,),
    )
    return [_anchor(row) for row in rows]


def access_marks(tx: Tx) -> list[tuple[int, int, bytes]]:
    """What every anchor recorded of the access log: ``(seq, access_seq, access_digest)``."""
    sql = f"SELECT seq, access_seq, access_digest FROM {tx.t['lta_anchors']} ORDER BY seq"
    return [(int(a), int(s), bytes(d)) for a, s, d in tx.fetchall(sql)]


def heads_of_anchors(tx: Tx, seqs: Sequence[int] | None = None) -> dict[int, list[Head]]:
    """The heads each anchor commits to (all anchors when ``seqs`` is None)."""
    sql = f"SELECT seq, team_id, version, link FROM {tx.t['lta_anchor_heads']}"
    rows: list[tuple[Any, ...]] = []
    if seqs is None:
        rows = tx.fetchall(sql)
    for start in range(0, len(seqs or ()), 500):
        where, params = tx.in_list(list(seqs or ())[start : start + 500])
        rows.extend(tx.fetchall(f"{sql} WHERE seq {where}", params))
    found: dict[int, list[Head]] = defaultdict(list)
    for row in rows:  # both backends give int, str, int, bytes
        found[row[0]].append(Head(*row))
    return found


def head_rows(tx: Tx) -> list[tuple[int, str, int, bytes]]:
    """Every anchored head as ``(seq, team_id, version, link)``, by anchor then team id (the
    whole-store check: plain rows, sorted here rather than by walking an index)."""
    sql = f"SELECT seq, team_id, version, link FROM {tx.t['lta_anchor_heads']}"
    rows: list[tuple[int, str, int, bytes]] = tx.fetchall(sql)
    rows.sort()
    return rows


def head_map(tx: Tx) -> dict[tuple[int, str], tuple[int, bytes]]:
    """Every anchored head: ``(anchor seq, team) -> (version, link)``."""
    return heads_by_key(head_rows(tx))


def heads_by_key(
    rows: Sequence[tuple[int, str, int, bytes]],
) -> dict[tuple[int, str], tuple[int, bytes]]:
    """:func:`head_rows` as ``(anchor seq, team) -> (version, link)``."""
    return {(seq, team): (version, link) for seq, team, version, link in rows}


def heads_of_teams(tx: Tx, team_ids: Sequence[str]) -> dict[str, list[Head]]:
    """Every anchored head of these teams, by team, in anchor order."""
    found: dict[str, list[Head]] = defaultdict(list)
    for start in range(0, len(team_ids), 500):
        where, params = tx.in_list(team_ids[start : start + 500])
        for seq, team, version, link in tx.fetchall(
            f"SELECT seq, team_id, version, link FROM {tx.t['lta_anchor_heads']} "
            f"WHERE team_id {where}",
            params,
        ):
            found[team].append(Head(seq, team, version, link))
    for heads in found.values():
        heads.sort(key=lambda h: h.seq)
    return found


def links(tx: Tx, team_ids: Sequence[str]) -> dict[str, list[Linked]]:
    """The anchored events of these teams, by team, in version order."""
    found: dict[str, list[Linked]] = defaultdict(list)
    for start in range(0, len(team_ids), 500):
        where, params = tx.in_list(team_ids[start : start + 500])
        for team, version, digest, link, seq in tx.fetchall(
            f"SELECT team_id, version, digest, link, anchor FROM {tx.t['lta_links']} "
            f"WHERE team_id {where}",
            params,
        ):
            found[team].append((int(version), bytes(digest), bytes(link), int(seq)))
    for linked in found.values():
        linked.sort()
    return found


def chained_teams(tx: Tx) -> list[str]:
    return [str(row[0]) for row in tx.fetchall(f"SELECT DISTINCT team_id FROM {tx.t['lta_links']}")]


def chain_heads(tx: Tx, team_ids: Sequence[str]) -> dict[str, tuple[int, bytes]]:
    """Each team's last anchored version and link (teams never anchored are absent)."""
    found: dict[str, tuple[int, bytes]] = {}
    table = tx.t["lta_links"]
    for start in range(0, len(team_ids), 500):
        where, params = tx.in_list(team_ids[start : start + 500])
        rows = tx.fetchall(
            f"SELECT team_id, version, link FROM {table} WHERE (team_id, version) IN "
            f"(SELECT team_id, MAX(version) FROM {table} WHERE team_id {where} GROUP BY team_id)",
            params,
        )
        found.update((team, (int(version), bytes(link))) for team, version, link in rows)
    return found


def scan_links(tx: Tx, after: int, upto: int | None) -> list[tuple[int, bytes, int]]:
    """Anchored links with ``after < position <= upto`` (no upper bound for None), by position:
    ``(position, link, anchor seq)``."""
    sql = f"SELECT position, link, anchor FROM {tx.t['lta_links']} WHERE "
    if upto is None:
        rows = tx.fetchall(sql + "position > ? ORDER BY position", (after,))
    else:
        rows = tx.fetchall(sql + "position > ? AND position <= ? ORDER BY position", (after, upto))
    return rows  # bytea and BLOB both arrive as bytes


def last_links(tx: Tx, upto: int) -> dict[str, tuple[int, bytes, int]]:
    """Each team's last anchored link at or before position ``upto``:
    ``team -> (version, link, anchor seq)`` (where a sweep of the positions after it picks
    the team's chain up)."""
    table = tx.t["lta_links"]
    if tx.dialect == "postgres":
        sql = (
            f"SELECT DISTINCT ON (team_id) team_id, version, link, anchor FROM {table} "
            "WHERE position <= ? ORDER BY team_id, position DESC"
        )
    else:  # SQLite: the other columns come from the row with the max()
        sql = (
            f"SELECT team_id, version, link, anchor, max(position) FROM {table} "
            "WHERE position <= ? GROUP BY team_id"
        )
    return {str(r[0]): (int(r[1]), bytes(r[2]), int(r[3])) for r in tx.fetchall(sql, (upto,))}


def teams_at(tx: Tx, positions: Sequence[int]) -> set[str]:
    """The teams of the anchored links at these positions."""
    found: set[str] = set()
    for start in range(0, len(positions), 500):
        where, params = tx.in_list(positions[start : start + 500])
        sql = f"SELECT team_id FROM {tx.t['lta_links']} WHERE position {where}"
        found.update(str(row[0]) for row in tx.fetchall(sql, params))
    return found
