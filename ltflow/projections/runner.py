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

A stored event that one team's views cannot fold stops that team only (:mod:`.batch`): the team
is quarantined in the same transaction, its later events are skipped (positions advance as
usual), and it is folded again from its first event when the views' code changes or on
:meth:`ProjectionRunner.retry` (:mod:`.quarantine`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import Application

from ltflow.projections import quarantine, team_detail, tracking
from ltflow.projections.base import ProjectionError, TeamProjection
from ltflow.projections.batch import BatchFolder, collector_paused
from ltflow.projections.log import EventLog
from ltflow.projections.poison import Poison
from ltflow.projections.quarantine import Quarantined
from ltflow.projections.registry import PROJECTIONS
from ltflow.projections.store import PREFIX, Tx, ViewStore
from ltflow.projections.tracking import NONE, TRACKING, Tracked

__all__ = ["TRACKING", "ProjectionRunner", "Tracked"]
log = structlog.get_logger("ltflow.projections")


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
        # The fold keeps personal fields encrypted; a view that needs them in plaintext (the
        # library's consented perspectives) gets them decrypted with the application's keys.
        keys = getattr(app, "keys", None)
        self.projections = tuple(team_detail.opened(p, keys) for p in projections)
        self.derived = self.projections[1:]
        self.base = self.projections[0]
        self.batch_size = batch_size
        self._names = [p.name for p in self.projections]
        versions = "|".join(p.code_version for p in self.projections)
        #: Every view's code together: a quarantined team is folded again when it changes.
        self.code_version = hashlib.sha256(versions.encode()).hexdigest()[:12]
        self.folder = BatchFolder(
            store, self.projections, code_version=self.code_version, cache_size=cache_size
        )
        #: The base position the cache (and the read hint) is valid for; None: unknown.
        self._known: int | None = None
        self._prepared = False

    # --- lifecycle --------------------------------------------------------------------------

    def prepare(self) -> list[str]:
        """Create what is missing; reset every projection whose code version changed.

        Returns the names reset. A changed fold resets every projection (they derive from it).
        """
        with self.store.write() as tx:
            tracking.create(tx, self.store)
            quarantine.create(tx, self.store)
            for projection in self.projections:
                self._create_table(tx, projection)
            tracked = tracking.read(tx, self.store)
            stale = [
                p for p in self.projections if tracked.get(p.name, NONE).version != p.code_version
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
            base_position = tracking.read(tx, self.store)[self.base.name].position
            held = set(quarantine.read(tx, self.store))
            for projection in self.projections if replay else chosen:
                self._reset(tx, projection)
                if not replay:
                    self._rederive(tx, projection, base_position, held)
        self._forget()
        if replay:
            self.catch_up()
            return [p.name for p in self.projections]
        return [p.name for p in chosen]

    def retry(self, team_ids: Sequence[UUID] = ()) -> dict[UUID, Poison | None]:
        """Fold quarantined teams (every one when ``team_ids`` is empty) again from their first
        event, in one transaction. Per team: the poison it met again (still quarantined), or
        None (released: its views are current). Teams not quarantined are left out.
        """
        if not self._prepared:
            self.prepare()
        with self.store.write() as tx:
            tracked = tracking.read(tx, self.store)
            self._check_versions(tracked)
            base = tracked[self.base.name].position
            held = quarantine.read(tx, self.store)
            chosen = [t for t in (team_ids or list(held)) if t in held]
            result = {t: self._refold(tx, t, base) for t in chosen}
        self._forget()
        return result

    def quarantined(self) -> list[Quarantined]:
        """The quarantined teams, longest quarantined first (none before the first run)."""
        return quarantine.listed(self.store)

    @property
    def poisoned(self) -> int:
        """How many poison events this runner met (each quarantined a team); only grows."""
        return self.folder.poisoned

    def positions(self) -> dict[str, Tracked]:
        """Every projection's stored position and version (empty before the first run)."""
        with self.store.read() as tx:
            return tracking.read(tx, self.store)

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
        with collector_paused():
            return self._step_at(after)

    def _step_at(self, after: int) -> int | None:
        batch = self.log.read(after, self.batch_size)
        with self.store.write() as tx:
            base, held = self._begin(tx)
            if base != after:
                done, position = 0, base  # the views moved since we read: read again from there
            elif not batch:
                done, position = None, base
            else:
                position = batch[-1][0]
                done = self.folder.fold(tx, batch, held)
                tracking.advance(tx, self.store, self._names, base, position)
        self._known = position
        return done

    def _begin(self, tx: Tx) -> tuple[int, set[UUID]]:
        """Open a batch: the fold's position and the teams held in quarantine, once every read
        model is at that position and every team quarantined by other code is folded again."""
        tracked = tracking.read(tx, self.store)
        self._check_versions(tracked)
        base = tracked[self.base.name].position
        if base != self._known:
            self.folder.forget()  # somebody else wrote the views (or we never read them)
        self._known = None  # until this transaction commits
        records = quarantine.read(tx, self.store)
        held = set(records)
        for projection in self.derived:
            if tracked[projection.name].position != base:
                self._rederive(tx, projection, base, held)
        for team_id, record in records.items():
            # Fixed code may fold it now; a team that fails again is held under this code.
            if record.code_version != self.code_version and self._refold(tx, team_id, base) is None:
                held.discard(team_id)
        return base, held

    def _check_versions(self, tracked: dict[str, Tracked]) -> None:
        # During a rolling deploy the newer code rebuilds the views; older runners must stop
        # rather than write their rows under the newer version.
        for projection in self.projections:
            stored = tracked.get(projection.name, NONE).version
            if stored != projection.code_version:
                raise ProjectionError(
                    f"The {projection.name} view was built by other code (version {stored or '-'}, "
                    f"this is {projection.code_version}); is another ltflow version running?"
                )

    # --- tables and tracking ----------------------------------------------------------------

    def _rederive(self, tx: Tx, projection: TeamProjection, base: int, held: set[UUID]) -> None:
        """Rebuild one read model from the stored folds (at ``base``), in this transaction."""
        self.folder.rederive(tx, projection, held)
        tracking.track(tx, self.store, projection, base)
        log.info(
            "projection re-derived from the team folds", projection=projection.name, position=base
        )

    def _refold(self, tx: Tx, team_id: UUID, base: int) -> Poison | None:
        """Fold a quarantined team again from its first event up to ``base``, in ``tx``."""
        return self.folder.refold(tx, team_id, self.log.team_events(team_id, base))

    def _reset(self, tx: Tx, projection: TeamProjection) -> None:
        if projection is self.base:  # the log is replayed: every team from its first event
            quarantine.clear(tx, self.store)
        tx.execute(f"DROP TABLE IF EXISTS {self.store.table(projection.table)}")
        self._create_table(tx, projection)
        tracking.track(tx, self.store, projection, 0)

    def _create_table(self, tx: Tx, projection: TeamProjection) -> None:
        for statement in projection.table.ddl(self.store.table(projection.table), PREFIX):
            tx.execute(statement)

    def _forget(self) -> None:
        self.folder.forget()
        self._known = None
