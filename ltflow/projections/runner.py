"""The projection runner: the log in, the read models out, exactly once.

One batch is one transaction on the views database: read the tracking positions (under the
views' writer lock), skip what they already cover, fold the rest into the team details, replace
the rows the batch changed in every read model, and move every position to the batch's last
notification id. A crash anywhere before the commit leaves views and positions as they were, so
the batch is simply processed again; a notification at or below a position is never applied
twice.

The team detail fold is the base: every other read model is a pure function of one team's fold.
A read model that is behind the base (new, rebuilt, or its code changed) is re-derived from the
stored folds without reading the event store; when the fold itself changes, everything replays.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import Application

from ltflow.eventstore.decode import TeamEvent
from ltflow.projections import team_detail
from ltflow.projections.base import ProjectionError, Row, TeamProjection
from ltflow.projections.log import EventLog
from ltflow.projections.registry import PROJECTIONS
from ltflow.projections.store import PREFIX, Tx, ViewStore
from ltflow.projections.team_models import TeamDetailView

log = structlog.get_logger("ltflow.projections")
TRACKING = "tracking"


@dataclass(slots=True)
class _Fold:
    """A team's fold in the runner's cache, with the rows last stored for it per read model."""

    view: TeamDetailView
    rows: dict[str, list[Row]]


@dataclass(frozen=True)
class Tracked:
    """A projection's stored position (last notification id applied) and code version."""

    position: int
    version: str


class ProjectionRunner:
    """Keeps the read models of one application up to date; see the module docstring."""

    def __init__(
        self,
        app: Application[Any],
        store: ViewStore,
        *,
        projections: Sequence[TeamProjection] = PROJECTIONS,
        batch_size: int = 20_000,
        cache_size: int = 5000,
    ) -> None:
        if not projections or projections[0].name != team_detail.PROJECTION.name:
            raise ValueError("The team detail projection (the fold) must come first.")
        self.log = EventLog(app)
        self.store = store
        self.projections = tuple(projections)
        self.derived = self.projections[1:]
        self.base = self.projections[0]
        self.batch_size = batch_size
        self._cache: OrderedDict[UUID, _Fold] = OrderedDict()
        self._cache_size = cache_size
        #: The base position the cache (and the read hint) is valid for; None: unknown.
        self._known: int | None = None
        self._prepared = False

    # --- lifecycle --------------------------------------------------------------------------

    def prepare(self) -> list[str]:
        """Create what is missing; reset every projection whose code version changed.

        Returns the names reset. A changed fold resets every projection (they derive from it).
        """
        with self.store.write() as tx:
            tx.execute(
                f"CREATE TABLE IF NOT EXISTS {self.store.table(TRACKING)} (name TEXT PRIMARY KEY,"
                " notification_id BIGINT NOT NULL, version TEXT NOT NULL, updated_at TEXT)"
            )
            for projection in self.projections:
                self._create_table(tx, projection)
            tracked = self._read_tracking(tx)
            stale = [
                p for p in self.projections if tracked.get(p.name, _NONE).version != p.code_version
            ]
            if self.base in stale:
                stale = list(self.projections)
            for projection in stale:
                was = tracked.get(projection.name)
                log.info(
                    "projection built by other code, rebuilding" if was else "projection created",
                    projection=projection.name,
                )
                self._reset(tx, projection)
        self._forget()
        self._prepared = True
        return [p.name for p in stale]

    def catch_up(
        self, *, max_batches: int | None = None, stop: threading.Event | None = None
    ) -> int:
        """Process what is recorded so far; returns how many events were applied.

        ``max_batches`` bounds the work; a set ``stop`` ends it between two batches.
        """
        if not self._prepared:
            self.prepare()
        total, batches = 0, 0
        while max_batches is None or batches < max_batches:
            if stop is not None and stop.is_set():
                break
            done = self._step()
            if done is None:
                break
            total, batches = total + done, batches + 1
        return total

    def rebuild(self, names: Sequence[str] = ()) -> list[str]:
        """Rebuild the named projections (all when empty); returns the names rebuilt.

        A read model is re-derived from the stored folds in one transaction (readers never see
        it empty) without reading the event store; it stays at the fold's position. Rebuilding
        the fold (``team_detail``) rebuilds every read model by replaying the whole log.
        """
        unknown = set(names) - {p.name for p in self.projections}
        if unknown:
            raise KeyError(f"Unknown projection(s): {', '.join(sorted(unknown))}.")
        if not self._prepared:
            self.prepare()
        chosen = [p for p in self.projections if not names or p.name in names]
        replay = self.base in chosen
        with self.store.write() as tx:
            base_position = self._read_tracking(tx)[self.base.name].position
            for projection in self.projections if replay else chosen:
                self._reset(tx, projection)
                if not replay:
                    self._rederive(tx, projection, base_position)
        self._forget()
        if replay:
            self.catch_up()
            return [p.name for p in self.projections]
        return [p.name for p in chosen]

    def positions(self) -> dict[str, Tracked]:
        """Every projection's stored position and version (empty before the first run)."""
        with self.store.read() as tx:
            return self._read_tracking(tx)

    @property
    def position(self) -> int | None:
        """The position this runner last committed or saw (None: not known yet)."""
        return self._known

    # --- one batch --------------------------------------------------------------------------

    def _step(self) -> int | None:
        """Apply one batch; the number applied, or None when there was nothing left."""
        after = (
            self._known if self._known is not None else self.positions()[self.base.name].position
        )
        with _collector_paused():
            return self._step_at(after)

    def _step_at(self, after: int) -> int | None:
        batch = self.log.read(after, self.batch_size)
        with self.store.write() as tx:
            tracked = self._read_tracking(tx)
            self._check_versions(tracked)
            base = tracked[self.base.name].position
            if base != self._known:
                self._cache.clear()  # somebody else wrote the views (or we never read them)
            self._known = None  # until this transaction commits
            for projection in self.derived:
                if tracked[projection.name].position != base:
                    self._rederive(tx, projection, base)
            if base != after:
                done, position = 0, base  # the views moved since we read: read again from there
            elif not batch:
                done, position = None, base
            else:
                position = batch[-1][0]
                done = self._apply(tx, [e for _, e in batch if e is not None])
                self._advance(tx, base, position)
        self._known = position
        return done

    def _check_versions(self, tracked: dict[str, Tracked]) -> None:
        # During a rolling deploy the newer code rebuilds the views; older runners must stop
        # rather than write their rows under the newer version.
        for projection in self.projections:
            stored = tracked.get(projection.name, _NONE).version
            if stored != projection.code_version:
                raise ProjectionError(
                    f"The {projection.name} view was built by other code (version {stored or '-'}, "
                    f"this is {projection.code_version}); is another ltflow version running?"
                )

    def _apply(self, tx: Tx, events: list[TeamEvent]) -> int:
        by_team: dict[UUID, list[TeamEvent]] = {}
        for event in events:
            by_team.setdefault(event.originator_id, []).append(event)
        self._load(tx, [t for t in by_team if t not in self._cache])
        changed: dict[str, list[str]] = {p.name: [] for p in self.projections}
        rows: dict[str, list[Row]] = {p.name: [] for p in self.projections}
        for team_id, team_events in by_team.items():
            fold = self._cache.pop(team_id, None)
            view = None if fold is None else fold.view
            for event in team_events:
                view = team_detail.apply_event(view, event)
            assert view is not None
            fold = self._cache[team_id] = _Fold(view, {} if fold is None else fold.rows)
            changed[self.base.name].append(view.key)
            rows[self.base.name].extend(self.base.rows(view))
            for projection in self.derived:
                after = projection.rows(view)
                if after != fold.rows.get(projection.name, []):
                    fold.rows[projection.name] = after
                    changed[projection.name].append(view.key)
                    rows[projection.name].extend(after)
        for projection in self.projections:
            table = self.store.table(projection.table)
            tx.delete_teams(table, changed[projection.name])
            tx.insert(table, projection.table.column_names, rows[projection.name])
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return len(events)

    def _load(self, tx: Tx, team_ids: list[UUID]) -> None:
        """Fetch the stored folds of these teams, with the rows stored for each of them."""
        if not team_ids:
            return
        sql = f"SELECT doc FROM {self.store.table(self.base.table)} WHERE team_id"
        for (doc,) in tx.fetch_for_teams(sql, [str(t) for t in team_ids]):
            view = team_detail.load(doc)
            self._cache[view.team_id] = _Fold(view, {p.name: p.rows(view) for p in self.derived})

    def _advance(self, tx: Tx, base: int, position: int) -> None:
        names = [p.name for p in self.projections]
        updated = tx.execute(
            f"UPDATE {self.store.table(TRACKING)} SET notification_id = ?, updated_at = ? "
            f"WHERE notification_id = ? AND name IN ({', '.join('?' for _ in names)})",
            (position, _now(), base, *names),
        )
        if updated != len(names):
            raise ProjectionError("Tracking moved under the runner's lock; batch rolled back.")

    # --- tables and tracking ----------------------------------------------------------------

    def _rederive(self, tx: Tx, projection: TeamProjection, base: int) -> None:
        """Rebuild one read model from the stored folds (at ``base``), in this transaction."""
        table = self.store.table(projection.table)
        tx.execute(f"DELETE FROM {table}")
        columns, last = projection.table.column_names, ""
        source = self.store.table(self.base.table)
        while page := tx.fetchall(
            f"SELECT team_id, doc FROM {source} WHERE team_id > ? ORDER BY team_id LIMIT 1000",
            (last,),
        ):
            rows = [r for _, doc in page for r in projection.rows(team_detail.load(doc))]
            tx.insert(table, columns, rows)
            last = page[-1][0]
        self._track(tx, projection, base)
        log.info(
            "projection re-derived from the team folds", projection=projection.name, position=base
        )

    def _reset(self, tx: Tx, projection: TeamProjection) -> None:
        tx.execute(f"DROP TABLE IF EXISTS {self.store.table(projection.table)}")
        self._create_table(tx, projection)
        self._track(tx, projection, 0)

    def _create_table(self, tx: Tx, projection: TeamProjection) -> None:
        for statement in projection.table.ddl(self.store.table(projection.table), PREFIX):
            tx.execute(statement)

    def _track(self, tx: Tx, projection: TeamProjection, position: int) -> None:
        tx.execute(f"DELETE FROM {self.store.table(TRACKING)} WHERE name = ?", (projection.name,))
        tx.execute(
            f"INSERT INTO {self.store.table(TRACKING)} VALUES (?, ?, ?, ?)",
            (projection.name, position, projection.code_version, _now()),
        )

    def _read_tracking(self, tx: Tx) -> dict[str, Tracked]:
        rows = tx.fetchall(
            f"SELECT name, notification_id, version FROM {self.store.table(TRACKING)}"
        )
        return {name: Tracked(int(position), version) for name, position, version in rows}

    def _forget(self) -> None:
        self._cache.clear()
        self._known = None


_NONE = Tracked(-1, "")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector for one batch.

    A batch allocates some hundred thousand small containers (decoded events, rows) that are
    freed by reference counting when it ends; meanwhile the collector would walk them, and the
    whole fold cache with them, again and again: a fifth to a third of a catch-up's time. The
    pause lasts one batch (about a second at most); collection resumes right after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _now() -> str:
    # Operational metadata (when the runner last wrote), never part of a view.
    return datetime.now(UTC).isoformat()
