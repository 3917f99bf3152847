"""The whole-store pass: every stored row against its anchored link, in one front-to-back sweep.

Rows are read in notification order, a page at a time, and merged with the anchored links in the
same order (each link remembers the position of the event it chains), so both stores are read
front to back and memory holds one page plus each team's last link. For every row the link is
recomputed from the team's previous link and the row's bytes and compared with the anchored one
(the link commits to team, version, topic and state, so one comparison covers them all).
Where a team's links pass from one anchor to the next, its last link must be the head that
anchor recorded. A team where anything disagrees (a changed byte, a missing or extra row, a
version out of place, an anchored head) is only *marked* here; the caller re-examines those
teams one by one with :func:`ltflow.audit.findings.check_team`, which names what happened.
Untouched teams cost one SHA-256 per event and a few dictionary lookups.

On a machine with more than one core the sweep runs in parallel (:func:`plan`): the positions
are cut into ranges, one per process (the caller's own process takes the first; the others are
forked). A range that does not start at the beginning picks up each team's chain from the
anchored link of the team's previous version, which the range before it checks against that
event; where a range ends, each team's last place goes back to the caller, who makes the
anchor-boundary check once every range is in. The verdict is the same as one sweep's.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from operator import itemgetter
from typing import Any

from ltflow.audit import chain, ledger
from ltflow.audit.source import Canon, EventSource, SQLiteEventSource
from ltflow.audit.store import AuditStore, SQLiteAuditStore

#: An anchored link as the sweep reads it: ``(position, link, anchor seq)``.
LinkRow = tuple[int, bytes, int]
#: A stored row as the event store gives it (see :meth:`EventSource.page`).
RawEvent = tuple[int, Any, int, str, bytes]
#: A team's place in the sweep: last version, last link, its anchor, the team id as a field,
#: the team id.
_Place = tuple[int, bytes, int, bytes, str]
#: Where a range picks up a team: its last anchored link before the range,
#: ``(version, link, anchor seq)``.
_Prior = tuple[int, bytes, int]
#: Positions ``lo < position <= hi``; ``hi`` None: to the end.
Range = tuple[int, int | None]
#: Every anchored head: ``(anchor seq, team) -> (version, link)``.
Heads = dict[tuple[int, str], tuple[int, bytes]]
#: A range is worth a process of its own from this many events on.
MIN_RANGE = 20_000


@dataclass
class Scan:
    """What the sweep saw: counts, every team, the teams to re-examine, and unanchored versions."""

    events: int = 0
    anchored: int = 0
    teams: set[str] = field(default_factory=set)
    suspicious: set[str] = field(default_factory=set)
    unanchored: dict[str, list[int]] = field(default_factory=dict)


def scan(
    source: EventSource,
    store: AuditStore,
    heads: Heads | Callable[[], Heads],
    anchored_upto: int,
    page: int = 20_000,
    ranges: Sequence[Range] | None = None,
) -> Scan:
    """Sweep the store (see the module docstring); ``anchored_upto`` is the last anchor's position;
    ``heads``: every anchored head, or a function that reads them (and may do other work: in a
    parallel sweep this process calls it while the forked processes, which read the heads for
    themselves, sweep); ``ranges``: how to cut the store (default :func:`plan`; one range is
    one sweep in this process).
    """
    ranges = plan(source, store) if ranges is None else ranges
    job = _Job(source, store, None if callable(heads) else heads, anchored_upto, page)
    if len(ranges) > 1 and forkable(source, store):
        parts, known = _in_parallel(job, ranges, heads)
    else:
        known = heads() if callable(heads) else heads
        job = dataclasses.replace(job, heads=known)
        parts = [job.sweep(where) for where in ranges]
    whole = _Sweep(known, 0, anchored_upto)
    for part in parts:
        whole.take(part)
    with store.read() as tx:
        lone = ledger.teams_at(tx, whole.part.lone_links)
    return whole.finish(lone)


def plan(source: EventSource, store: AuditStore, cores: int | None = None) -> list[Range]:
    """How to cut the sweep: one range per available core, each at least :data:`MIN_RANGE`
    events, where the ranges can be swept in forked processes (:func:`forkable`); otherwise one
    range."""
    if not forkable(source, store) or not isinstance(source, SQLiteEventSource):
        return [(0, None)]
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    last = source.last_position()
    return cut(last, max(1, min(cores, last // MIN_RANGE)))


def forkable(source: EventSource, store: AuditStore) -> bool:
    """Whether a forked process can sweep a range: on Linux, with no other thread in this
    process (a fork copies only the calling thread, and with it any lock another one held),
    and SQLite files on both sides, which the forked process opens afresh."""
    return (
        sys.platform == "linux"
        and threading.active_count() == 1
        and isinstance(source, SQLiteEventSource)
        and source.path is not None
        and isinstance(store, SQLiteAuditStore)
    )


def cut(last: int, count: int) -> list[Range]:
    """``count`` ranges of about equal length over positions 1..``last``, the last one open."""
    bounds = [last * k // count for k in range(count)]
    return [(lo, hi) for lo, hi in zip(bounds, [*bounds[1:], None], strict=True)]


@dataclass
class _Part:
    """What one range's sweep saw; goes back to the caller (pickled, from a forked process)."""

    events: int = 0
    anchored: int = 0
    #: Each team's place at the end of the range, by the store's own id.
    places: dict[Any, _Place] = field(default_factory=dict)
    bad: set[Any] = field(default_factory=set)
    matched: set[tuple[int, str]] = field(default_factory=set)
    lone_links: list[int] = field(default_factory=list)
    unanchored: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class _Job:
    source: EventSource
    store: AuditStore
    #: Every anchored head (None: read them from ``store`` first).
    heads: Heads | None
    anchored_upto: int
    page: int

    def sweep(self, where: Range) -> _Part:
        """Sweep one range in this process, a page at a time."""
        lo, hi = where
        heads = self.heads
        if heads is None:
            with self.store.read() as tx:
                heads = ledger.head_map(tx)
        sweep = _Sweep(heads, lo, self.anchored_upto)
        reader = _Reader(self.source, self.store, lo, hi, self.page)
        more = True
        while more:
            events, links, priors, more = reader.next()
            sweep.priors.update(priors)
            sweep.merge(events, links)
        return sweep.part


class _Reader:
    """Reads one range front to back: a page of events, the links up to its end and, in a range
    that does not start at the beginning, the anchored link before each team it meets first."""

    def __init__(
        self, source: EventSource, store: AuditStore, lo: int, hi: int | None, page: int
    ) -> None:
        self.source, self.store, self.after, self.hi, self.size = source, store, lo, hi, page
        #: Whether each team's link before the range is known (nothing before position 0).
        self.primed = lo == 0

    def next(self) -> tuple[list[RawEvent], list[LinkRow], dict[str, _Prior], bool]:
        after, hi = self.after, self.hi
        events = self.source.sweep_page(after, self.size, hi)
        full = len(events) == self.size
        upto = events[-1][0] if full else hi
        with self.store.read() as tx:
            links = ledger.scan_links(tx, after, upto)
            priors = {} if self.primed else ledger.last_links(tx, after)
        self.primed = True
        if full:
            self.after = events[-1][0]
        return events, links, priors, full


def _in_parallel(
    job: _Job, ranges: Sequence[Range], heads: Heads | Callable[[], Heads]
) -> tuple[list[_Part], Heads]:
    """The first range here (once ``heads`` is called), the others each in a forked process
    (see :func:`plan`); the parts, and the heads."""
    context = multiprocessing.get_context("fork")
    children: list[tuple[Any, Any, Range]] = []
    for where in ranges[1:]:
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(job, where, send), daemon=True)
        child.start()
        send.close()
        children.append((child, receive, where))
    try:
        known = heads() if callable(heads) else heads
        job = dataclasses.replace(job, heads=known)
        parts = [job.sweep(ranges[0])]
        for _, receive, where in children:
            try:
                outcome = receive.recv()
            except EOFError:  # the process died (killed, or its outcome would not pickle)
                outcome = job.sweep(where)  # so its range is swept here
            if isinstance(outcome, BaseException):
                raise outcome
            parts.append(outcome)
        return parts, known
    finally:
        for child, receive, _ in children:
            receive.close()
            if child.is_alive():
                child.terminate()
            child.join()


def _child(job: _Job, where: Range, send: Any) -> None:
    """A forked process: its own connections (never the parent's), one range, the part back
    (or the error, which the parent raises)."""
    source, store = job.source, job.store
    assert isinstance(source, SQLiteEventSource)
    assert isinstance(store, SQLiteAuditStore)
    outcome: _Part | BaseException
    own: _Job | None = None
    try:
        own = _Job(source.reopened(), store.reopened(), job.heads, job.anchored_upto, job.page)
        outcome = own.sweep(where)
    except BaseException as error:
        outcome = error
    finally:
        if own is not None:
            own.store.close()
            own.source.close()
    send.send(outcome)
    send.close()


_position = itemgetter(0)


def _pair(
    events: Sequence[RawEvent], links: Sequence[LinkRow]
) -> tuple[list[tuple[RawEvent, LinkRow]], list[RawEvent], list[int]]:
    """Walk both position-ordered lists together: the pairs with the same position, the rows
    without a link, and the positions of links without a row."""
    pairs: list[tuple[RawEvent, LinkRow]] = []
    lone_events: list[RawEvent] = []
    lone_links: list[int] = []
    i = j = 0
    ne, nl = len(events), len(links)
    while i < ne and j < nl:
        event, link = events[i], links[j]
        if event[0] == link[0]:
            pairs.append((event, link))
            i += 1
            j += 1
        elif event[0] < link[0]:
            lone_events.append(event)
            i += 1
        else:
            lone_links.append(link[0])
            j += 1
    lone_events.extend(events[i:])
    lone_links.extend(link[0] for link in links[j:])
    return pairs, lone_events, lone_links


class _Sweep:
    """One range's sweep (``lo``: where it starts), or, fed the parts, the whole verdict."""

    def __init__(self, heads: Heads, lo: int, anchored_upto: int) -> None:
        self.heads = heads
        self.lo = lo
        self.anchored_upto = anchored_upto
        self.part = _Part()
        self.canon = Canon()
        #: Each team's last anchored link before this range, by canonical id (see :class:`_Reader`).
        self.priors: dict[str, _Prior] = {}

    def merge(self, events: Sequence[RawEvent], links: Sequence[LinkRow]) -> None:
        """Pair the page's rows with their links by position, chain the pairs, and note the
        rows and links left without a partner."""
        part = self.part
        part.events += len(events)
        part.anchored += len(links)
        n = len(links)
        if len(events) >= n and list(map(_position, events[:n])) == list(map(_position, links)):
            self._chain(zip(events, links, strict=False))  # the usual page: every row anchored,
            lone_events: Sequence[RawEvent] = events[n:]  # then perhaps an unanchored tail
        else:
            pairs, lone_events, lone_links = _pair(events, links)
            self._chain(pairs)
            part.lone_links.extend(lone_links)
        for position, raw, version, _, _ in lone_events:
            self._lone_event(position, raw, version)

    def _chain(self, pairs: Iterable[tuple[RawEvent, LinkRow]]) -> None:
        """Each row's link from its team's last one, against the anchored link: the hot loop, so
        everything is local. Places are keyed by the store's own id (no conversion here);
        teams found wanting are moved from ``places`` to ``bad``."""
        places, bad, matched = self.part.places, self.part.bad, self.part.matched
        heads = self.heads
        head, pack, pack32 = chain.LINK_HEAD, chain.pack_i64, chain.pack_u32
        topics = chain.TOPIC_FIELDS
        for (_, raw, version, topic, state), (_, anchored_link, anchor) in pairs:
            place = places.get(raw)
            if place is None:
                if raw in bad:
                    continue
                place = self._start(raw, version, anchor)
                if place is None:
                    continue
            if place[2] != anchor:  # leaving an anchor: the last link must be its head
                key = (place[2], place[4])
                matched.add(key)
                if heads.get(key) != place[:2]:
                    self._mark(raw)
            t = topics.get(topic) or chain.topic_field(topic)
            hashing = sha256(head + place[1] + place[3] + pack(version) + t + pack32(len(state)))
            hashing.update(state)
            new = hashing.digest()
            if version != place[0] + 1 or new != anchored_link:
                self._mark(raw)
                continue
            places[raw] = (version, new, anchor, place[3], place[4])

    def _start(self, raw: Any, version: int, anchor: int) -> _Place | None:
        """A team's first row here: from the start of its chain, or (in a range that does not
        start at the beginning) from the team's last anchored link before the range, which must
        be that of the version before."""
        canonical = self.canon[raw]
        team = chain.field(canonical)
        if self.lo == 0 or version == 1:
            return (0, chain.ZERO, anchor, team, canonical)
        prior = self.priors.get(canonical)
        if prior is None or prior[0] != version - 1:
            self._mark(raw)
            return None
        return (version - 1, prior[1], prior[2], team, canonical)

    def _mark(self, raw: Any) -> None:
        self.part.places.pop(raw, None)
        self.part.bad.add(raw)

    def _lone_event(self, position: int, raw: Any, version: int) -> None:
        if position > self.anchored_upto:
            self.part.unanchored.setdefault(self.canon[raw], []).append(version)
        else:
            self._mark(raw)

    def _boundary(self, raw: Any, place: _Place) -> None:
        """The team's links leave anchor ``place[2]``: its last link must be that anchor's head."""
        key = (place[2], place[4])
        self.part.matched.add(key)
        if self.heads.get(key) != (place[0], place[1]):
            self._mark(raw)

    def take(self, part: _Part) -> None:
        """Fold in the next range's part: a team's place is where its last range left it."""
        mine = self.part
        mine.events += part.events
        mine.anchored += part.anchored
        mine.bad |= part.bad
        mine.places.update(part.places)
        mine.matched |= part.matched
        mine.lone_links.extend(part.lone_links)
        for team, versions in part.unanchored.items():
            mine.unanchored.setdefault(team, []).extend(versions)

    def finish(self, lone_link_teams: set[str]) -> Scan:
        """Every team's last link must be the head of the anchor it ends in."""
        part, canon = self.part, self.canon
        for raw in part.bad:
            part.places.pop(raw, None)
        for raw, place in list(part.places.items()):
            self._boundary(raw, place)
        suspicious = {canon[raw] for raw in part.bad} | lone_link_teams
        suspicious.update(team for _seq, team in self.heads.keys() - part.matched)
        return Scan(
            events=part.events,
            anchored=part.anchored,
            teams={canon[raw] for raw in part.places} | suspicious | set(part.unanchored),
            suspicious=suspicious,
            unanchored=part.unanchored,
        )
