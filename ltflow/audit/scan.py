"""The whole-store pass: every stored row against its sealed link, in one sequential sweep.

Rows are read in notification order, a page at a time, and merged with the sealed links in the
same order (each link remembers the position of the event it sealed), so both stores are read
front to back and memory holds one page plus each team's last link. For every row the link is
recomputed from the team's previous link and the row's bytes and compared with the sealed one
(the link commits to team, version, topic and state, so one comparison covers them all).
Where a team's links pass from one anchor to the next, its last link must be the head that
anchor recorded. A team where anything disagrees (a changed byte, a missing or extra row, a
version out of place, an anchored head) is only *marked* here; the caller re-examines those
teams one by one with :func:`ltflow.audit.findings.check_team`, which names what happened.
Untouched teams cost one SHA-256 per event and a few dictionary lookups.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from ltflow.audit import chain, ledger
from ltflow.audit.source import Canon, EventSource
from ltflow.audit.store import AuditStore

#: A sealed link as the sweep reads it: ``(position, link, anchor seq)``.
LinkRow = tuple[int, bytes, int]
#: A stored row as the event store gives it (see :meth:`EventSource.page`).
RawEvent = tuple[int, Any, int, str, bytes]
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
    heads: dict[tuple[int, str], tuple[int, bytes]],
    sealed_upto: int,
    page: int = 20_000,
) -> Scan:
    """Sweep the store (see the module docstring); ``sealed_upto`` is the last anchor's position.

    The next page is read in a second thread while this one is hashed: the databases' drivers
    let go of the GIL while they read, so on more than one core the reading is nearly free.
    """
    sweep = _Sweep(heads, sealed_upto)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ltflow-audit-read") as reader:
        pending = reader.submit(_read, source, store, 0, page)
        while True:
            events, links, upto = pending.result()
            if upto is not None:
                pending = reader.submit(_read, source, store, upto, page)
            sweep.merge(events, links)
            if upto is None:
                break
    with store.read() as tx:
        lone = ledger.teams_at(tx, sweep.lone_links)
    return sweep.finish(lone)


def _read(
    source: EventSource, store: AuditStore, after: int, page: int
) -> tuple[list[RawEvent], list[LinkRow], int | None]:
    """One page of events after ``after``, the links up to its end, and where it ends (None:
    the last page, which takes every remaining link)."""
    events = source.sweep_page(after, page)
    upto = events[-1][0] if len(events) == page else None
    with store.read() as tx:
        links = ledger.scan_links(tx, after, upto)
    return events, links, upto


class _Sweep:
    def __init__(self, heads: dict[tuple[int, str], tuple[int, bytes]], sealed_upto: int) -> None:
        #: Every anchored head, ``(seq, team) -> (version, link)``.
        self.heads = heads
        self.matched: set[tuple[int, str]] = set()
        self.sealed_upto = sealed_upto
        self.result = Scan()
        self.canon = Canon()
        #: Keyed by the store's own id (no conversion in the hot loop); teams found wanting are
        #: moved from ``places`` to ``bad``.
        self.places: dict[Any, _Place] = {}
        self.bad: set[Any] = set()
        self.lone_links: list[int] = []

    def merge(self, events: Sequence[RawEvent], links: Sequence[LinkRow]) -> None:
        """Walk both position-ordered lists together; the hot loop, so everything is local."""
        places, bad = self.places, self.bad
        self.result.events += len(events)
        self.result.sealed += len(links)
        head, zero, pack, pack32 = chain.LINK_HEAD, chain.ZERO, chain.pack_i64, chain.pack_u32
        topics = chain.TOPIC_FIELDS
        i = j = 0
        ne, nl = len(events), len(links)
        while i < ne and j < nl:
            position, raw, version, topic, state = events[i]
            l_position, l_link, anchor = links[j]
            if position != l_position:
                if position < l_position:
                    i += 1
                    self._lone_event(position, raw, version)
                else:
                    j += 1
                    self.lone_links.append(l_position)
                continue
            i += 1
            j += 1
            place = places.get(raw)
            if place is None:
                if raw in bad:
                    continue
                place = (0, zero, anchor, chain.field(self.canon[raw]))
            elif place[2] != anchor:
                self._boundary(raw, place)
            t = topics.get(topic) or chain.topic_field(topic)
            hashing = sha256(head + place[1] + place[3] + pack(version) + t + pack32(len(state)))
            hashing.update(state)
            new = hashing.digest()
            if version != place[0] + 1 or new != l_link:
                self._mark(raw)
                continue
            places[raw] = (version, new, anchor, place[3])
        for position, raw, version, _, _ in events[i:]:
            self._lone_event(position, raw, version)
        self.lone_links.extend(link[0] for link in links[j:])

    def _mark(self, raw: Any) -> None:
        self.places.pop(raw, None)
        self.bad.add(raw)

    def _lone_event(self, position: int, raw: Any, version: int) -> None:
        if position > self.sealed_upto:
            self.result.unsealed.setdefault(self.canon[raw], []).append(version)
        else:
            self._mark(raw)

    def _boundary(self, raw: Any, place: _Place) -> None:
        """The team's links leave anchor ``place[2]``: its last link must be that anchor's head."""
        key = (place[2], self.canon[raw])
        self.matched.add(key)
        if self.heads.get(key) != (place[0], place[1]):
            self._mark(raw)

    def finish(self, lone_link_teams: set[str]) -> Scan:
        result = self.result
        for raw, place in list(self.places.items()):
            self._boundary(raw, place)
        suspicious = {self.canon[raw] for raw in self.bad} | lone_link_teams
        suspicious.update(team for _seq, team in self.heads.keys() - self.matched)
        result.suspicious = suspicious
        result.teams = {self.canon[raw] for raw in self.places} | suspicious | set(result.unsealed)
        return result
