"""Rows no ltflow process wrote: every stored event must carry its writer's MAC.

The recorder stores each event's MAC (:mod:`ltflow.eventstore.macs`) in the same transaction as
the event. Anchoring chains only rows whose MAC is valid (a row without one is skipped, and
stays unanchored), and verification reports every stored row without a valid MAC as ``forged``,
unless another finding already names that version (a changed row is ``changed``: its MAC fails
too, and saying so twice helps nobody). Rows stored before the MACs existed are accepted only by
:func:`adopt` (``ltflow audit adopt --before <position>``), an explicit, logged step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ltflow.audit.findings import Finding
from ltflow.audit.source import Canon, EventSource, RawRow
from ltflow.eventstore import macs

#: ``(team_id, version)``.
Key = tuple[str, int]


class MacCheck:
    """The MACs beside ``source``'s events, checked with ``key``."""

    def __init__(self, source: EventSource, key: bytes) -> None:
        self.source, self.key = source, key
        self.db: Any = source.events.db
        qualified = getattr(self.db, "qualified", None)
        self.table: str = qualified(macs.TABLE) if qualified is not None else macs.TABLE

    def stored(self, team_ids: Sequence[str]) -> dict[Key, bytes]:
        """The stored MACs of these teams."""
        found: dict[Key, bytes] = {}
        ids = sorted(set(team_ids))
        with self.db.read() as tx:
            for start in range(0, len(ids), 500):
                where, params = tx.in_list(ids[start : start + 500])
                sql = f"SELECT originator_id, originator_version, mac FROM {self.table} "
                for team, version, mac in tx.fetchall(sql + f"WHERE originator_id {where}", params):
                    found[(str(team), int(version))] = bytes(mac)
        return found

    def forged(self, rows: Sequence[RawRow]) -> list[Key]:
        """The rows (canonical team ids) without a valid MAC, in the order given."""
        stored = self.stored([row[0] for row in rows])
        return [
            (team, version)
            for team, version, topic, state in rows
            if not macs.valid(self.key, team, version, topic, state, stored.get((team, version)))
        ]

    def sweep(self, page: int = 20_000) -> list[Key]:
        """Every stored row without a valid MAC (the whole store, a page at a time). The MACs
        are read in one pass first (a lookup per page by team read each long case's MACs
        again on every page: five times slower); memory holds one MAC per stored event."""
        with self.db.read() as tx:
            rows = tx.fetchall(f"SELECT originator_id, originator_version, mac FROM {self.table}")
        stored = {(str(team), int(version)): bytes(mac) for team, version, mac in rows}
        del rows
        found: list[Key] = []
        position = 0
        canon = Canon()
        key, valid = self.key, macs.valid
        while events := self.source.page(position, page):
            for _, raw, version, topic, state in events:
                team = canon[raw]
                if not valid(key, team, version, topic, state, stored.get((team, version))):
                    found.append((team, version))
            position = events[-1][0]
        return found

    def adopt(self, before: int, page: int = 5000) -> int:
        """Give every row at a position below ``before`` that has *no* MAC one (rows whose MAC
        is wrong stay forged); returns how many were adopted."""
        adopted, position = 0, 0
        canon = Canon()
        while rows := [r for r in self.source.page(position, page) if r[0] < before]:
            raw = [(canon[i], v, t, s) for _, i, v, t, s in rows]
            stored = self.stored([row[0] for row in raw])
            new = [
                (team, version, macs.event_mac(self.key, team, version, topic, state))
                for team, version, topic, state in raw
                if (team, version) not in stored
            ]
            if new:
                with self.db.write() as tx:
                    tx.executemany(f"INSERT INTO {self.table} VALUES (?,?,?)", new)
            adopted += len(new)
            position = rows[-1][0]
            if len(rows) < page:
                break
        return adopted


def findings(forged: Iterable[Key], named: Iterable[Finding]) -> list[Finding]:
    """``forged`` as findings, less the versions another failure already names."""
    named = [f for f in named if f.failure]
    taken = {(f.team_id, f.version) for f in named} | {(f.team_id, f.other_version) for f in named}
    return [
        Finding(
            kind="forged",
            team_id=team,
            version=version,
            message=f"Version {version} carries no valid MAC of ltflow's writer: no ltflow "
            "process stored it (a copied or inserted row; or a row stored before the MACs "
            "existed that was never adopted).",
        )
        for team, version in forged
        if (team, version) not in taken
    ]
