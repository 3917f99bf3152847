"""The whole-store pass: every stored row against its sealed link, in one sequential sweep.

Rows are read in notification order, a page at a time, and merged with the sealed links in the
same order (each link remembers the position of the event it sealed), so both stores are read
front to back and memory holds one page plus each team's last link. For every row the link is
recomputed from the team's previous link and the row's bytes, and compared with the sealed one
and with any anchor that recorded the team's head there. A team where anything disagrees (a
changed byte, a missing or extra row, a version out of place) is only *marked* here; the caller
re-examines those teams one by one with :func:`ltflow.audit.findings.check_team`, which names
what happened. Untouched teams cost one SHA-256 per event and a few dictionary lookups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ltflow.audit import chain, ledger
from ltflow.audit.ledger import Head
from ltflow.audit.source import EventSource, Positioned
from ltflow.audit.store import AuditStore


@dataclass
class Scan:
    """What the sweep saw: counts, every team, the teams to re-examine, and unsealed versions."""

    events: int = 0
    sealed: int = 0
    teams: set[str] = field(default_factory=set)
    suspicious: set[str] = field(default_factory=set)
    unsealed: dict[str, list[int]] = field(default_factory=dict)


def scan(
    source: EventSource,
    store: AuditStore,
    heads: dict[int, list[Head]],
    sealed_upto: int,
    page: int = 20_000,
) -> Scan:
    """Sweep the store (see the module docstring); ``sealed_upto`` is the last anchor's position."""
    anchored: dict[tuple[str, int], list[bytes]] = {}
    recorded: set[tuple[int, str]] = set()
    for seq, group in heads.items():
        for h in group:
            anchored.setdefault((h.team_id, h.version), []).append(h.link)
            recorded.add((seq, h.team_id))
    sweep = _Sweep(anchored, recorded, sealed_upto)
    after = 0
    while True:
        events = source.after(after, page)
        upto = events[-1][0] if len(events) == page else None
        with store.read() as tx:
            links = ledger.scan_links(tx, after, upto)
        sweep.merge(events, links)
        if upto is None:
            return sweep.result
        after = upto


class _Sweep:
    def __init__(
        self,
        anchored: dict[tuple[str, int], list[bytes]],
        recorded: set[tuple[int, str]],
        sealed_upto: int,
    ) -> None:
        self.anchored = anchored
        self.recorded = recorded
        self.sealed_upto = sealed_upto
        self.result = Scan()
        self.prev: dict[str, tuple[int, bytes]] = {}
        self.fields: dict[str, bytes] = {}

    def merge(
        self, events: Sequence[Positioned], links: Sequence[tuple[int, str, int, bytes, int]]
    ) -> None:
        """Walk both position-ordered lists together."""
        i = j = 0
        ne, nl = len(events), len(links)
        result = self.result
        while i < ne and j < nl:
            position, row = events[i]
            link_row = links[j]
            if position == link_row[0]:
                i, j = i + 1, j + 1
                self._pair(row, link_row)
            elif position < link_row[0]:
                i += 1
                self._lone_event(position, row)
            else:
                j += 1
                result.sealed += 1
                result.teams.add(link_row[1])
                result.suspicious.add(link_row[1])
        for position, row in events[i:]:
            self._lone_event(position, row)
        for link_row in links[j:]:
            result.sealed += 1
            result.teams.add(link_row[1])
            result.suspicious.add(link_row[1])

    def _lone_event(self, position: int, row: tuple[str, int, str, bytes]) -> None:
        result = self.result
        result.events += 1
        result.teams.add(row[0])
        if position > self.sealed_upto:
            result.unsealed.setdefault(row[0], []).append(row[1])
        else:
            result.suspicious.add(row[0])

    def _pair(
        self, row: tuple[str, int, str, bytes], sealed: tuple[int, str, int, bytes, int]
    ) -> None:
        team, version, topic, state = row
        result = self.result
        result.events += 1
        result.sealed += 1
        result.teams.add(team)
        if team in result.suspicious:
            return
        if team != sealed[1] or version != sealed[2]:
            result.suspicious.update((team, sealed[1]))
            return
        last_version, last_link = self.prev.get(team, (0, chain.ZERO))
        team_field = self.fields.get(team)
        if team_field is None:
            team_field = self.fields[team] = chain.field(team)
        new = chain.link_with(last_link, team_field, version, topic, state)
        if version != last_version + 1 or new != sealed[3]:
            result.suspicious.add(team)
            return
        self.prev[team] = (version, new)
        if (sealed[4], team) not in self.recorded:
            result.suspicious.add(team)
            return
        heads = self.anchored.get((team, version))
        if heads is not None and any(h != new for h in heads):
            result.suspicious.add(team)
