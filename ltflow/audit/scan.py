"""The whole-store pass: every stored row against its sealed link, in one sequential sweep.

Rows are read in notification order, a page at a time, and merged with the sealed links in the
same order (each link remembers the position of the event it sealed), so both stores are read
front to back and memory holds one page plus each team's last link. For every row the link is
recomputed from the team's previous link and the row's bytes and compared with the sealed one.
Where a team's links pass from one anchor to the next, its last link must be the head that
anchor recorded. A team where anything disagrees (a changed byte, a missing or extra row, a
version out of place, an anchored head) is only *marked* here; the caller re-examines those
teams one by one with :func:`ltflow.audit.findings.check_team`, which names what happened.
Untouched teams cost one SHA-256 per event and a few dictionary lookups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from hashlib import sha256

from ltflow.audit import chain, ledger
from ltflow.audit.ledger import Head
from ltflow.audit.source import EventSource, Positioned
from ltflow.audit.store import AuditStore

#: A sealed link as the sweep reads it: ``(position, team_id, version, link, anchor seq)``.
LinkRow = tuple[int, str, int, bytes, int]
#: A team's place in the sweep: last version, last link, its anchor, the team id as a field.
_Place = tuple[int, bytes, int, bytes]


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
    sweep = _Sweep(heads, sealed_upto)
    after = 0
    while True:
        events = source.after(after, page)
        upto = events[-1][0] if len(events) == page else None
        with store.read() as tx:
            links = ledger.scan_links(tx, after, upto)
        sweep.merge(events, links)
        if upto is None:
            return sweep.finish()
        after = upto


class _Sweep:
    def __init__(self, heads: dict[int, list[Head]], sealed_upto: int) -> None:
        self.heads = {(h.seq, h.team_id): (h.version, h.link) for g in heads.values() for h in g}
        self.matched: set[tuple[int, str]] = set()
        self.sealed_upto = sealed_upto
        self.result = Scan()
        self.places: dict[str, _Place] = {}

    def merge(self, events: Sequence[Positioned], links: Sequence[LinkRow]) -> None:
        """Walk both position-ordered lists together; the hot loop, so everything is local."""
        result, places, suspicious = self.result, self.places, self.result.suspicious
        result.events += len(events)
        result.sealed += len(links)
        head, zero, pack, pack32 = chain.LINK_HEAD, chain.ZERO, chain.pack_i64, chain.pack_u32
        topics, field_ = chain.TOPIC_FIELDS, chain.field
        i = j = 0
        ne, nl = len(events), len(links)
        while i < ne and j < nl:
            position, (team, version, topic, state) = events[i]
            l_position, l_team, l_version, l_link, anchor = links[j]
            if position != l_position:
                if position < l_position:
                    i += 1
                    self._lone_event(position, team, version)
                else:
                    j += 1
                    suspicious.add(l_team)
                continue
            i += 1
            j += 1
            if team != l_team or version != l_version:
                suspicious.update((team, l_team))
                continue
            if team in suspicious:
                continue
            place = places.get(team)
            if place is None:
                place = (0, zero, anchor, field_(team))
            elif place[2] != anchor:
                self._boundary(team, place)
            t = topics.get(topic) or chain.topic_field(topic)
            hashing = sha256(head + place[1] + place[3] + pack(version) + t + pack32(len(state)))
            hashing.update(state)
            new = hashing.digest()
            if version != place[0] + 1 or new != l_link:
                suspicious.add(team)
                continue
            places[team] = (version, new, anchor, place[3])
        for position, (team, version, _, _) in events[i:]:
            self._lone_event(position, team, version)
        suspicious.update(link[1] for link in links[j:])

    def _lone_event(self, position: int, team: str, version: int) -> None:
        if position > self.sealed_upto:
            self.result.unsealed.setdefault(team, []).append(version)
        else:
            self.result.suspicious.add(team)

    def _boundary(self, team: str, place: _Place) -> None:
        """The team's links leave anchor ``place[2]``: its last link must be that anchor's head."""
        key = (place[2], team)
        self.matched.add(key)
        if self.heads.get(key) != (place[0], place[1]):
            self.result.suspicious.add(team)

    def finish(self) -> Scan:
        result = self.result
        for team, place in self.places.items():
            if team not in result.suspicious:
                self._boundary(team, place)
        for _seq, team in self.heads.keys() - self.matched:
            result.suspicious.add(team)
        result.teams = set(self.places) | result.suspicious | set(result.unsealed)
        return result
