"""The whole-store sweep cut into ranges gives the verdict of one sweep.

Here the ranges are swept one after another in this process (the test process runs other
threads, so :func:`~ltflow.audit.scan.forkable` says no), which exercises how a range picks up
each team's chain from the link before it, on both backends. The same cases, and the ones about
the forked processes themselves, run with real forks in a fresh process of their own
(``forked_sweep_cases.py``, by :func:`test_the_forked_sweep_in_a_process_of_its_own`).

The store: teams written interleaved and anchored in several anchors (so every team crosses anchors
and range boundaries), with an unanchored tail. Each kind of tampering is placed on the rows just
before and just after a range boundary.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest

from bench import teams as bulk
from ltflow.aggregates.learning_team import LearningTeam
from ltflow.audit import Audit, ledger
from ltflow.audit import scan as sweep
from ltflow.audit.scan import Range, Scan, cut, forkable, plan
from ltflow.audit.source import canonical
from ltflow.audit.verify import verify_store
from ltflow.eventstore.application import LearningTeams, team_id_for
from tests.audit.tamper import Tamper

#: Set in the fresh process that runs these cases with real forks.
FORKED = os.environ.get("LTFLOW_TEST_FORKED") == "1"
TEAMS = 12
ANCHOR_AFTER_STEPS = (2, 6, 11)  # anchors; the steps after the last one stay unanchored
CUTS = (2, 3, 7)


@pytest.fixture
def store(app: LearningTeams, audit: Audit) -> Audit:
    """``TEAMS`` whole team lives written interleaved, anchored after some of the steps."""
    refs = [f"sweep-{i}" for i in range(TEAMS)]
    plans = [bulk.whole_life(ref) for ref in refs]
    teams = [
        LearningTeam.convene(
            bulk.convene(ref, i), team_id=team_id_for(ref), actor="fac", occurred_at=bulk.BASE
        )
        for i, ref in enumerate(refs)
    ]
    app.save(*teams)
    for step in range(max(len(p) for p in plans)):
        for team, script in zip(teams, plans, strict=True):
            if step < len(script):
                offset, cmd = script[step]
                team.handle(cmd, actor="fac", occurred_at=bulk.BASE + offset)
        app.save(*teams)
        if step in ANCHOR_AFTER_STEPS:
            audit.anchor()
    return audit


@dataclass
class World:
    audit: Audit
    heads: dict[tuple[int, str], tuple[int, bytes]]
    anchored_upto: int
    #: Every stored row's place: position -> (team, version).
    rows: dict[int, tuple[str, int]]

    def scan(self, ranges: list[Range]) -> Scan:
        return sweep.scan(self.audit.source, self.audit.store, self.heads, self.anchored_upto,
                          page=50, ranges=ranges)  # fmt: skip

    @property
    def last(self) -> int:
        return max(self.rows)


def world(audit: Audit) -> World:
    with audit.store.read() as tx:
        latest = ledger.latest_anchor(tx)
        heads = {(s, t): (v, link) for s, t, v, link in ledger.head_rows(tx)}
    assert latest is not None
    rows = {p: (canonical(i), v) for p, i, v, _, _ in audit.source.page(0, 1_000_000)}
    return World(audit, heads, latest.position, rows)


def same_verdict(one: Scan, other: Scan) -> None:
    assert (other.events, other.anchored) == (one.events, one.anchored)
    assert other.teams == one.teams
    assert other.suspicious == one.suspicious
    assert {t: sorted(v) for t, v in other.unanchored.items()} == {
        t: sorted(v) for t, v in one.unanchored.items()
    }


def test_cut_covers_every_position_once() -> None:
    assert cut(10, 1) == [(0, None)]
    assert cut(10, 3) == [(0, 3), (3, 6), (6, None)]
    for last in (1, 7, 100, 99_999):
        for count in (1, 2, 3, 8):
            ranges = cut(last, count)
            assert ranges[0][0] == 0
            assert ranges[-1][1] is None
            assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


def test_an_untouched_store_gets_one_sweeps_verdict_from_every_cut(store: Audit) -> None:
    w = world(store)
    one = w.scan([(0, None)])
    assert one.suspicious == set()
    assert len(one.teams) == TEAMS
    assert one.unanchored, "the store has an unanchored tail"
    assert one.events == len(w.rows) > one.anchored
    if FORKED:
        assert forkable(store.source, store.store), "the cut ranges run in forked processes"
    for count in CUTS:
        same_verdict(one, w.scan(cut(w.last, count)))


Tampering = Callable[[Tamper, UUID, int], None]


def _edit_link(tamper: Tamper, team: UUID, version: int) -> None:
    tamper.drop_triggers()
    tamper.run(
        f"UPDATE {tamper.audit_table('lta_links')} SET link = ? WHERE team_id = ? AND version = ?",
        (bytes(32), str(team), version),
        audit=True,
    )


def _delete_link(tamper: Tamper, team: UUID, version: int) -> None:
    tamper.drop_triggers()
    tamper.run(
        f"DELETE FROM {tamper.audit_table('lta_links')} WHERE team_id = ? AND version = ?",
        (str(team), version),
        audit=True,
    )


TAMPERINGS: dict[str, Tampering] = {
    "changed byte": lambda t, team, v: t.flip(team, v, 7),
    "deleted event": lambda t, team, v: t.delete(team, v),
    "swapped with the one before": lambda t, team, v: t.permute(team, [max(1, v - 1), v]),
    "inserted event": lambda t, team, v: t.insert_at(team, v, b'{"forged": true}'),
    "cut-off tail": lambda t, team, v: t.truncate(team, v),
    "edited link": _edit_link,
    "deleted link": _delete_link,
}


@pytest.mark.parametrize("kind", list(TAMPERINGS))
@pytest.mark.parametrize("side", ["last before", "first after"])
def test_tampering_at_a_range_boundary_is_found_by_every_cut(
    store: Audit, tamper: Tamper, kind: str, side: str
) -> None:
    w = world(store)
    ranges = cut(w.last, 3)
    boundary = ranges[1][0]
    anchored = sorted(p for p in w.rows if p <= w.anchored_upto)
    position = max(p for p in anchored if p <= boundary)
    if side == "first after":
        position = min(p for p in anchored if p > boundary)
    team, version = w.rows[position]
    TAMPERINGS[kind](tamper, UUID(team), version)
    w = world(store)  # the rows as they are now
    one = w.scan([(0, None)])
    assert team in one.suspicious
    for count in CUTS:
        same_verdict(one, w.scan(cut(w.last, count)))
    report = verify_store(store.source, store.store)
    assert not report.ok
    assert {f.team_id for f in report.findings if f.failure} >= {team}


def test_a_chain_rewritten_up_to_the_latest_anchor_is_caught_where_it_left_an_older_one(
    store: Audit, tamper: Tamper
) -> None:
    """The attacker changes an event anchored under the first anchor, rewrites the team's links to
    match, and rewrites every anchor but the first (which was recorded outside, say): only the
    first anchor's head for the team, checked where the chain passes into the next anchor,
    still disagrees."""
    w = world(store)
    first_anchor = min(seq for seq, _ in w.heads)
    team, version = w.rows[min(w.rows)]
    tamper.flip(UUID(team), version, 3)
    tamper.rewrite_chain(UUID(team))
    tamper.rewrite_anchors(UUID(team), from_seq=first_anchor + 1)
    w = world(store)
    one = w.scan([(0, None)])
    assert one.suspicious == {team}
    for count in CUTS:
        same_verdict(one, w.scan(cut(w.last, count)))
    report = verify_store(store.source, store.store)
    assert {f.team_id for f in report.findings if f.failure} == {team}


@pytest.fixture
def another_thread() -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_no_fork_while_another_thread_runs(
    store: Audit, another_thread: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "MIN_RANGE", 50)
    assert not forkable(store.source, store.store)
    assert plan(store.source, store.store, cores=4) == [(0, None)]
    w = world(store)
    monkeypatch.setattr(sweep, "_in_parallel", None)  # would fail if called
    same_verdict(w.scan([(0, None)]), w.scan(cut(w.last, 3)))


def test_the_forked_sweep_in_a_process_of_its_own() -> None:
    """``forked_sweep_cases.py`` (this module's SQLite cases, and the forked processes dying
    or failing) in a fresh Python with no other thread, so the ranges really are forked."""
    cases = Path(__file__).with_name("forked_sweep_cases.py")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(cases)],
        env={**os.environ, "LTFLOW_TEST_FORKED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None, done.stdout[-2000:]
    assert int(passed.group(1)) == 2 * len(TAMPERINGS) + 5  # every case there
    assert "skipped" not in done.stdout
